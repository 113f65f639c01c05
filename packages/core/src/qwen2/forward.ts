/**
 * `qwen2Forward`: the shared decoder forward pass over a Qwen2 weights record (HF names, `[out, in]`
 * linear weights), differentiable under `tf.variableGrads` — for training a Qwen2 from scratch.
 */
import type * as tf from "@tensorflow/tfjs-core"
import { type Qwen2Config, qwen2Arch } from "../config/qwen2Config.js"
import { type DecoderForwardOptions, type DecoderForwardResult, decoderForward } from "../decoder/forward.js"
import type { Qwen2Weights } from "./weights.js"

export type Qwen2ForwardOptions = DecoderForwardOptions
export type Qwen2ForwardResult = DecoderForwardResult

/**
 * Pure forward over HF weights: `inputIds` `[B][T]` (rectangular) or an int32 `tf.Tensor2D`.
 * Does not dispose its inputs; call inside `tf.tidy`. Throws RangeError on a missing/mis-shaped
 * weight or an out-of-range token id.
 */
export const qwen2Forward = (
  config: Qwen2Config,
  weights: Qwen2Weights,
  inputIds: ReadonlyArray<ReadonlyArray<number>> | tf.Tensor2D,
  options: Qwen2ForwardOptions = {}
): Qwen2ForwardResult => decoderForward(qwen2Arch(config), weights, inputIds, options)
