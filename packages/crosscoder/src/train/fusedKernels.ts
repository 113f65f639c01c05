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
   * S blocks) and `dbd = Σ_b dXhat_b`; with `dots`, also `dots[n] = dXhat_b · W_dec[cols[n]]` per
   * entry (rowDots' arithmetic, while the rows are in cache). Returns `[Σ E², Σ_{b,s} ‖E_bs‖]`
   * (float64).
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
    dbd: Float32Array,
    dots?: Float32Array
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
  /**
   * The per-entry bookkeeping between `decodeLoss` and `scatterByFeatureT` in one pass:
   * `termValues[t] = Σ_n weights[t·F + cols[n]] · vals[n]`, the L1 terms' ∂ (Σ over nonzero `coefs`
   * of `coefs[t] · weights[t·F + j] / B`) added to `g`, `dbe[j] = Σ g` and `fired[j]` = count per
   * feature, and `start`/`order` grouping the entries by feature. Absent in builds before it.
   */
  entryStats?(
    cols: Int32Array,
    vals: Float32Array,
    g: Float32Array,
    weights: Float32Array,
    coefs: Float64Array,
    B: number,
    F: number,
    termValues: Float64Array,
    dbe: Float32Array,
    fired: Float32Array,
    start: Int32Array,
    order: Int32Array
  ): void
  /**
   * The positive entries of per-row TopK results `v`, `j` (`[B, k]`) as CSR by row, in order, into
   * `rowPtr` (`B + 1`) and `rows`/`cols`/`vals` (room for `B·k`); returns the count. Absent in
   * builds before it (then the TypeScript loop runs).
   */
  topkEntries?(
    v: Float32Array,
    j: Int32Array,
    B: number,
    k: number,
    rowPtr: Int32Array,
    rows: Int32Array,
    cols: Int32Array,
    vals: Float32Array
  ): number
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

const dotsProbed = new WeakMap<FusedStepKernels, boolean>()

/**
 * Whether this addon's `decodeLoss` fills the optional `dots` (builds before it ignore a 13th
 * argument, which would leave the gradients zero): probed once per addon on a one-entry input.
 */
export const decodeLossFillsDots = (k: FusedStepKernels): boolean => {
  let ok = dotsProbed.get(k)
  if (ok === undefined) {
    const dots = Float32Array.of(Number.NaN)
    const one = () => new Float32Array(1)
    // E = 1·1 − 0 = 1, dXhat = 2·E (sse) = 2, dots = dXhat · W_dec[0] = 2
    k.decodeLoss(
      Int32Array.of(0, 1),
      Int32Array.of(0),
      Float32Array.of(1),
      Float32Array.of(1),
      one(),
      one(),
      1,
      1,
      1,
      one(),
      one(),
      one(),
      dots
    )
    ok = dots[0] === 2
    dotsProbed.set(k, ok)
  }
  return ok
}
