/**
 * Run a recipe through @crosscode/study's library API, exactly as a user's script would:
 *
 *   pnpm tsx examples/scripts/run-study.ts examples/recipes/embedded.json
 *
 * (`npx crosscode run <recipe>` does the same from the command line.)
 */

import { TensorBackend } from "@crosscode/core"
import { Plugins } from "@crosscode/crosscoder"
import { loadRecipe, runStages, terminalProgressLayer } from "@crosscode/study"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer } from "effect"

const file = process.argv[2] ?? "examples/recipes/embedded.json"

const program = Effect.gen(function* () {
  const loaded = yield* loadRecipe(file)
  const outcomes = yield* runStages(loaded)
  for (const o of outcomes) console.log(`${o.stage}: ${o.action} (${o.seconds.toFixed(1)} s)`)
}).pipe(
  Effect.scoped,
  // NodeServices.layer: the platform FileSystem and Path the recipe, stage and report files go through
  Effect.provide(Layer.mergeAll(TensorBackend.layer, Plugins.layer, terminalProgressLayer(), NodeServices.layer))
)

Effect.runPromise(program).catch((e) => {
  console.error(String(e))
  process.exitCode = 1
})
