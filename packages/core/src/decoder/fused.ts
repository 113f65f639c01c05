/**
 * Fused decoder kernels: RMSNorm, the gated MLP activation, rotary embedding and grouped-query
 * attention as single TensorFlow.js kernels, for backends that register them (the `native`
 * backend does; see backend/nativeDecoder.ts). Each op here runs its kernel when the active
 * backend has it and no gradient tape is recording (the kernels have no gradients), else returns
 * undefined and the caller composes the same math from tfjs ops — so training and every other
 * backend keep the composite path, and results agree to rounding.
 */
import * as tf from "@tensorflow/tfjs-core"

export const FusedKernelNames = {
  rmsNorm: "CrosscodeRmsNorm",
  gatedActivation: "CrosscodeGatedActivation",
  gatedMlp: "CrosscodeGatedMlp",
  rope: "CrosscodeRope",
  groupedAttention: "CrosscodeGroupedAttention",
  matMulBF16: "CrosscodeMatMulBF16",
  widenBF16: "CrosscodeWidenBF16"
} as const

/** `CROSSCODE_FUSED_KERNELS=0` keeps the composite ops everywhere (to compare the two paths). */
const disabled = typeof process !== "undefined" && process.env.CROSSCODE_FUSED_KERNELS === "0"

const usable = (name: string): boolean =>
  !disabled && !tf.engine().isTapeOn() && tf.getKernel(name, tf.getBackend()) !== undefined

const run = <T extends tf.Tensor>(name: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>): T =>
  tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as T

/** `x · rsqrt(mean(x²) + eps) · w` over the last axis, fused; undefined where not available. */
export const fusedRmsNorm = <T extends tf.Tensor>(x: T, w: tf.Tensor1D, eps: number): T | undefined =>
  usable(FusedKernelNames.rmsNorm) ? run<T>(FusedKernelNames.rmsNorm, { x, w }, { eps }) : undefined

/** `act(gate) · up` (SiLU or GELU-tanh), fused; undefined where not available. */
export const fusedGatedActivation = <T extends tf.Tensor>(
  gate: T,
  up: T,
  activation: "silu" | "geluTanh"
): T | undefined =>
  usable(FusedKernelNames.gatedActivation)
    ? run<T>(FusedKernelNames.gatedActivation, { gate, up }, { activation })
    : undefined

/**
 * A block's gated MLP `down(act(gate(x)) · up(x))` as one kernel, for `x` `[N, in]` and three
 * float32 `[out, in]` linears without bias (the intermediates stay in the kernel's scratch
 * memory); undefined where not available or for other weight layouts.
 */
export const fusedGatedMlp = (
  x: tf.Tensor2D,
  gate: FusableLinear,
  up: FusableLinear,
  down: FusableLinear,
  activation: "silu" | "geluTanh"
): tf.Tensor2D | undefined =>
  [gate, up, down].every((l) => l.layout === "outIn" && l.b === undefined) && usable(FusedKernelNames.gatedMlp)
    ? run<tf.Tensor2D>(FusedKernelNames.gatedMlp, { x, wGate: gate.w, wUp: up.w, wDown: down.w }, { activation })
    : undefined

/** What `fusedGatedMlp` needs of a `Linear` (ops.ts). */
interface FusableLinear {
  readonly w: tf.Tensor2D
  readonly b?: tf.Tensor1D
  readonly layout: string
}

/** RoPE of `x` `[B, T, heads, D]` with `cos`/`signedSin` `[B, T, 1, D]`, fused; undefined where not available. */
export const fusedRope = (x: tf.Tensor4D, cos: tf.Tensor4D, signedSin: tf.Tensor4D): tf.Tensor4D | undefined =>
  usable(FusedKernelNames.rope) ? run<tf.Tensor4D>(FusedKernelNames.rope, { x, cos, signedSin }, {}) : undefined

/**
 * Grouped-query attention in the token-major layout: `q` `[B, T, nH, D]`, `k`/`v` `[B, nKV, S, D]`,
 * additive `bias` `[B, 1, 1, T, S]` → context `[B, T, nH, D]`; undefined where not available.
 */
export const fusedGroupedAttention = (
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  bias: tf.Tensor,
  scale: number,
  softcap: number | undefined
): tf.Tensor4D | undefined =>
  usable(FusedKernelNames.groupedAttention)
    ? run<tf.Tensor4D>(FusedKernelNames.groupedAttention, { q, k, v, bias }, { scale, softcap: softcap ?? 0 })
    : undefined

/**
 * Whether the active backend multiplies by bfloat16 weights kept compact (`Linear` layout
 * `"outInBF16"`: an int32 `[out, in/2]` tensor holding the weight's bfloat16 bits, two per entry).
 */
export const bf16LinearSupported = (): boolean =>
  tf.getKernel(FusedKernelNames.matMulBF16, tf.getBackend()) !== undefined &&
  tf.getKernel(FusedKernelNames.widenBF16, tf.getBackend()) !== undefined

/**
 * `x` `[N, in]` · Wᵀ for a packed bfloat16 W (`[out, in/2]` int32): one streaming kernel; under a
 * gradient tape, W is widened to float32 first so that the product is differentiable in `x`.
 */
export const matMulBF16 = (x: tf.Tensor2D, packed: tf.Tensor2D): tf.Tensor2D => {
  if (!bf16LinearSupported())
    throw new RangeError(
      `this model keeps a bfloat16 weight compact, which the ${tf.getBackend()} backend cannot multiply: load the model on the backend that runs it`
    )
  return tf.engine().isTapeOn()
    ? (tf.matMul(x, run<tf.Tensor2D>(FusedKernelNames.widenBF16, { w: packed }, {}), false, true) as tf.Tensor2D)
    : run<tf.Tensor2D>(FusedKernelNames.matMulBF16, { a: x, w: packed }, {})
}
