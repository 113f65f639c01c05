/**
 * Streaming, mergeable mean / variance (Welford's update generalised to batches with Chan et al.'s
 * pairwise combination), in float64, over rows of a fixed width (`numSources * dim`).
 *
 * Adding one row is exactly Welford's update; adding a batch computes the batch's own mean and M2
 * in two passes and merges them, which is cheaper and at least as accurate. Two accumulators over
 * disjoint rows merge into the accumulator of their union, so per-shard statistics combine
 * without touching the activations again (resume, per-dataset statistics).
 */
import type { NormalizationStats } from "../ActivationSource.js"
import { STD_FLOOR } from "../normalization.js"

export class Welford {
  count = 0
  readonly mean: Float64Array
  readonly m2: Float64Array

  constructor(readonly width: number) {
    this.mean = new Float64Array(width)
    this.m2 = new Float64Array(width)
  }

  static fromParts(count: number, mean: Float64Array, m2: Float64Array): Welford {
    const w = new Welford(mean.length)
    w.count = count
    w.mean.set(mean)
    w.m2.set(m2)
    return w
  }

  clone(): Welford {
    return Welford.fromParts(this.count, this.mean, this.m2)
  }

  /** Welford's single-row update. */
  add(row: ArrayLike<number>): void {
    this.count++
    const n = this.count
    for (let j = 0; j < this.width; j++) {
      const x = row[j] as number
      const d = x - (this.mean[j] as number)
      const m = (this.mean[j] as number) + d / n
      this.mean[j] = m
      this.m2[j] = (this.m2[j] as number) + d * (x - m)
    }
  }

  /**
   * Add rows of `data` (row-major, `width` per row): all `rows` rows, or only those listed in
   * `select`.
   */
  addRows(data: Float32Array, rows: number, select?: ArrayLike<number>): void {
    const k = select === undefined ? rows : select.length
    if (k === 0) return
    const w = this.width
    const bm = new Float64Array(w)
    for (let i = 0; i < k; i++) {
      const r = select === undefined ? i : (select[i] as number)
      const off = r * w
      for (let j = 0; j < w; j++) bm[j] = (bm[j] as number) + (data[off + j] as number)
    }
    for (let j = 0; j < w; j++) bm[j] = (bm[j] as number) / k
    const bm2 = new Float64Array(w)
    for (let i = 0; i < k; i++) {
      const r = select === undefined ? i : (select[i] as number)
      const off = r * w
      for (let j = 0; j < w; j++) {
        const d = (data[off + j] as number) - (bm[j] as number)
        bm2[j] = (bm2[j] as number) + d * d
      }
    }
    this.mergeParts(k, bm, bm2)
  }

  merge(other: Welford): void {
    if (other.width !== this.width) throw new RangeError(`Welford width ${other.width} != ${this.width}`)
    this.mergeParts(other.count, other.mean, other.m2)
  }

  private mergeParts(nb: number, meanB: Float64Array, m2B: Float64Array): void {
    if (nb === 0) return
    const na = this.count
    if (na === 0) {
      this.count = nb
      this.mean.set(meanB)
      this.m2.set(m2B)
      return
    }
    const n = na + nb
    const fb = nb / n
    const cross = (na * nb) / n
    for (let j = 0; j < this.width; j++) {
      const d = (meanB[j] as number) - (this.mean[j] as number)
      this.mean[j] = (this.mean[j] as number) + d * fb
      this.m2[j] = (this.m2[j] as number) + (m2B[j] as number) + d * d * cross
    }
    this.count = n
  }

  /**
   * Mean, std (sample std with Bessel's correction, floored at 1e-6 — the reference's
   * `x.std(0).clamp(min=1e-6)`), and per source the scalar scale
   * `sqrt(mean over rows of ‖x − mean‖²) / sqrt(dim)`. With fewer than two rows std is 1.
   */
  finalize(numSources: number, dim: number): NormalizationStats {
    if (numSources * dim !== this.width)
      throw new RangeError(`numSources*dim ${numSources * dim} != width ${this.width}`)
    const n = this.count
    const mean = new Float32Array(this.width)
    const std = new Float32Array(this.width)
    const scale = new Float32Array(numSources)
    for (let j = 0; j < this.width; j++) {
      mean[j] = this.mean[j] as number
      std[j] = n >= 2 ? Math.max(Math.sqrt((this.m2[j] as number) / (n - 1)), STD_FLOOR) : 1
    }
    for (let s = 0; s < numSources; s++) {
      let sum = 0
      for (let d = 0; d < dim; d++) sum += this.m2[s * dim + d] as number
      scale[s] = n >= 1 ? Math.max(Math.sqrt(sum / n / dim), STD_FLOOR) : 1
    }
    return { count: n, mean, std, scale }
  }
}
