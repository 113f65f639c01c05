/**
 * Fresh decoder weights (HF names and layout) for any `DecoderArch`, as transformers'
 * `_init_weights`: every Linear weight and the embedding ~ N(0, std), biases 0, RMSNorm weights
 * the identity (1, or 0 for Gemma's `1 + w` norms). Deterministic given the seed (tensor i draws
 * from `Rng.seeded(seed, i)`, independent of the backend).
 */
import * as tf from "@tensorflow/tfjs-core"
import { Rng } from "../util/rng.js"
import { type DecoderArch, decoderWeightShapes } from "./arch.js"
import type { DecoderWeights } from "./forward.js"

export interface InitDecoderOptions {
  /** Standard deviation of the normal init. */
  readonly std: number
  /** Wrap every tensor in a trainable `tf.variable` (default false). */
  readonly variables?: boolean
}

export const initDecoderWeights = (arch: DecoderArch, seed: number, options: InitDecoderOptions): DecoderWeights => {
  const std = options.std
  const out: Record<string, tf.Tensor> = {}
  let stream = 0
  for (const [name, shape] of decoderWeightShapes(arch)) {
    const n = shape.reduce((a, b) => a * b, 1)
    const data = new Float32Array(n)
    if (name.endsWith("norm.weight")) data.fill(arch.normPlusOne ? 0 : 1)
    else if (!name.endsWith(".bias")) Rng.seeded(seed, stream).fillNormal(data, std)
    stream++
    const t = tf.tensor(data, [...shape], "float32")
    if (options.variables === true) {
      out[name] = tf.variable(t, true, `${name}`)
      t.dispose()
    } else {
      out[name] = t
    }
  }
  return out
}

/** Disposes every tensor of a weights record. */
export const disposeDecoderWeights = (weights: DecoderWeights): void => {
  for (const t of new Set(Object.values(weights))) if (!t.isDisposed) t.dispose()
}
