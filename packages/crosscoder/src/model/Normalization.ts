/**
 * Input normalization, stored with the crosscoder.
 *
 * The rule: a crosscoder is trained on normalized activations x̃ = (x − mean) / divisor (per
 * source and dimension) and stores `mean` and `divisor`. `encode` / `decode` / `reconstruct` take
 * and return RAW activations: they normalize on the way in and denormalize on the way out.
 * `foldNormalization()` instead bakes the same maps into the weights (raw-space weights, mode
 * "none", `folded` recorded); both give the same codes and reconstructions.
 */
import { type NormalizationMode, type NormalizationStats, normalizationDivisor } from "@crosscode/activations"
import { Result } from "effect"

export interface Normalization {
  /** `none`: identity. `zscore`: (x − mean_sd)/std_sd. `scale`: (x − mean_sd)/scale_s. */
  readonly mode: NormalizationMode
  /** `[S * d]`. */
  readonly mean: Float32Array
  /** `[S * d]` (std per dim for zscore, the per-source scale broadcast for scale, ones for none). */
  readonly divisor: Float32Array
  /** Rows the statistics came from (0 for none). */
  readonly count: number
  /** Set on a folded crosscoder: the mode that was folded into the weights. */
  readonly foldedFrom?: NormalizationMode
}

export const identityNormalization = (sources: number, dim: number): Normalization => ({
  mode: "none",
  mean: new Float32Array(sources * dim),
  divisor: new Float32Array(sources * dim).fill(1),
  count: 0
})

/** The normalization for `mode` from an activation store's statistics (std/scale clamped at 1e-6). */
export const normalizationFromStats = (
  stats: NormalizationStats,
  mode: NormalizationMode,
  sources: number,
  dim: number
): Result.Result<Normalization, string> => {
  if (mode === "none") return Result.succeed(identityNormalization(sources, dim))
  const n = sources * dim
  if (stats.mean.length !== n || stats.std.length !== n || stats.scale.length !== sources) {
    return Result.fail(
      `normalization stats have mean ${stats.mean.length}, std ${stats.std.length}, scale ${stats.scale.length} entries; expected ${n}, ${n}, ${sources}`
    )
  }
  const divisor = normalizationDivisor(stats, mode, sources, dim)
  const bad = divisor.findIndex((v) => !Number.isFinite(v))
  if (bad >= 0)
    return Result.fail(
      `normalization stats: non-finite ${mode === "zscore" ? "std" : "scale"} at source ${Math.floor(bad / dim)}`
    )
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(stats.mean[i]!)) return Result.fail(`normalization stats: non-finite mean at index ${i}`)
  }
  return Result.succeed({
    mode,
    mean: Float32Array.from(stats.mean),
    divisor,
    count: stats.count
  })
}
