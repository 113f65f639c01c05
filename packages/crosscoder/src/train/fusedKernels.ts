/**
 * @crosscode/native's fused sparse-step kernels (encoder matmul + bias + relu + TopK in one call,
 * decode + loss + ∂x̂ + ∂b_dec in one, ∂W_dec and ∂W_enc written in their parameter layouts, and a
 * thread-count-independent sum of squares for gradient clipping). Typed here rather than in
 * @crosscode/native's NativeKernels so that an addon built before they existed is detected (then
 * the step keeps the per-kernel path) instead of failing with "not a function".
 */
import { activeNativeKernels } from "@crosscode/core"

export interface FusedStepKernels {
  /**
   * `pre = relu(x · We + be)` (`[B, F]`, the native backend's fused-matMul arithmetic) and per row
   * its k largest values and indices in tf.topk's order.
   */
  encodeTopK(
    x: Float32Array,
    We: Float32Array,
    be: Float32Array,
    B: number,
    W: number,
    F: number,
    k: number,
    pre: Float32Array,
    values: Float32Array,
    indices: Int32Array
  ): void
  /**
   * `E = b_dec + Σ v·W_dec[j] − x` per CSR row, `dXhat` (kind 0 mse, 1 sse, 2 per-source L2 over
   * S blocks) and `dbd = Σ_b dXhat_b`. Returns `[Σ E², Σ_{b,s} ‖E_bs‖]` (float64).
   */
  decodeLoss(
    rowPtr: Int32Array,
    cols: Int32Array,
    vals: Float32Array,
    Wd: Float32Array,
    bdec: Float32Array,
    x: Float32Array,
    W: number,
    S: number,
    kind: number,
    E: Float32Array,
    dXhat: Float32Array,
    dbd: Float32Array
  ): [number, number]
  /**
   * For feature j's entries `order[start[j] .. start[j+1])`: `dWd[j] = Σ vals[e] · D'[rows[e]]`
   * (D' = D for e < nMain, else Daux) and `dWe[:, j] = Σ g[e] · x[rows[e]]` (dWe is `[W, F]`).
   * Overwrites dWd and dWe.
   */
  scatterByFeatureT(
    start: Int32Array,
    order: Int32Array,
    rows: Int32Array,
    vals: Float32Array,
    g: Float32Array,
    nMain: number,
    D: Float32Array,
    Daux: Float32Array | undefined,
    x: Float32Array,
    W: number,
    dWd: Float32Array,
    dWe: Float32Array
  ): void
  /** Σ a² in float64 over fixed blocks (the same result for any thread count). */
  sumSquaresBlocked(a: Float32Array): number
}

/** The fused kernels while the native backend is active and its addon has them; else undefined. */
export const fusedStepKernels = (): FusedStepKernels | undefined => {
  const k = activeNativeKernels() as unknown as Partial<FusedStepKernels> | undefined
  return k !== undefined &&
    typeof k.encodeTopK === "function" &&
    typeof k.decodeLoss === "function" &&
    typeof k.scatterByFeatureT === "function" &&
    typeof k.sumSquaresBlocked === "function"
    ? (k as FusedStepKernels)
    : undefined
}
