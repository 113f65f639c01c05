#!/usr/bin/env node
import { Progress } from "@crosscode/core"
/**
 * `crosscode` — the command-line entry point (the `crosscode` bin of @crosscode/study; `pnpm crosscode …`
 * in the workspace). See docs/cli.md.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, Layer, Logger } from "effect"
import { runCli } from "./cli/commands.js"
import { cliLogger, makeTerminalProgress } from "./cli/progress.js"

const progress = makeTerminalProgress()

runCli(process.argv.slice(2)).pipe(
  Effect.provide(Layer.mergeAll(NodeServices.layer, Progress.layer(progress), Logger.layer([cliLogger(progress)]))),
  NodeRuntime.runMain
)
