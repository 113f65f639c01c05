/**
 * Fresh Qwen2 weights (HF names and layout) for training from scratch: the shared decoder's
 * `initDecoderWeights` with Qwen2's architecture — every Linear weight and the embedding
 * ~ N(0, initializer_range), q/k/v biases 0, RMSNorm weights 1.
 */
import { type Qwen2Config, qwen2Arch } from "../config/qwen2Config.js"
import { disposeDecoderWeights, initDecoderWeights } from "../decoder/init.js"
import type { Qwen2Weights } from "./weights.js"

export interface InitQwen2Options {
  /** Standard deviation of the normal init (default config.initializer_range). */
  readonly std?: number
  /** Wrap every tensor in a trainable `tf.variable` (default false). */
  readonly variables?: boolean
}

export const initQwen2Weights = (config: Qwen2Config, seed: number, options: InitQwen2Options = {}): Qwen2Weights =>
  initDecoderWeights(qwen2Arch(config), seed, { ...options, std: options.std ?? config.initializer_range })

/** Disposes every tensor of a weights record. */
export const disposeQwen2Weights = disposeDecoderWeights
