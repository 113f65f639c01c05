/**
 * Input normalization of activations, the one implementation every package uses: the activation
 * store's batches, the crosscoder's stored normalization and the trainer.
 *
 * `zscore` maps x → (x − mean) / std per (source, dim); `scale` maps x → (x − mean) / scale per
 * source. Divisors are floored at {@link STD_FLOOR} (the reference's `clamp(min=1e-6)`), and the
 * subtraction is rounded to float32 before the division, as the crosscoder's tensor ops do, so
 * normalizing on the CPU and inside `encode` give the same bits.
 */
import type { NormalizationStats } from "./ActivationSource.js"

export type NormalizationMode = "none" | "zscore" | "scale"

/** Smallest std / scale used as a divisor. */
export const STD_FLOOR = 1e-6

/**
 * `[numSources * dim]` divisors for `mode`: `std` per (source, dim) for zscore, the source's
 * `scale` broadcast over its dims for scale; each floored at {@link STD_FLOOR}.
 */
export const normalizationDivisor = (
  stats: NormalizationStats,
  mode: "zscore" | "scale",
  numSources: number,
  dim: number
): Float32Array => {
  const divisor = new Float32Array(numSources * dim)
  for (let s = 0; s < numSources; s++) {
    for (let d = 0; d < dim; d++) {
      const j = s * dim + d
      divisor[j] = Math.max(mode === "zscore" ? (stats.std[j] as number) : (stats.scale[s] as number), STD_FLOOR)
    }
  }
  return divisor
}

/**
 * In place: `rows` rows of `mean.length` values starting at `offset` → `(x − mean) / divisor`.
 * Returns `data`.
 */
export const normalizeRowsInPlace = (
  data: Float32Array,
  mean: Float32Array,
  divisor: Float32Array,
  offset = 0,
  rows = (data.length - offset) / mean.length
): Float32Array => {
  const w = mean.length
  for (let r = 0; r < rows; r++) {
    const o = offset + r * w
    for (let j = 0; j < w; j++)
      data[o + j] = Math.fround((data[o + j] as number) - (mean[j] as number)) / (divisor[j] as number)
  }
  return data
}
