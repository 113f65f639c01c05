/**
 * Statistics for evaluation cells, all pure functions (no dependencies):
 *
 * - {@link wilson}: a proportion with its Wilson score interval (default 95 %);
 * - {@link meanSd}: mean ± standard deviation (sample SD by default, `ddof = 1`);
 * - {@link pairedT}: paired differences with a Student-t confidence interval (df = n − 1),
 *   the t statistic, a two-sided p-value and Cohen's d_z;
 * - {@link mcnemarExact}: exact (binomial) McNemar test on rescued vs broken pairs;
 * - {@link binomialTwoSided}, {@link tQuantile}, {@link tCdf}, {@link normalQuantile}: the
 *   distributions behind them, implemented here (Lanczos log-gamma, continued-fraction incomplete
 *   beta, Wichura's AS241 normal quantile).
 *
 * Bad input (n = 0, k > n, non-finite values, mismatched lengths) throws {@link StatsError}.
 */
import { Schema } from "effect"

export class StatsError extends Schema.TaggedError<StatsError>()("StatsError", {
  message: Schema.String
}) {}

const fail = (message: string): never => {
  throw new StatsError({ message })
}

// ---------------------------------------------------------------------------------------------
// Special functions
// ---------------------------------------------------------------------------------------------

const LANCZOS = [
  0.9999999999998099, 676.5203681218851, -1259.1392167224028, 771.3234287776531, -176.6150291621406, 12.507343278686905,
  -0.13857109526572012, 0.000009984369578019572, 1.5056327351493116e-7
]

/** ln Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15). */
export const lnGamma = (x: number): number => {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x)
  const z = x - 1
  let a = LANCZOS[0] as number
  const t = z + 7.5
  for (let i = 1; i < 9; i++) a += (LANCZOS[i] as number) / (z + i)
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a)
}

const betacf = (a: number, b: number, x: number): number => {
  const FPMIN = 1e-300
  const qab = a + b
  const qap = a + 1
  const qam = a - 1
  let c = 1
  let d = 1 - (qab * x) / qap
  if (Math.abs(d) < FPMIN) d = FPMIN
  d = 1 / d
  let h = d
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2))
    d = 1 + aa * d
    if (Math.abs(d) < FPMIN) d = FPMIN
    c = 1 + aa / c
    if (Math.abs(c) < FPMIN) c = FPMIN
    d = 1 / d
    h *= d * c
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2))
    d = 1 + aa * d
    if (Math.abs(d) < FPMIN) d = FPMIN
    c = 1 + aa / c
    if (Math.abs(c) < FPMIN) c = FPMIN
    d = 1 / d
    const del = d * c
    h *= del
    if (Math.abs(del - 1) < 1e-16) break
  }
  return h
}

/** Regularised incomplete beta I_x(a, b). */
export const incompleteBeta = (x: number, a: number, b: number): number => {
  if (x <= 0) return 0
  if (x >= 1) return 1
  const lbt = lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x)
  const bt = Math.exp(lbt)
  return x < (a + 1) / (a + b + 2) ? (bt * betacf(a, b, x)) / a : 1 - (bt * betacf(b, a, 1 - x)) / b
}

/** Standard normal CDF, through erfc(x) = Q(1/2, x²) (regularised upper incomplete gamma). */
export const normalCdf = (z: number): number => {
  const x = Math.abs(z) / Math.SQRT2
  const q = x === 0 ? 1 : upperGammaQ(0.5, x * x)
  return z >= 0 ? 1 - q / 2 : q / 2
}

const upperGammaQ = (a: number, x: number): number => {
  const gln = lnGamma(a)
  if (x < a + 1) {
    let sum = 1 / a
    let del = sum
    let ap = a
    for (let n = 0; n < 10_000; n++) {
      ap += 1
      del *= x / ap
      sum += del
      if (Math.abs(del) < Math.abs(sum) * 1e-17) break
    }
    return 1 - sum * Math.exp(-x + a * Math.log(x) - gln)
  }
  const FPMIN = 1e-300
  let b = x + 1 - a
  let c = 1 / FPMIN
  let d = 1 / b
  let h = d
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a)
    b += 2
    d = an * d + b
    if (Math.abs(d) < FPMIN) d = FPMIN
    c = b + an / c
    if (Math.abs(c) < FPMIN) c = FPMIN
    d = 1 / d
    const del = d * c
    h *= del
    if (Math.abs(del - 1) < 1e-16) break
  }
  return Math.exp(-x + a * Math.log(x) - gln) * h
}

/** Standard normal quantile (Wichura's AS241, PPND16; ~1e-16 relative accuracy). */
export const normalQuantile = (p: number): number => {
  if (!(p > 0 && p < 1)) fail(`normalQuantile: p must be in (0, 1), got ${p}`)
  const q = p - 0.5
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q
    return (
      (q *
        (((((((r * 2509.0809287301227 + 33430.57558358813) * r + 67265.7709270087) * r + 45921.95393154987) * r +
          13731.69376550946) *
          r +
          1971.5909503065513) *
          r +
          133.14166789178438) *
          r +
          3.3871328727963665)) /
      (((((((r * 5226.495278852546 + 28729.085735721943) * r + 39307.89580009271) * r + 21213.794301586597) * r +
        5394.196021424751) *
        r +
        687.1870074920579) *
        r +
        42.31333070160091) *
        r +
        1)
    )
  }
  let r = q < 0 ? p : 1 - p
  r = Math.sqrt(-Math.log(r))
  let val: number
  if (r <= 5) {
    r -= 1.6
    val =
      (((((((r * 0.0007745450142783414 + 0.022723844989269184) * r + 0.2417807251774506) * r + 1.2704582524523684) * r +
        3.6478483247632045) *
        r +
        5.769497221460691) *
        r +
        4.630337846156546) *
        r +
        1.4234371107496835) /
      (((((((r * 1.0507500716444169e-9 + 0.0005475938084995345) * r + 0.015198666563616457) * r + 0.14810397642748008) *
        r +
        0.6897673349851) *
        r +
        1.6763848301838038) *
        r +
        2.053191626637759) *
        r +
        1)
  } else {
    r -= 5
    val =
      (((((((r * 2.0103343992922881e-7 + 0.000027115555687434876) * r + 0.0012426609473880784) * r +
        0.026532189526576124) *
        r +
        0.29656057182850487) *
        r +
        1.7848265399172913) *
        r +
        5.463784911164114) *
        r +
        6.657904643501103) /
      (((((((r * 2.0442631033899397e-15 + 1.421511758316446e-7) * r + 0.000018463183175100548) * r +
        0.0007868691311456133) *
        r +
        0.014875361290850615) *
        r +
        0.1369298809227358) *
        r +
        0.599832206555888) *
        r +
        1)
  }
  return q < 0 ? -val : val
}

/** Student-t CDF with `df` degrees of freedom (df = Infinity gives the normal CDF). */
export const tCdf = (t: number, df: number): number => {
  if (!(df > 0)) fail(`tCdf: df must be > 0, got ${df}`)
  if (!Number.isFinite(df)) return normalCdf(t)
  if (t === Number.POSITIVE_INFINITY) return 1
  if (t === Number.NEGATIVE_INFINITY) return 0
  const x = df / (df + t * t)
  const tail = 0.5 * incompleteBeta(x, df / 2, 0.5)
  return t > 0 ? 1 - tail : tail
}

const tPdf = (t: number, df: number): number =>
  Math.exp(
    lnGamma((df + 1) / 2) - lnGamma(df / 2) - 0.5 * Math.log(df * Math.PI) - ((df + 1) / 2) * Math.log1p((t * t) / df)
  )

/** Student-t quantile: the x with `tCdf(x, df) = p` (bisection then Newton; ~1e-12). */
export const tQuantile = (p: number, df: number): number => {
  if (!(p > 0 && p < 1)) fail(`tQuantile: p must be in (0, 1), got ${p}`)
  if (!(df > 0)) fail(`tQuantile: df must be > 0, got ${df}`)
  if (!Number.isFinite(df)) return normalQuantile(p)
  if (p === 0.5) return 0
  if (p < 0.5) return -tQuantile(1 - p, df)
  let lo = 0
  let hi = Math.max(1, normalQuantile(p))
  while (tCdf(hi, df) < p) {
    lo = hi
    hi *= 2
    if (hi > 1e300) return Number.POSITIVE_INFINITY
  }
  for (let i = 0; i < 200 && hi - lo > 1e-12 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2
    if (tCdf(mid, df) < p) lo = mid
    else hi = mid
  }
  let x = (lo + hi) / 2
  for (let i = 0; i < 3; i++) {
    const f = tCdf(x, df) - p
    const d = tPdf(x, df)
    if (d <= 0) break
    const next = x - f / d
    if (!(next >= lo && next <= hi)) break
    x = next
  }
  return x
}

// ---------------------------------------------------------------------------------------------
// Intervals and tests
// ---------------------------------------------------------------------------------------------

export interface Proportion {
  readonly k: number
  readonly n: number
  /** k / n. */
  readonly p: number
  readonly lo: number
  readonly hi: number
  readonly level: number
}

/** Wilson score interval for k successes out of n (default 95 %). */
export const wilson = (k: number, n: number, level = 0.95): Proportion => {
  if (!Number.isInteger(n) || n <= 0) fail(`wilson: n must be a positive integer, got ${n}`)
  if (!Number.isInteger(k) || k < 0 || k > n) fail(`wilson: k must be an integer in [0, n], got ${k} of ${n}`)
  if (!(level > 0 && level < 1)) fail(`wilson: level must be in (0, 1), got ${level}`)
  const z = normalQuantile(1 - (1 - level) / 2)
  const p = k / n
  const z2 = z * z
  const denom = 1 + z2 / n
  const center = (p + z2 / (2 * n)) / denom
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom
  return { k, n, p, lo: Math.max(0, center - half), hi: Math.min(1, center + half), level }
}

export interface MeanSd {
  readonly n: number
  readonly mean: number
  /** Standard deviation with `ddof` (NaN-free: 0 when n − ddof ≤ 0 is rejected). */
  readonly sd: number
  readonly min: number
  readonly max: number
}

const checkFinite = (xs: ReadonlyArray<number>, what: string): void => {
  for (const x of xs) if (!Number.isFinite(x)) fail(`${what}: non-finite value ${x}`)
}

/** Mean ± SD. `ddof = 1` (default) is the sample SD; the paper's per-cell `np.std` is `ddof = 0`. */
export const meanSd = (xs: ReadonlyArray<number>, ddof: 0 | 1 = 1): MeanSd => {
  if (xs.length === 0) fail("meanSd: no values")
  if (xs.length - ddof <= 0) fail(`meanSd: need more than ${ddof} value(s) for ddof = ${ddof}`)
  checkFinite(xs, "meanSd")
  const n = xs.length
  const mean = xs.reduce((a, b) => a + b, 0) / n
  const ss = xs.reduce((a, x) => a + (x - mean) * (x - mean), 0)
  return { n, mean, sd: Math.sqrt(ss / (n - ddof)), min: Math.min(...xs), max: Math.max(...xs) }
}

export interface PairedT {
  readonly n: number
  readonly df: number
  /** Mean of `after − before`. */
  readonly meanDiff: number
  readonly sdDiff: number
  readonly se: number
  readonly tCritical: number
  readonly lo: number
  readonly hi: number
  readonly level: number
  /** meanDiff / se (±Infinity when every difference is the same non-zero value; 0 when all are 0). */
  readonly t: number
  /** Two-sided p-value. */
  readonly p: number
  /** Cohen's d_z = meanDiff / sdDiff (0 when sdDiff = 0 and meanDiff = 0, ±Infinity otherwise). */
  readonly dz: number
}

/** Paired-t CI on `after[i] − before[i]` with df = n − 1. */
export const pairedT = (before: ReadonlyArray<number>, after: ReadonlyArray<number>, level = 0.95): PairedT => {
  if (before.length !== after.length) fail(`pairedT: ${before.length} vs ${after.length} values`)
  if (before.length < 2) fail(`pairedT: need at least 2 pairs, got ${before.length}`)
  if (!(level > 0 && level < 1)) fail(`pairedT: level must be in (0, 1), got ${level}`)
  checkFinite(before, "pairedT")
  checkFinite(after, "pairedT")
  const diffs = before.map((b, i) => (after[i] as number) - b)
  const { n, mean, sd } = meanSd(diffs, 1)
  const df = n - 1
  const se = sd / Math.sqrt(n)
  const tCritical = tQuantile(1 - (1 - level) / 2, df)
  if (se === 0) {
    const t = mean === 0 ? 0 : mean > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY
    return {
      n,
      df,
      meanDiff: mean,
      sdDiff: 0,
      se: 0,
      tCritical,
      lo: mean,
      hi: mean,
      level,
      t,
      p: mean === 0 ? 1 : 0,
      dz: t
    }
  }
  const t = mean / se
  const p = Math.min(1, 2 * (1 - tCdf(Math.abs(t), df)))
  return {
    n,
    df,
    meanDiff: mean,
    sdDiff: sd,
    se,
    tCritical,
    lo: mean - tCritical * se,
    hi: mean + tCritical * se,
    level,
    t,
    p,
    dz: mean / sd
  }
}

const lnChoose = (n: number, k: number): number => lnGamma(n + 1) - lnGamma(k + 1) - lnGamma(n - k + 1)

/** P(X ≤ k) for X ~ Binomial(n, 1/2): exact integer arithmetic up to n = 5000, log space beyond. */
export const binomialHalfCdf = (k: number, n: number): number => {
  if (!Number.isInteger(n) || n < 0) fail(`binomialHalfCdf: n must be a non-negative integer, got ${n}`)
  if (k < 0) return 0
  if (k >= n) return 1
  if (n <= 5000) {
    let c = 1n
    let sum = 0n
    const bn = BigInt(n)
    for (let i = 0n; i <= BigInt(k); i++) {
      if (i > 0n) c = (c * (bn - i + 1n)) / i
      sum += c
    }
    // sum / 2^n with 60 bits of precision.
    const scaled = (sum << 60n) >> bn
    return Math.min(1, Number(scaled) / 2 ** 60)
  }
  let s = 0
  const ln2n = n * Math.LN2
  for (let i = 0; i <= k; i++) s += Math.exp(lnChoose(n, i) - ln2n)
  return Math.min(1, s)
}

/** Two-sided exact binomial (sign) test of `successes` vs `failures` under p = 1/2. */
export const binomialTwoSided = (successes: number, failures: number): number => {
  if (!Number.isInteger(successes) || !Number.isInteger(failures) || successes < 0 || failures < 0) {
    fail(`binomialTwoSided: counts must be non-negative integers, got ${successes}, ${failures}`)
  }
  const n = successes + failures
  if (n === 0) return 1
  return Math.min(1, 2 * binomialHalfCdf(Math.min(successes, failures), n))
}

export interface McNemar {
  /** Pairs failing before and passing after. */
  readonly rescued: number
  /** Pairs passing before and failing after. */
  readonly broken: number
  /** Exact two-sided p = min(1, 2·P(X ≤ min(b, c))), X ~ Bin(b + c, 1/2); 1 when b + c = 0. */
  readonly p: number
}

/** Exact McNemar test on paired binary outcomes. */
export const mcnemarExact = (before: ReadonlyArray<boolean>, after: ReadonlyArray<boolean>): McNemar => {
  if (before.length !== after.length) fail(`mcnemarExact: ${before.length} vs ${after.length} values`)
  let rescued = 0
  let broken = 0
  for (let i = 0; i < before.length; i++) {
    if (!before[i] && after[i]) rescued++
    else if (before[i] && !after[i]) broken++
  }
  return { rescued, broken, p: binomialTwoSided(rescued, broken) }
}
