/**
 * Scaled dot-product attention over grouped query heads: `softmax(cap(q·kᵀ·scale) + bias)·v`, where
 * `scale` defaults to `1/√D` and `cap` is Gemma 2's optional soft-capping `tanh(s / c)·c`.
 *
 * Two schedules with the same math:
 * - batched: one 4-D matMul for `q·kᵀ` and one for `p·v` (native TensorFlow, WebGPU, and small
 *   products anywhere);
 * - per group (wasm, large products): a batched matMul never reaches XNNPACK on wasm (a naive
 *   loop, ~3 GFLOP/s), so each (sequence, KV head) runs its own 2-D matMuls, softmax and bias.
 *   Only the small q/k/v/context tensors are split and concatenated — splitting or stacking the
 *   `[T, S]` score matrices (and their gradients) costs more than the matMuls saved.
 *   Gradients use plain matMuls with explicit transposes (the transposed operand is wasm's slow
 *   path), so training through this path is fast too.
 */
import * as tf from "@tensorflow/tfjs-core"
import { matMulPlainGrad, softcap } from "./ops.js"

export interface AttentionOptions {
  /** Score scale (default `1/√D`). */
  readonly scale?: number
  /** Soft-cap the scaled scores before the mask: `tanh(s / c) · c`. */
  readonly softcap?: number
}

/** Multiply-accumulates of one group's `q·kᵀ` above which wasm runs the per-group schedule. */
const PER_GROUP_MACS = 4_000_000

/** `t` `[N, …]` → N tensors without the leading axis. */
const pieces = (t: tf.Tensor, N: number): Array<tf.Tensor> =>
  N === 1 ? [tf.reshape(t, t.shape.slice(1))] : tf.split(t, N, 0).map((x) => tf.reshape(x, x.shape.slice(1)))

/**
 * `q` `[B, nKV, g·T, D]` (the g query heads of KV head j stacked along rows), `k`/`v`
 * `[B, nKV, S, D]`, additive `bias` `[B, 1, 1, T, S]` (0 or -1e9) → context `[B, nKV, g·T, D]`.
 */
export const groupedAttention = (
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  bias: tf.Tensor,
  options: AttentionOptions = {}
): tf.Tensor4D => {
  const [B, nKV, gT, D] = q.shape
  const S = k.shape[2]
  const T = bias.shape[3]!
  const g = gT / T
  const scale = options.scale ?? 1 / Math.sqrt(D)
  const cap = options.softcap
  const scaled = <T extends tf.Tensor>(s: T): T => {
    const x = tf.mul(s, scale) as T
    return cap === undefined ? x : softcap(x, cap)
  }
  if (tf.getBackend() !== "wasm" || gT * D * S < PER_GROUP_MACS) {
    const scores = scaled(tf.matMul(q, k, false, true))
    const probs = tf.softmax(tf.add(tf.reshape(scores, [B, nKV, g, T, S]), bias))
    return tf.matMul(tf.reshape(probs, [B, nKV, gT, S]) as tf.Tensor4D, v) as tf.Tensor4D
  }
  const G = B * nKV
  const qs = pieces(tf.reshape(q, [G, gT, D]), G) as Array<tf.Tensor2D>
  const kTs = pieces(tf.transpose(tf.reshape(k, [G, S, D]), [0, 2, 1]), G) as Array<tf.Tensor2D>
  const vs = pieces(tf.reshape(v, [G, S, D]), G) as Array<tf.Tensor2D>
  const biases = pieces(tf.reshape(bias, [B, 1, T, S]), B)
  const ctx = qs.map((qg, i) => {
    const scores = tf.reshape(scaled(matMulPlainGrad(qg, kTs[i]!)), [g, T, S])
    const probs = tf.reshape(tf.softmax(tf.add(scores, biases[Math.floor(i / nKV)]!)), [gT, S]) as tf.Tensor2D
    return matMulPlainGrad(probs, vs[i]!)
  })
  return tf.reshape(G === 1 ? ctx[0]! : tf.concat(ctx, 0), [B, nKV, gT, D]) as tf.Tensor4D
}
