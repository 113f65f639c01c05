/**
 * The study's models, keyed by label ("A", "B", …), as an Effect service: one cache per run, so
 * each model and the tokenizer load once however many stages use them. A stage that only harvests
 * asks for `model(label, { upToLayer })` and gets the blocks up to the deepest site it reads
 * (`loadModel(dir, { maxLayer, embeddings: "compact" })`: no later blocks, no LM head, the
 * embedding matrix in its storage dtype); a full load already cached serves it too, and when a later stage
 * of the same run will generate with the model, the cache loads it in full at once instead of twice.
 *
 * `StudyModels.fromRecipe` loads from the recipe's directories; `StudyModels.layerInMemory` serves
 * models already in memory (tests, or a program that built its models itself).
 */
import {
  type LanguageModelShape,
  loadModel,
  loadTokenizer,
  type TensorBackend,
  type TokenizerShape
} from "@crosscode/core"
import { Context, Effect, FileSystem, Layer, Path, type Scope } from "effect"
import { StageError, stageFailure } from "./errors.js"

export interface ModelRequest {
  /** Only blocks `0..upToLayer` are needed (harvest); default: the whole model. */
  readonly upToLayer?: number
}

export interface StudyModelsShape {
  /** The labels this service holds (the recipe's `models` keys). */
  readonly labels: ReadonlyArray<string>
  /** The model `label`, loaded on first use and cached for the run. */
  model(label: string, request?: ModelRequest): Effect.Effect<LanguageModelShape, StageError>
  /** The tokenizer shared by the models. */
  readonly tokenizer: Effect.Effect<TokenizerShape, StageError>
}

const unknownLabel = (label: string, labels: ReadonlyArray<string>) =>
  new StageError({
    stage: "models",
    kind: "models",
    message: `no model labelled "${label}" (have ${labels.join(", ")})`
  })

export const checkModelDir = (dir: string, what: string, stage: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const has = yield* fs.exists(path.join(dir, "config.json")).pipe(Effect.catch(() => Effect.succeed(false)))
    if (has) return
    return yield* new StageError({
      stage,
      kind: "models",
      path: dir,
      message: `${what} directory ${dir} has no config.json (download the model there, or pass --model-a / --model-b / --tokenizer; see docs/recipes.md)`
    })
  })

export interface FromDirsOptions {
  /** Model directory per label. */
  readonly models: Readonly<Record<string, string>>
  readonly tokenizer: string
  /**
   * Whether a later stage of this run will need the whole model; when true a partial request
   * loads the whole model (once) instead. Asked at the time of the request (default: false).
   */
  readonly fullModelLater?: () => boolean
}

/** Models loaded from directories on first use (needs the tensor backend and a scope for the loads). */
export const makeStudyModels = Effect.fn("makeStudyModels")(function* (
  options: FromDirsOptions
): Effect.fn.Return<StudyModelsShape, never, TensorBackend | Scope.Scope | FileSystem.FileSystem | Path.Path> {
  const context = yield* Effect.context<TensorBackend | Scope.Scope | FileSystem.FileSystem | Path.Path>()
  const labels = Object.keys(options.models)
  const full = new Map<string, LanguageModelShape>()
  const partial = new Map<string, LanguageModelShape>()
  let tokenizer: TokenizerShape | undefined
  const load = (label: string, dir: string, maxLayer: number | undefined) =>
    Effect.gen(function* () {
      yield* checkModelDir(dir, `model ${label}`, "models")
      // a partial load (harvest) has no LM head, so the embedding matrix can stay compact (BF16
      // rows decoded on lookup, exact): half of a 3B model's 1.2 GB float32 copy
      const partialLoad = maxLayer !== undefined ? ({ maxLayer, embeddings: "compact" } as const) : {}
      const m = yield* loadModel(dir, { name: label, ...partialLoad }).pipe(
        Effect.mapError(stageFailure("models", { kind: "models", context: `cannot load ${dir}` }))
      )
      yield* Effect.logInfo(`loaded model ${label} = ${dir}${maxLayer !== undefined ? ` (blocks 0..${maxLayer})` : ""}`)
      return m
    }).pipe(Effect.provideContext(context))
  return {
    labels,
    model: (label, request = {}) =>
      Effect.gen(function* () {
        const dir = options.models[label]
        if (dir === undefined) return yield* unknownLabel(label, labels)
        const have = full.get(label)
        if (have !== undefined) return have
        const upTo = request.upToLayer
        if (upTo !== undefined && !(options.fullModelLater?.() ?? false)) {
          const p = partial.get(label)
          if (p !== undefined && (p.info.maxLayer === undefined || p.info.maxLayer >= upTo)) return p
          const m = yield* load(label, dir, upTo)
          partial.set(label, m)
          return m
        }
        const m = yield* load(label, dir, undefined)
        full.set(label, m)
        return m
      }),
    tokenizer: Effect.suspend(() => {
      if (tokenizer !== undefined) return Effect.succeed(tokenizer)
      return Effect.gen(function* () {
        yield* checkModelDir(options.tokenizer, "tokenizer", "models")
        const t = yield* loadTokenizer(options.tokenizer).pipe(
          Effect.mapError(stageFailure("models", { kind: "models", context: "cannot load the tokenizer" }))
        )
        tokenizer = t
        return t
      }).pipe(Effect.provideContext(context))
    })
  } satisfies StudyModelsShape
})

/** The study's models in context (see the module comment). */
export class StudyModels extends Context.Service<StudyModels, StudyModelsShape>()("@crosscode/study/StudyModels") {
  /** Models loaded from directories on first use. */
  static readonly layerFromDirs = (
    options: FromDirsOptions
  ): Layer.Layer<StudyModels, never, TensorBackend | FileSystem.FileSystem | Path.Path> =>
    Layer.effect(StudyModels, makeStudyModels(options))
  /** Models already in memory, e.g. tiny test models (partial requests get the whole model). */
  static readonly layerInMemory = (o: {
    readonly models: Readonly<Record<string, LanguageModelShape>>
    readonly tokenizer: TokenizerShape
  }): Layer.Layer<StudyModels> => Layer.succeed(StudyModels, inMemoryModels(o))
}

/** A `StudyModelsShape` over models already in memory. */
export const inMemoryModels = (o: {
  readonly models: Readonly<Record<string, LanguageModelShape>>
  readonly tokenizer: TokenizerShape
}): StudyModelsShape => {
  const labels = Object.keys(o.models)
  return {
    labels,
    model: (label) => {
      const m = o.models[label]
      return m !== undefined ? Effect.succeed(m) : Effect.fail(unknownLabel(label, labels))
    },
    tokenizer: Effect.succeed(o.tokenizer)
  }
}

/**
 * A `StudyModelsShape` for a process that must not load models (the cluster coordinator, which only
 * plans cells and reads prompt sets): every request fails with a `StageError` saying why.
 */
export const noModels = (labels: ReadonlyArray<string>, why: string): StudyModelsShape => {
  const refuse = new StageError({ stage: "models", kind: "models", message: why })
  return { labels, model: () => Effect.fail(refuse), tokenizer: Effect.fail(refuse) }
}
