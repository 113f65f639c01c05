/**
 * Per-feature statistics between two prompt sets (pure functions; bad input throws RankingError):
 *
 * - {@link cohensD}: (μ₁ − μ₂) / sqrt((s₁² + s₂²) / 2) with sample variances (ddof = 1), and d = 0
 *   when the pooled SD is 0 (method.md §5.3).
 * - {@link auroc}: P(x > y) + ½ P(x = y) for x from the first set and y from the second, i.e. the
 *   Mann–Whitney U / (n₁ n₂) with average ranks for ties.
 * - {@link fireRate}: fraction of values strictly above a threshold (the paper's FIRE_THRESHOLD 0.1).
 */
import { RankingError } from "../errors.js"

const fail = (message: string): never => {
  throw new RankingError({ message })
}

export interface Moments {
  readonly n: number
  readonly mean: number
  /** Sample variance (ddof = 1); exactly 0 when all values are equal. */
  readonly variance: number
}

/** Mean and sample variance (two-pass, float64). Needs at least 2 finite values. */
export const moments = (xs: ArrayLike<number>): Moments => {
  const n = xs.length
  if (n < 2) fail(`need at least 2 values for a sample variance, got ${n}`)
  let sum = 0
  let min = Number.POSITIVE_INFINITY
  let max = Number.NEGATIVE_INFINITY
  for (let i = 0; i < n; i++) {
    const x = xs[i]!
    if (!Number.isFinite(x)) fail(`non-finite value ${x} at index ${i}`)
    sum += x
    if (x < min) min = x
    if (x > max) max = x
  }
  const mean = sum / n
  if (min === max) return { n, mean: min, variance: 0 }
  let ss = 0
  for (let i = 0; i < n; i++) ss += (xs[i]! - mean) * (xs[i]! - mean)
  return { n, mean, variance: ss / (n - 1) }
}

/** Cohen's d from moments: (μ₁ − μ₂) / sqrt((s₁² + s₂²)/2), 0 when that pooled SD is 0. */
export const cohensDFromMoments = (a: Moments, b: Moments): number => {
  const pooled = Math.sqrt((a.variance + b.variance) / 2)
  return pooled === 0 ? 0 : (a.mean - b.mean) / pooled
}

/** Cohen's d of `a` vs `b` (positive when `a` is larger). */
export const cohensD = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  cohensDFromMoments(moments(a), moments(b))

/** AUROC of `positive` vs `negative` with ties counted one half (sorts copies; O(n log n)). */
export const auroc = (positive: ArrayLike<number>, negative: ArrayLike<number>): number => {
  const n1 = positive.length
  const n2 = negative.length
  if (n1 === 0 || n2 === 0) fail(`auroc needs both sets non-empty (got ${n1} and ${n2})`)
  const p = Float64Array.from(positive as ArrayLike<number>)
  const q = Float64Array.from(negative as ArrayLike<number>)
  for (const x of p) if (Number.isNaN(x)) fail("auroc: NaN value")
  for (const x of q) if (Number.isNaN(x)) fail("auroc: NaN value")
  p.sort()
  q.sort()
  // For each positive value: (#negatives below) + ½ (#negatives equal).
  let below = 0
  let upTo = 0
  let u = 0
  for (let i = 0; i < n1; i++) {
    const x = p[i]!
    while (below < n2 && q[below]! < x) below++
    if (upTo < below) upTo = below
    while (upTo < n2 && q[upTo]! <= x) upTo++
    u += below + 0.5 * (upTo - below)
  }
  return u / (n1 * n2)
}

/** Fraction of values strictly greater than `threshold`. */
export const fireRate = (xs: ArrayLike<number>, threshold = 0.1): number => {
  if (xs.length === 0) fail("fireRate: no values")
  let k = 0
  for (let i = 0; i < xs.length; i++) if (xs[i]! > threshold) k++
  return k / xs.length
}
