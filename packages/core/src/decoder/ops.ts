/**
 * Tensor building blocks of the decoder forward pass (Qwen2, Llama, Gemma 2). All are differentiable with `tf.variableGrads`
 * on every backend, including wasm (which lacks the UnsortedSegmentSum kernel behind `tf.gather`'s
 * gradient and runs `matMul` with a transposed operand on a slow path): the embedding lookup and
 * the `[out, in]` linear layer carry custom gradients made of plain matMul / transpose / scatterND.
 */
import * as tf from "@tensorflow/tfjs-core"
import { fusedRmsNorm, matMulBF16 } from "./fused.js"

/**
 * A linear layer and how its weight is stored:
 * - `"inOut"`: W is `[in, out]`, y = x·W. On wasm this is XNNPACK's fast path (6–8× faster than a
 *   transposed operand for prefill) but XNNPACK keeps a packed copy of W next to it (2× memory).
 * - `"outIn"`: Hugging Face's `[out, in]`, y = x·Wᵀ via `matMul(…, transposeB)`: no copy, the
 *   natural layout for native TensorFlow, the slow path on wasm.
 * - `"outInTrain"`: `[out, in]` with a custom gradient made of plain matMuls and explicit
 *   transposes (all fast paths on wasm); what `qwen2Forward` uses for training.
 * - `"outInBF16"`: a bfloat16 `[out, in]` weight kept compact, as an int32 `[out, in/2]` tensor of
 *   its bits (two per entry), multiplied by a kernel that widens as it streams: half the memory
 *   and memory traffic of float32, where the product is bound by reading the weight (the LM head).
 *   Only on backends with that kernel (`bf16LinearSupported`; the native backend).
 */
export interface Linear {
  readonly w: tf.Tensor2D
  readonly b?: tf.Tensor1D
  readonly layout: "inOut" | "outIn" | "outInTrain" | "outInBF16"
}

/** A two-input op with a custom gradient. */
const customGrad2 = <A extends tf.Tensor, B extends tf.Tensor, R extends tf.Tensor>(
  f: (a: A, b: B, save: tf.GradSaveFunc) => { value: R; gradFunc: (dy: R, saved: Array<tf.Tensor>) => Array<tf.Tensor> }
): ((a: A, b: B) => R) => {
  const op = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) =>
    f(args[0] as A, args[1] as B, args[2] as tf.GradSaveFunc)) as unknown as Parameters<typeof tf.customGrad>[0])
  return (a, b) => op(a, b) as R
}

const linearOutIn = customGrad2((x: tf.Tensor2D, w: tf.Tensor2D, save) => {
  save([x, w])
  return {
    value: tf.matMul(x, tf.transpose(w)) as tf.Tensor2D,
    gradFunc: (dy: tf.Tensor2D, saved: Array<tf.Tensor>) => {
      const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D]
      return [tf.matMul(dy, sw), tf.matMul(tf.transpose(dy), sx)]
    }
  }
})

/**
 * 2-D `a·b` whose backward pass also avoids transposed operands (`dA = dy·bᵀ`, `dB = aᵀ·dy` with
 * explicit transposes): wasm's transposed-operand matMul is the slow path.
 */
export const matMulPlainGrad = customGrad2((a: tf.Tensor2D, b: tf.Tensor2D, save) => {
  save([a, b])
  return {
    value: tf.matMul(a, b) as tf.Tensor2D,
    gradFunc: (dy: tf.Tensor2D, saved: Array<tf.Tensor>) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D]
      return [tf.matMul(dy, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy)]
    }
  }
})

/** `x` `[N, in]` → `[N, out]`. */
export const linear = (x: tf.Tensor2D, l: Linear): tf.Tensor2D => {
  const y = (
    l.layout === "inOut"
      ? tf.matMul(x, l.w)
      : l.layout === "outIn"
        ? tf.matMul(x, l.w, false, true)
        : l.layout === "outInBF16"
          ? matMulBF16(x, l.w)
          : linearOutIn(x, l.w)
  ) as tf.Tensor2D
  return l.b === undefined ? y : (tf.add(y, l.b) as tf.Tensor2D)
}

/** Rows `ids` of `table` `[V, H]` → `[N, H]`; gradient via scatterND (sums repeated ids). */
export const gatherRows = customGrad2((table: tf.Tensor2D, ids: tf.Tensor1D, save) => {
  save([ids])
  return {
    value: tf.gather(table, ids) as tf.Tensor2D,
    gradFunc: (dy: tf.Tensor2D, saved: Array<tf.Tensor>) => {
      const sids = saved[0]!
      return [tf.scatterND(tf.reshape(sids, [-1, 1]), dy, table.shape) as tf.Tensor, tf.zerosLike(sids)]
    }
  }
})

/** `w · x / sqrt(mean(x²) + eps)` over the last axis, in float32 (one fused kernel where the backend has it). */
export const rmsNorm = <T extends tf.Tensor>(x: T, w: tf.Tensor1D, eps: number): T =>
  fusedRmsNorm(x, w, eps) ?? (tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w) as T)

/** SiLU: x·sigmoid(x). */
export const silu = <T extends tf.Tensor>(x: T): T => tf.mul(x, tf.sigmoid(x)) as T

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI)

/** GELU, tanh approximation (PyTorch's `gelu(approximate="tanh")`): `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`. */
export const geluTanh = <T extends tf.Tensor>(x: T): T =>
  tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), SQRT_2_OVER_PI)))) as T

/** Soft-capping: `tanh(x / cap) · cap` (Gemma 2's attention and final logits). */
export const softcap = <T extends tf.Tensor>(x: T, cap: number): T => tf.mul(tf.tanh(tf.div(x, cap)), cap) as T

/**
 * Sparse softmax cross-entropy, mean over rows with weight > 0: `logits` `[N, V]`, `labels` `[N]`
 * (int32), optional `weights` `[N]` (e.g. 0 for padding). A custom gradient (softmax − one-hot)
 * avoids `gather`'s gradient, so it trains on wasm. For training a Qwen2 from scratch.
 */
export const sparseCrossEntropy = (logits: tf.Tensor2D, labels: tf.Tensor1D, weights?: tf.Tensor1D): tf.Scalar => {
  const w = weights ?? tf.onesLike(labels).toFloat()
  const f = customGrad2((lg: tf.Tensor2D, ww: tf.Tensor1D, save) => {
    const V = lg.shape[1]!
    const logZ = tf.logSumExp(lg, 1)
    const onehot = tf.oneHot(labels, V).toFloat()
    const picked = tf.sum(tf.mul(lg, onehot), 1)
    const denom = tf.maximum(tf.sum(ww), 1e-12)
    const value = tf.div(tf.sum(tf.mul(tf.sub(logZ, picked), ww)), denom) as tf.Scalar
    // Labels are saved too: a labels tensor made inside the taped function is disposed before
    // the backward pass runs, so the closure's reference would be dead by then.
    save([lg, ww, denom, labels])
    return {
      value,
      gradFunc: (dy: tf.Scalar, saved: Array<tf.Tensor>) => {
        // The one-hot matrix is rebuilt here rather than kept alive between the passes.
        const [slg, sww, sden, slabels] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Scalar, tf.Tensor1D]
        const p = tf.softmax(slg)
        const scale = tf.div(tf.mul(dy, sww), sden).reshape([-1, 1])
        return [tf.mul(tf.sub(p, tf.oneHot(slabels, V).toFloat()), scale), tf.zerosLike(sww)]
      }
    }
  })
  return f(logits, w)
}
