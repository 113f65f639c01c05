/**
 * Rotary position embeddings, "rotate_half" form (as transformers' Qwen2, Llama, Gemma 2): with
 * `inv_freq[i] = rope_theta^(-2i/head_dim)` (i < head_dim/2) and `cos/sin = cat(f(pos·inv_freq), same)`,
 * `rope(x) = x·cos + rotate_half(x)·sin` where `rotate_half(x) = cat(-x2, x1)`.
 *
 * The angle tables are computed in JS and rounded like transformers' float32 computation:
 * `inv_freq` in float32, `pos·inv_freq` rounded to float32, then cos/sin rounded to float32.
 * Llama 3 / linear `rope_scaling` only change `inv_freq` (`ropeInvFreq`). The tables grow on
 * demand (no `max_position_embeddings` limit is imposed).
 */
import type * as tf from "@tensorflow/tfjs-core"
import { fusedRope } from "./fused.js"

/** RoPE scaling of the frequencies (transformers' `rope_scaling`), as implemented. */
export type RopeScaling =
  | { readonly type: "linear"; readonly factor: number }
  | {
      readonly type: "llama3"
      readonly factor: number
      readonly lowFreqFactor: number
      readonly highFreqFactor: number
      readonly originalMaxPositionEmbeddings: number
    }

/** `a ∘ b` rounded to float32, as one float32 tensor op computes it. */
const f = Math.fround

/**
 * `inv_freq[i] = theta^(-2i/headDim)` in float32 as transformers computes it, then scaled:
 * `linear` divides by the factor; `llama3` (transformers' `_compute_llama3_parameters`) keeps
 * high frequencies, divides low ones by the factor and interpolates between, each op in float32
 * (`scalar / tensor` is `reciprocal(tensor) · scalar` in PyTorch).
 */
export const ropeInvFreq = (headDim: number, theta: number, scaling?: RopeScaling): Float32Array => {
  const half = headDim / 2
  const inv = new Float32Array(half)
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(theta ** f((2 * i) / headDim)))
  if (scaling === undefined) return inv
  const factor = f(scaling.factor)
  if (scaling.type === "linear") return inv.map((x) => f(x / factor))
  const { lowFreqFactor: lff, highFreqFactor: hff, originalMaxPositionEmbeddings: old } = scaling
  const lowFreqWavelen = old / lff
  const highFreqWavelen = old / hff
  const twoPi = f(2 * Math.PI)
  return inv.map((x) => {
    const wavelen = f(f(1 / x) * twoPi)
    const base = wavelen > lowFreqWavelen ? f(x / factor) : x
    if (wavelen < highFreqWavelen || wavelen > lowFreqWavelen) return base
    const smooth = f(f(f(f(1 / wavelen) * old) - lff) / (hff - lff))
    return f(f(f(f(1 - smooth) * base) / factor) + f(smooth * base))
  })
}

export class RopeTable {
  readonly half: number
  /** `[maxPositions, half]`. */
  private cosT = new Float32Array(0)
  private sinT = new Float32Array(0)
  private size = 0

  constructor(
    readonly headDim: number,
    private readonly invFreq: Float32Array
  ) {
    this.half = headDim / 2
    if (invFreq.length !== this.half) {
      throw new RangeError(`RoPE needs ${this.half} frequencies for head_dim ${headDim}, got ${invFreq.length}`)
    }
  }

  private ensure(maxPosition: number): void {
    if (maxPosition < this.size) return
    let n = Math.max(64, this.size)
    while (n <= maxPosition) n *= 2
    const h = this.half
    const cosT = new Float32Array(n * h)
    const sinT = new Float32Array(n * h)
    cosT.set(this.cosT)
    sinT.set(this.sinT)
    for (let p = this.size; p < n; p++) {
      for (let i = 0; i < h; i++) {
        const angle = Math.fround(p * this.invFreq[i]!)
        cosT[p * h + i] = Math.cos(angle)
        sinT[p * h + i] = Math.sin(angle)
      }
    }
    this.cosT = cosT
    this.sinT = sinT
    this.size = n
  }

  /**
   * `cos` and `signedSin` (`cat(-sin, sin)`) for the given positions, each `[n * headDim]`, so that
   * `rope(x) = x·cos + swap_halves(x)·signedSin`.
   */
  tables(positions: ArrayLike<number>): { readonly cos: Float32Array; readonly signedSin: Float32Array } {
    let max = 0
    for (let i = 0; i < positions.length; i++) {
      const p = positions[i]!
      if (!Number.isInteger(p) || p < 0) throw new RangeError(`rotary position ${p} is not a non-negative integer`)
      if (p > max) max = p
    }
    this.ensure(max)
    const h = this.half
    const D = this.headDim
    const cos = new Float32Array(positions.length * D)
    const signedSin = new Float32Array(positions.length * D)
    for (let r = 0; r < positions.length; r++) {
      const src = positions[r]! * h
      const c = this.cosT.subarray(src, src + h)
      const s = this.sinT.subarray(src, src + h)
      cos.set(c, r * D)
      cos.set(c, r * D + h)
      signedSin.set(s, r * D + h)
      for (let i = 0; i < h; i++) signedSin[r * D + i] = -s[i]!
    }
    return { cos, signedSin }
  }
}

/**
 * Applies RoPE to `x` `[B, T, heads, D]` with `cos`/`signedSin` `[B, T, 1, D]`:
 * `x·cos + cat(x2, x1)·cat(-sin, sin)` = `x·cos + rotate_half(x)·sin`.
 */
export const applyRope = (tfjs: typeof tf, x: tf.Tensor4D, cos: tf.Tensor4D, signedSin: tf.Tensor4D): tf.Tensor4D => {
  const fused = fusedRope(x, cos, signedSin)
  if (fused !== undefined) return fused
  const [B, T, n, D] = x.shape
  const h = D / 2
  const x1 = tfjs.slice(x, [0, 0, 0, 0], [B, T, n, h])
  const x2 = tfjs.slice(x, [0, 0, 0, h], [B, T, n, h])
  const swapped = tfjs.concat([x2, x1], 3)
  return tfjs.add(tfjs.mul(x, cos), tfjs.mul(swapped, signedSin))
}
