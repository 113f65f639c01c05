/**
 * Qwen2 as a model family: load a Hugging Face directory (config.json, generation_config.json,
 * model.safetensors or sharded) into a `LanguageModelShape`, or wrap an in-memory weights record.
 * The forward pass and loader are the shared decoder's (`src/decoder/`).
 */

import type * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { eosTokenIdsOf } from "../config/decoderConfig.js"
import { parseQwen2Config, type Qwen2Config, qwen2Arch } from "../config/qwen2Config.js"
import {
  type DecoderConfigParser,
  decoderFamily,
  decoderSpec,
  loadDecoderWith,
  loadDecoderWithConfig,
  makeDecoderEngine
} from "../decoder/family.js"
import { decoderParamsForInference } from "../decoder/load.js"
import { makeDecoderLanguageModel } from "../model/decoderModel.js"
import type { LanguageModelShape } from "../model/LanguageModel.js"
import type { LoadModelOptions } from "../model/ModelFamily.js"
import { checkQwen2Weights, type Qwen2Weights } from "./weights.js"

const parseQwen2Spec: DecoderConfigParser = (json, where) =>
  Effect.map(parseQwen2Config(json, where), (c) => decoderSpec(qwen2Arch(c), c))

/**
 * Loads a Qwen2 directory. Requires the TensorBackend (initialised first) and a Scope (the
 * weights are freed when it closes).
 */
export const loadQwen2 = (dir: string, options: LoadModelOptions = {}) => loadDecoderWith(parseQwen2Spec, dir, options)

/**
 * As `loadQwen2`, with the `config.json` object given (e.g. patched by a family that relabels a
 * Qwen2-architecture checkpoint); the weights and generation_config.json still come from `dir`.
 */
export const loadQwen2WithConfig = (dir: string, configJson: unknown, options: LoadModelOptions = {}) =>
  loadDecoderWithConfig(parseQwen2Spec, dir, configJson, options)

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
  const params = decoderParamsForInference(qwen2Arch(config), weights as Readonly<Record<string, tf.Tensor>>)
  const padTokenId = options.padTokenId ?? config.pad_token_id
  return makeDecoderLanguageModel(makeDecoderEngine(params), {
    family: "qwen2",
    name: options.name ?? "qwen2",
    numLayers: config.num_hidden_layers,
    hiddenSize: config.hidden_size,
    vocabSize: config.vocab_size,
    weightDtype: "float32",
    eosTokenIds: options.eosTokenIds ?? eosTokenIdsOf(config.eos_token_id, []),
    ...(padTokenId !== undefined ? { padTokenId } : {})
  })
}

export const qwen2Family = decoderFamily("qwen2", ["qwen2"], parseQwen2Spec)
