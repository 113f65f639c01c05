/**
 * Qwen2 as a model family: load a Hugging Face directory (config.json, generation_config.json,
 * model.safetensors or sharded) into a `LanguageModelShape`, or wrap an in-memory weights record.
 */

import * as path from "node:path"
import type * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { TensorBackend } from "../backend/TensorBackend.js"
import { readJsonFile } from "../config/errors.js"
import { readGenerationConfig } from "../config/generationConfig.js"
import { parseQwen2Config, type Qwen2Config } from "../config/qwen2Config.js"
import { makeDecoderLanguageModel } from "../model/decoderModel.js"
import type { DecoderEngine } from "../model/engine.js"
import { type LanguageModelShape, type ModelInfo, ModelLoadError } from "../model/LanguageModel.js"
import type { LoadModelOptions, ModelFamily } from "../model/ModelFamily.js"
import { openCheckpoint } from "../safetensors/checkpoint.js"
import { type Qwen2Params, ropeTableFor, runQwen2 } from "./forward.js"
import { disposeTensors, loadQwen2Params, paramTensors, qwen2ParamsForInference, qwen2TensorsUpTo } from "./load.js"
import { checkQwen2Weights, type Qwen2Weights } from "./weights.js"

/** A `DecoderEngine` over loaded params; `dispose` frees every weight tensor. */
export const makeQwen2Engine = (params: Qwen2Params): DecoderEngine => {
  const rope = ropeTableFor(params.config)
  return {
    numLayers: params.config.num_hidden_layers,
    hiddenSize: params.config.hidden_size,
    vocabSize: params.config.vocab_size,
    hasLogits: params.lmHead !== undefined,
    ...(params.norm === undefined ? { maxLayer: params.layers.length - 1 } : {}),
    run: (pass) => runQwen2(params, rope, pass),
    dispose: () => disposeTensors(paramTensors(params))
  }
}

const eosOf = (config: Qwen2Config, generationEos: ReadonlyArray<number>): ReadonlyArray<number> => {
  if (generationEos.length > 0) return generationEos
  const e = config.eos_token_id
  return e === undefined ? [] : typeof e === "number" ? [e] : e
}

/**
 * Loads a Qwen2 directory. Requires the TensorBackend (initialised first) and a Scope (the
 * weights are freed when it closes).
 */
export const loadQwen2 = (dir: string, options: LoadModelOptions = {}) =>
  Effect.flatMap(
    readJsonFile(path.join(dir, "config.json")).pipe(
      Effect.mapError((e) => new ModelLoadError({ path: e.path, message: e.message }))
    ),
    (json) => loadQwen2WithConfig(dir, json, options)
  )

/**
 * As `loadQwen2`, with the `config.json` object given (e.g. patched by a family that relabels a
 * Qwen2-architecture checkpoint); the weights and generation_config.json still come from `dir`.
 */
export const loadQwen2WithConfig = Effect.fnUntraced(function* (
  dir: string,
  configJson: unknown,
  options: LoadModelOptions = {}
) {
  yield* TensorBackend
  const config = yield* parseQwen2Config(configJson, path.join(dir, "config.json")).pipe(
    Effect.catchTag("ConfigError", (e) => Effect.fail(new ModelLoadError({ path: e.path, message: e.message })))
  )
  const generation = yield* readGenerationConfig(dir).pipe(
    Effect.mapError((e) => new ModelLoadError({ path: e.path, message: e.message }))
  )
  const { params, weightDtype } = yield* Effect.scoped(
    Effect.flatMap(
      openCheckpoint(dir, { select: qwen2TensorsUpTo(options.maxLayer) }).pipe(
        Effect.mapError((e) => new ModelLoadError({ path: e.path, message: e.message }))
      ),
      (checkpoint) =>
        loadQwen2Params(checkpoint, config, {
          ...(options.embeddings !== undefined ? { embeddings: options.embeddings } : {}),
          ...(options.logits !== undefined ? { logits: options.logits } : {}),
          ...(options.linearLayout !== undefined ? { linearLayout: options.linearLayout } : {}),
          ...(options.maxLayer !== undefined ? { maxLayer: options.maxLayer } : {})
        })
    )
  )
  const padTokenId = generation.padTokenId ?? config.pad_token_id
  const info: ModelInfo = {
    family: "qwen2",
    name: options.name ?? path.basename(path.resolve(dir)),
    path: dir,
    numLayers: config.num_hidden_layers,
    hiddenSize: config.hidden_size,
    vocabSize: config.vocab_size,
    weightDtype,
    eosTokenIds: eosOf(config, generation.eosTokenIds),
    ...(padTokenId !== undefined ? { padTokenId } : {}),
    ...(options.maxLayer !== undefined ? { maxLayer: options.maxLayer } : {})
  }
  return yield* Effect.acquireRelease(
    Effect.sync(() => makeDecoderLanguageModel(makeQwen2Engine(params), info)),
    (model) => model.dispose
  )
})

/**
 * A LanguageModel over an in-memory HF weights record (e.g. a model just trained with
 * `qwen2Forward`). The weights are copied into the inference layout; dispose both independently.
 * Throws RangeError if a weight is missing or mis-shaped.
 */
export const makeQwen2LanguageModel = (
  config: Qwen2Config,
  weights: Qwen2Weights,
  options: { readonly name?: string; readonly eosTokenIds?: ReadonlyArray<number>; readonly padTokenId?: number } = {}
): LanguageModelShape => {
  const problem = checkQwen2Weights(config, weights)
  if (problem !== undefined) throw new RangeError(problem)
  const params = qwen2ParamsForInference(config, weights as Readonly<Record<string, tf.Tensor>>)
  const padTokenId = options.padTokenId ?? config.pad_token_id
  return makeDecoderLanguageModel(makeQwen2Engine(params), {
    family: "qwen2",
    name: options.name ?? "qwen2",
    numLayers: config.num_hidden_layers,
    hiddenSize: config.hidden_size,
    vocabSize: config.vocab_size,
    weightDtype: "float32",
    eosTokenIds: options.eosTokenIds ?? eosOf(config, []),
    ...(padTokenId !== undefined ? { padTokenId } : {})
  })
}

export const qwen2Family: ModelFamily = {
  name: "qwen2",
  modelTypes: ["qwen2"],
  load: loadQwen2
}
