/**
 * What every stage gets: the resolved recipe, its run directory, and the models and tokenizer,
 * loaded once per process on first use (a stage that needs no model, like `report`, loads none).
 */
import * as path from "node:path"
import {
  blockOutput,
  type HookSite,
  type LanguageModelShape,
  TensorBackend,
  type TokenizerShape
} from "@crosscode/core"
import { type Crosscoder, loadCrosscoder, type PartitionRegistry, type SparsityRegistry } from "@crosscode/crosscoder"
import { makePairEncoder, type PairEncoderShape } from "@crosscode/steering"
import { Effect, type Scope } from "effect"
import type { StageError } from "./errors.js"
import { stageFailure } from "./errors.js"
import type { LoadedRecipe } from "./load.js"
import { makeStudyModels, type StudyModelsShape } from "./models.js"
import { stageDir } from "./runDir.js"
import type { Recipe, Stage } from "./schema.js"

export interface Models {
  readonly A: LanguageModelShape
  readonly B: LanguageModelShape
}

export type StageEnv = TensorBackend | Scope.Scope | SparsityRegistry | PartitionRegistry

export interface RunContext {
  readonly loaded: LoadedRecipe
  readonly recipe: Recipe
  readonly runDir: string
  readonly site: HookSite
  dir(stage: Stage, ...parts: ReadonlyArray<string>): string
  /** The run's model cache (one load per model per run). */
  readonly studyModels: StudyModelsShape
  /** Both models, whole. */
  readonly models: Effect.Effect<Models, StageError>
  /** Both models up to the recipe's site (whole if a later stage of the run needs them whole). */
  readonly harvestModels: Effect.Effect<Models, StageError>
  readonly tokenizer: Effect.Effect<TokenizerShape, StageError>
  /** The trained crosscoder `name` (loaded once). */
  crosscoder(name: string): Effect.Effect<Crosscoder, StageError, StageEnv>
  /** A pair encoder over both models for crosscoder `name`. */
  pairEncoder(name: string): Effect.Effect<PairEncoderShape, StageError, StageEnv>
}

const memo = <A, E, R>(make: () => Effect.Effect<A, E, R>): (() => Effect.Effect<A, E, R>) => {
  let value: { a: A } | undefined
  return () =>
    value !== undefined
      ? Effect.succeed(value.a)
      : Effect.tap(make(), (a) =>
          Effect.sync(() => {
            value = { a }
          })
        )
}

/**
 * Default texts per forward pass: on the WebAssembly and CPU backends a padded batch of long
 * prompts is several times slower than the prompts one by one, so 1; elsewhere 8.
 */
export const defaultBatchSize = (backend: string): number => (backend === "wasm" || backend === "cpu" ? 1 : 8)

/** Directory of a trained crosscoder's final weights. */
export const crosscoderDir = (runDir: string, name: string) => path.join(stageDir(runDir, "train"), name, "final")

/** The models the recipe names, loaded from its directories on first use (see models.ts). */
export const recipeModels = (recipe: Recipe, fullModelLater?: () => boolean) =>
  makeStudyModels({
    models: recipe.models,
    tokenizer: recipe.tokenizer ?? recipe.models.B,
    ...(fullModelLater !== undefined ? { fullModelLater } : {})
  })

export const makeRunContext = (loaded: LoadedRecipe, models: StudyModelsShape): RunContext => {
  const recipe = loaded.recipe
  const runDir = recipe.runDir
  const loadModels = () =>
    Effect.gen(function* () {
      const A = yield* models.model("A")
      const B = yield* models.model("B")
      return { A, B }
    })
  const crosscoders = new Map<string, () => Effect.Effect<Crosscoder, StageError, StageEnv>>()
  const crosscoder = (name: string) => {
    let m = crosscoders.get(name)
    if (m === undefined) {
      m = memo(() =>
        loadCrosscoder(crosscoderDir(runDir, name)).pipe(
          Effect.mapError(
            stageFailure("train", { kind: "input", context: `cannot load crosscoder "${name}" (has train run?)` })
          )
        )
      )
      crosscoders.set(name, m)
    }
    return m()
  }
  const site = blockOutput(recipe.site.layer)
  const encoders = new Map<string, PairEncoderShape>()
  return {
    loaded,
    recipe,
    runDir,
    site,
    dir: (stage, ...parts) => path.join(stageDir(runDir, stage), ...parts),
    studyModels: models,
    models: Effect.suspend(loadModels),
    harvestModels: Effect.gen(function* () {
      const A = yield* models.model("A", { upToLayer: recipe.site.layer })
      const B = yield* models.model("B", { upToLayer: recipe.site.layer })
      return { A, B }
    }),
    tokenizer: models.tokenizer,
    crosscoder,
    pairEncoder: (name) =>
      Effect.gen(function* () {
        const have = encoders.get(name)
        if (have !== undefined) return have
        const cc = yield* crosscoder(name)
        const models = yield* Effect.suspend(loadModels)
        const backend = yield* TensorBackend
        const batchSize = recipe.rank.batchSize ?? defaultBatchSize(backend.name)
        const pe = yield* makePairEncoder({
          crosscoder: cc,
          models: { A: models.A, B: models.B },
          sites: site,
          batchSize
        }).pipe(Effect.mapError(stageFailure("steer")))
        encoders.set(name, pe)
        return pe
      })
  }
}
