/**
 * Qwen2 weights in Hugging Face naming and layout: a record from tensor name to `tf.Tensor`,
 * linear weights `[out_features, in_features]` (y = x·Wᵀ + b). This is the form `qwen2Forward`,
 * `initQwen2Weights` and `saveQwen2` use; the loaded LanguageModel converts it to its own layout.
 * Names and shapes are the shared decoder's (`decoder/arch.ts`) for Qwen2's architecture.
 */
import { type Qwen2Config, qwen2Arch } from "../config/qwen2Config.js"
import { decoderWeightShapes } from "../decoder/arch.js"
import { checkDecoderWeights, type DecoderWeights } from "../decoder/forward.js"

export type Qwen2Weights = DecoderWeights

/**
 * Every tensor a checkpoint of `config` must hold, with its shape, in the order transformers
 * lists them. `lm_head.weight` only when the embeddings are not tied.
 */
export const qwen2WeightShapes = (config: Qwen2Config): ReadonlyMap<string, ReadonlyArray<number>> =>
  decoderWeightShapes(qwen2Arch(config))

/** Number of parameters (tied embeddings counted once). */
export const qwen2ParameterCount = (config: Qwen2Config): number => {
  let n = 0
  for (const shape of qwen2WeightShapes(config).values()) n += shape.reduce((a, b) => a * b, 1)
  return n
}

/** The first problem with a weights record (missing tensor, wrong shape, non-float), or undefined. */
export const checkQwen2Weights = (config: Qwen2Config, weights: Qwen2Weights): string | undefined =>
  checkDecoderWeights(qwen2Arch(config), weights)
