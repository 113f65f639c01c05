/**
 * A model family built on the shared decoder: parse `config.json` into a `DecoderArch`, read the
 * checkpoint (single file or sharded, F32/BF16/F16, optionally only blocks `0..maxLayer`) and wrap
 * the engine with `makeDecoderLanguageModel`. Qwen2, Llama and Gemma 2 are each one call of
 * `decoderFamily` with their own config parser.
 */
import { Effect, Path } from "effect"
import { TensorBackend } from "../backend/TensorBackend.js"
import { eosTokenIdsOf } from "../config/decoderConfig.js"
import type { ConfigError } from "../config/errors.js"
import { readJsonFile } from "../config/errors.js"
import { readGenerationConfig } from "../config/generationConfig.js"
import { makeDecoderLanguageModel } from "../model/decoderModel.js"
import type { DecoderEngine } from "../model/engine.js"
import { type ModelInfo, ModelLoadError, type UnsupportedConfigError } from "../model/LanguageModel.js"
import type { LoadModelOptions, ModelFamily } from "../model/ModelFamily.js"
import { openCheckpoint } from "../safetensors/checkpoint.js"
import { type DecoderArch, decoderTensorsUpTo } from "./arch.js"
import { type DecoderParams, ropeTableFor, runDecoder } from "./forward.js"
import { disposeTensors, loadDecoderParams, paramTensors } from "./load.js"

/** A `DecoderEngine` over loaded params; `dispose` frees every weight tensor. */
export const makeDecoderEngine = (params: DecoderParams): DecoderEngine => {
  const rope = ropeTableFor(params.arch)
  return {
    numLayers: params.arch.numLayers,
    hiddenSize: params.arch.hiddenSize,
    vocabSize: params.arch.vocabSize,
    hasLogits: params.lmHead !== undefined,
    ...(params.norm === undefined ? { maxLayer: params.layers.length - 1 } : {}),
    run: (pass) => runDecoder(params, rope, pass),
    dispose: () => disposeTensors(paramTensors(params))
  }
}

/** What a family's config parser yields: the architecture plus config.json's token ids. */
export interface DecoderSpec {
  readonly arch: DecoderArch
  readonly eos_token_id?: number | ReadonlyArray<number>
  readonly pad_token_id?: number
}

/** A spec from an architecture and a parsed config's token ids. */
export const decoderSpec = (
  arch: DecoderArch,
  config: { readonly eos_token_id?: number | ReadonlyArray<number>; readonly pad_token_id?: number }
): DecoderSpec => ({
  arch,
  ...(config.eos_token_id !== undefined ? { eos_token_id: config.eos_token_id } : {}),
  ...(config.pad_token_id !== undefined ? { pad_token_id: config.pad_token_id } : {})
})

const toLoadError = (e: { readonly path: string; readonly message: string }) =>
  new ModelLoadError({ path: e.path, message: e.message })

/**
 * Loads a decoder checkpoint in `dir` whose `config.json` (already parsed into `spec`) describes
 * it. Requires the TensorBackend (initialised first) and a Scope (the weights are freed when it
 * closes).
 */
export const loadDecoderDir = Effect.fnUntraced(function* (
  dir: string,
  spec: DecoderSpec,
  options: LoadModelOptions = {}
) {
  yield* TensorBackend
  const path = yield* Path.Path
  const generation = yield* readGenerationConfig(dir).pipe(Effect.mapError(toLoadError))
  const { params, weightDtype } = yield* Effect.scoped(
    Effect.flatMap(
      openCheckpoint(dir, { select: decoderTensorsUpTo(options.maxLayer) }).pipe(Effect.mapError(toLoadError)),
      (checkpoint) =>
        loadDecoderParams(checkpoint, spec.arch, {
          ...(options.embeddings !== undefined ? { embeddings: options.embeddings } : {}),
          ...(options.logits !== undefined ? { logits: options.logits } : {}),
          ...(options.linearLayout !== undefined ? { linearLayout: options.linearLayout } : {}),
          ...(options.maxLayer !== undefined ? { maxLayer: options.maxLayer } : {})
        })
    )
  )
  const padTokenId = generation.padTokenId ?? spec.pad_token_id
  const info: ModelInfo = {
    family: spec.arch.family,
    name: options.name ?? path.basename(path.resolve(dir)),
    path: dir,
    numLayers: spec.arch.numLayers,
    hiddenSize: spec.arch.hiddenSize,
    vocabSize: spec.arch.vocabSize,
    weightDtype,
    eosTokenIds: eosTokenIdsOf(spec.eos_token_id, generation.eosTokenIds),
    ...(padTokenId !== undefined ? { padTokenId } : {}),
    ...(options.maxLayer !== undefined ? { maxLayer: options.maxLayer } : {})
  }
  return yield* Effect.acquireRelease(
    Effect.sync(() => makeDecoderLanguageModel(makeDecoderEngine(params), info)),
    (model) => model.dispose
  )
})

/** Parses a `config.json` object (`where` names the file in messages). */
export type DecoderConfigParser = (
  json: unknown,
  where: string
) => Effect.Effect<DecoderSpec, ConfigError | UnsupportedConfigError>

/**
 * Loads `dir` with the config given as an object (e.g. patched by a family that relabels a
 * checkpoint); the weights and generation_config.json still come from `dir`. A `ConfigError` in
 * the config becomes a `ModelLoadError`; an unimplemented feature stays `UnsupportedConfigError`.
 */
export const loadDecoderWithConfig = (
  parse: DecoderConfigParser,
  dir: string,
  configJson: unknown,
  options: LoadModelOptions = {}
) =>
  Path.Path.use((path) => parse(configJson, path.join(dir, "config.json"))).pipe(
    Effect.catchTag("ConfigError", (e) => Effect.fail(toLoadError(e))),
    Effect.flatMap((spec) => loadDecoderDir(dir, spec, options))
  )

/** Reads `<dir>/config.json` and loads the model with `parse`'s architecture. */
export const loadDecoderWith = (parse: DecoderConfigParser, dir: string, options: LoadModelOptions = {}) =>
  Path.Path.use((path) => readJsonFile(path.join(dir, "config.json"))).pipe(
    Effect.mapError(toLoadError),
    Effect.flatMap((json) => loadDecoderWithConfig(parse, dir, json, options))
  )

/** A `ModelFamily` for the shared decoder with the given config parser. */
export const decoderFamily = (
  name: string,
  modelTypes: ReadonlyArray<string>,
  parse: DecoderConfigParser
): ModelFamily => ({
  name,
  modelTypes,
  load: (dir, options) => loadDecoderWith(parse, dir, options)
})
