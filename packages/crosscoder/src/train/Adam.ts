/**
 * Adam (PyTorch semantics, no weight decay) on the host copies of the parameters. Moments are
 * float32 arrays saved in checkpoints; the update is computed in float64 per element.
 *
 *   m ← β1 m + (1−β1) g,  v ← β2 v + (1−β2) g²,  p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε)
 *
 * A zero gradient with zero moments gives an exactly zero update, which is how forbidden
 * (partition-masked) weights stay exactly 0. On the native backend @crosscode/native runs the same
 * arithmetic (double per element, moments rounded to float32) in C, split over threads: identical results.
 */
import { activeNativeKernels } from "@crosscode/core"
import type { Param } from "../model/Param.js"

export interface AdamOptions {
  readonly beta1?: number
  readonly beta2?: number
  readonly eps?: number
}

export class Adam {
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  /** Number of updates applied. */
  t = 0
  readonly m = new Map<string, Float32Array>()
  readonly v = new Map<string, Float32Array>()

  constructor(
    readonly params: ReadonlyArray<Param>,
    options: AdamOptions = {}
  ) {
    this.beta1 = options.beta1 ?? 0.9
    this.beta2 = options.beta2 ?? 0.999
    this.eps = options.eps ?? 1e-8
    for (const p of params) {
      if (!p.trainable) continue
      this.m.set(p.name, new Float32Array(p.data.length))
      this.v.set(p.name, new Float32Array(p.data.length))
    }
  }

  /**
   * One update with `grads` (by parameter name; missing = zero) multiplied by `gradScale`
   * (gradient clipping). Mutates parameters in place and marks them changed.
   */
  update(grads: ReadonlyMap<string, Float32Array>, lr: number, gradScale = 1): void {
    this.t += 1
    const { beta1: b1, beta2: b2, eps } = this
    const bc1 = 1 - b1 ** this.t
    const bc2 = 1 - b2 ** this.t
    const stepSize = lr / bc1
    const sqrtBc2 = Math.sqrt(bc2)
    const c1 = 1 - b1
    const c2 = 1 - b2
    for (const p of this.params) {
      if (!p.trainable) continue
      const g = grads.get(p.name)
      const m = this.m.get(p.name)!
      const v = this.v.get(p.name)!
      const w = p.data
      const n = w.length
      const native = activeNativeKernels()
      if (native !== undefined) {
        native.adam(w, g, m, v, b1, b2, stepSize, sqrtBc2, eps, gradScale)
        p.changed()
        continue
      }
      // moments are rounded to float32 (as stored) before they are used, as in PyTorch
      if (g === undefined) {
        for (let i = 0; i < n; i++) {
          const mi = Math.fround(b1 * m[i]!)
          const vi = Math.fround(b2 * v[i]!)
          m[i] = mi
          v[i] = vi
          w[i] = w[i]! - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps)
        }
      } else {
        for (let i = 0; i < n; i++) {
          const gi = g[i]! * gradScale
          const mi = Math.fround(b1 * m[i]! + c1 * gi)
          const vi = Math.fround(b2 * v[i]! + c2 * gi * gi)
          m[i] = mi
          v[i] = vi
          w[i] = w[i]! - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps)
        }
      }
      p.changed()
    }
  }

  /** Zero the moments of a parameter's forbidden entries (after loading foreign state). */
  zeroForbidden(): void {
    for (const p of this.params) {
      if (p.forbidden === undefined || !p.trainable) continue
      p.forbidden.zero(this.m.get(p.name)!)
      p.forbidden.zero(this.v.get(p.name)!)
    }
  }
}
