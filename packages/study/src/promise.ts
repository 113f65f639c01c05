/**
 * The study for callers who do not write Effect: each function runs the Effect program of the same
 * name and returns a Promise. A failure rejects with the typed error itself (`RecipeError`,
 * `StageError`, `BackendError`, … with `_tag` and `message`), not with a wrapper.
 */
import { type BackendChoice, Progress, TensorBackend } from "@crosscode/core"
import { Plugins } from "@crosscode/crosscoder"
import { NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, type FileSystem, Layer, type Path } from "effect"
import { terminalProgressLayer } from "./cli/progress.js"
import { loadRecipe, type RecipeOverrides } from "./recipe/load.js"
import {
  formatPlan,
  type PlannedStage,
  planStages,
  type RunOptions,
  runStages,
  type StageOutcome
} from "./recipe/runner.js"
import { collectReportData, type ReportData } from "./report/data.js"
import { headlineLines } from "./report/summary.js"

export interface RunRecipeOptions extends RunOptions, RecipeOverrides {
  /** Tensor backend (default: the recipe's `backend`, else `CROSSCODE_BACKEND`, else `auto`). */
  readonly backend?: BackendChoice
  /** Progress bars and stage lines on stderr (default true). */
  readonly progress?: boolean
}

export interface PlannedRecipe {
  readonly stages: ReadonlyArray<PlannedStage>
  /** The plan as `crosscode run --dry-run` prints it. */
  readonly text: string
}

export interface RecipeRun {
  readonly runDir: string
  /** What each selected stage did (ran, resumed, was skipped as up to date, …) and how long it took. */
  readonly outcomes: ReadonlyArray<StageOutcome>
  /** Everything the report shows, read back from the run directory. */
  readonly data: ReportData
  /** The headline results as text lines (what `crosscode run` prints at the end). */
  readonly headline: ReadonlyArray<string>
}

/**
 * Runs an Effect and settles with its value or its first typed error (a defect: the thrown value).
 * Files are read and written with Node's `FileSystem` and `Path` (`NodeServices.layer`).
 */
export const toPromise = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>): Promise<A> =>
  Effect.runPromiseExit(Effect.provide(effect, NodeServices.layer)).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  })

/**
 * Runs a recipe's stages into its run directory, resuming and skipping what is already complete
 * (`crosscode run recipe.json`). The Effect API beside it: `loadRecipe` + `runStages`.
 */
export const runRecipe = (recipeFile: string, options: RunRecipeOptions = {}): Promise<RecipeRun> =>
  toPromise(
    Effect.gen(function* () {
      const loaded = yield* loadRecipe(recipeFile, options)
      const choice = options.backend ?? loaded.recipe.backend
      const backend = choice !== undefined ? TensorBackend.layerFor(choice) : TensorBackend.layer
      const progress = options.progress === false ? Progress.layerSilent : terminalProgressLayer()
      const outcomes = yield* runStages(loaded, options).pipe(
        Effect.scoped,
        Effect.provide(Layer.mergeAll(backend, Plugins.layer, progress))
      )
      const data = yield* collectReportData(loaded.recipe.runDir, loaded.recipe)
      return { runDir: loaded.recipe.runDir, outcomes, data, headline: headlineLines(data) }
    })
  )

/** Validates a recipe and returns what `runRecipe` would do, as data and as text (`--dry-run`). */
export const planRecipe = (recipeFile: string, options: RunOptions & RecipeOverrides = {}): Promise<PlannedRecipe> =>
  toPromise(
    Effect.map(loadRecipe(recipeFile, options), (loaded) => {
      const stages = planStages(loaded, options)
      return { stages, text: formatPlan(loaded, stages) }
    })
  )
