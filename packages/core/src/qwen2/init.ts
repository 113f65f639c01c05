/**
 * Fresh Qwen2 weights (HF names and layout) for training from scratch: as transformers'
 * `_init_weights`, every Linear weight and the embedding ~ N(0, initializer_range), q/k/v biases
 * 0, RMSNorm weights 1. Deterministic given the seed (tensor i draws from `Rng.seeded(seed, i)`,
 * independent of the backend).
 */
import * as tf from "@tensorflow/tfjs-core"
import type { Qwen2Config } from "../config/qwen2Config.js"
import { Rng } from "../util/rng.js"
import { type Qwen2Weights, qwen2WeightShapes } from "./weights.js"

export interface InitQwen2Options {
  /** Standard deviation of the normal init (default config.initializer_range). */
  readonly std?: number
  /** Wrap every tensor in a trainable `tf.variable` (default false). */
  readonly variables?: boolean
}

export const initQwen2Weights = (config: Qwen2Config, seed: number, options: InitQwen2Options = {}): Qwen2Weights => {
  const std = options.std ?? config.initializer_range
  const out: Record<string, tf.Tensor> = {}
  let stream = 0
  for (const [name, shape] of qwen2WeightShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1)
    const data = new Float32Array(n)
    if (name.endsWith("norm.weight")) data.fill(1)
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
export const disposeQwen2Weights = (weights: Qwen2Weights): void => {
  for (const t of new Set(Object.values(weights))) if (!t.isDisposed) t.dispose()
}
