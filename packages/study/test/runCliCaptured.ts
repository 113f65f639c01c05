/** Runs the `crosscode` CLI in-process with silent progress, returning its exit and everything printed. */

import { Progress } from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { vi } from "vitest"
import { runCli } from "../src/cli/commands.js"

export const runCliCaptured = async (args: ReadonlyArray<string>) => {
  const out: Array<string> = []
  const log = vi.spyOn(console, "log").mockImplementation((...a: Array<unknown>) => {
    out.push(a.join(" "))
  })
  const err = vi.spyOn(console, "error").mockImplementation((...a: Array<unknown>) => {
    out.push(a.join(" "))
  })
  try {
    const exit = await Effect.runPromiseExit(
      runCli(args).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, Progress.layerSilent)))
    )
    return { exit, output: out.join("\n") }
  } finally {
    log.mockRestore()
    err.mockRestore()
  }
}
