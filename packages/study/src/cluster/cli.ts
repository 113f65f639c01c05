/**
 * The cluster's command-line side:
 *
 *   crosscode run <recipe> --cluster postgres://…   the coordinator: runs the recipe's workflow
 *   crosscode runner --cluster postgres://… [--backend …] [--host H] [--port P]   joins as a runner
 *
 * The implementations (coordinator.ts, runner.ts) are imported when used, so the single-process
 * commands never load the cluster, PostgreSQL or socket code.
 */
import * as path from "node:path"
import { Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { BACKENDS } from "../cli/backends.js"
import type { LoadedRecipe } from "../recipe/load.js"
import type { DistributedRunOptions, RecipeRef } from "./protocol.js"

export const clusterFlags = {
  cluster: Flag.String("cluster").pipe(
    Flag.withDescription(
      "PostgreSQL URL (postgres://user@host:port/db): coordinate the run on the cluster's runners instead of running it in this process (docs/scale-out.md)"
    ),
    Flag.optional
  ),
  host: Flag.String("host").pipe(
    Flag.withDescription("With --cluster: the address other cluster processes reach this one at"),
    Flag.withDefault("127.0.0.1")
  ),
  port: Flag.Int("port").pipe(
    Flag.withDescription("With --cluster: the port this process listens on for the cluster (default: a free one)"),
    Flag.optional
  )
}

export const batchPromptsFlag = Flag.Int("batch-prompts").pipe(
  Flag.withDescription("With --cluster: prompts per evaluation message (evaluate and steer are split into these)"),
  Flag.withDefault(8)
)

export const harvestRangeTextsFlag = Flag.Int("harvest-range-texts").pipe(
  Flag.withDescription(
    "With --cluster: texts per harvest message (the harvest is split into these ranges; rounded up to a multiple of 8, or of the recipe's batch size)"
  ),
  Flag.withDefault(1024)
)

/** The recipe reference runners load: the same file and overrides, every path absolute. */
export const recipeRef = (
  loaded: LoadedRecipe,
  o: {
    readonly set: ReadonlyArray<string>
    readonly modelA?: string | undefined
    readonly modelB?: string | undefined
    readonly tokenizer?: string | undefined
  }
): RecipeRef => ({
  file: loaded.file,
  runDir: loaded.recipe.runDir,
  set: [...o.set],
  ...(o.modelA !== undefined ? { modelA: path.resolve(o.modelA) } : {}),
  ...(o.modelB !== undefined ? { modelB: path.resolve(o.modelB) } : {}),
  ...(o.tokenizer !== undefined ? { tokenizer: path.resolve(o.tokenizer) } : {})
})

/** The coordinator (coordinator.ts, imported on use). */
export const runDistributed = (loaded: LoadedRecipe, ref: RecipeRef, o: DistributedRunOptions) =>
  Effect.flatMap(
    Effect.promise(() => import("./coordinator.js")),
    (m) => m.runDistributed(loaded, ref, o)
  )

export const runnerCommand = Command.make(
  "runner",
  {
    cluster: Flag.String("cluster").pipe(Flag.withDescription("PostgreSQL URL of the cluster to join")),
    host: clusterFlags.host,
    port: clusterFlags.port,
    backend: Flag.Literals("backend", BACKENDS).pipe(
      Flag.withDescription(
        "TensorFlow.js backend of this runner (default: CROSSCODE_BACKEND, else the best available)"
      ),
      Flag.optional
    )
  },
  (i) =>
    // loaded on use: the single-process commands never load the cluster, PostgreSQL or socket code
    Effect.flatMap(
      Effect.promise(() => import("./runner.js")),
      (m) => m.runRunner({ cluster: i.cluster, host: i.host, port: i.port, backend: i.backend })
    )
).pipe(
  Command.withDescription(
    "Join a cluster as a runner: load the models once, then evaluate the batches and run the stages the coordinator sends (docs/scale-out.md)"
  ),
  Command.withExamples([
    {
      command: "crosscode runner --cluster postgres://crosscode@db-host:5432/crosscode --host 10.0.0.7",
      description: "A runner on a GPU machine"
    }
  ])
)
