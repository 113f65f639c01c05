/**
 * The seeded PRNG of every crosscode package: xoshiro128** (Blackman & Vigna), whose whole state
 * is four uint32s, so it can be stored (a crosscoder checkpoint keeps it) and resumed exactly.
 * Pure integer arithmetic: a seed gives the same sequence on every platform and backend.
 *
 * Seeding: `Rng.seeded(seed, ...streams)` hashes the seed and the stream ids (epoch, batch row,
 * tensor index, ...) into one 32-bit value with {@link deriveSeed}, which splitmix32 expands into
 * the state. Different streams of one seed are independent generators. With no streams, a seed in
 * (-2^32, 2^32) is used as `seed mod 2^32` (so `Rng.seeded(s)` is xoshiro128** seeded through
 * splitmix32(s >>> 0)); larger integers (up to 2^53) also mix their high bits in.
 *
 * Draws: `nextU32` (uniform uint32), `uniform` ([0, 1) with 53 bits, from two uint32s), `int(n)`
 * (`floor(uniform() * n)`), `normal` (Box–Muller in float64, both values used), `fillNormal`,
 * `shuffle` / `permutation` (Fisher–Yates from the last index down, `j = int(i + 1)`).
 */

export type RngState = readonly [number, number, number, number]

/** murmur3's 32-bit finaliser: a bijective mix of a uint32. */
const fmix32 = (h: number): number => {
  h = (h ^ (h >>> 16)) >>> 0
  h = Math.imul(h, 0x85ebca6b) >>> 0
  h = (h ^ (h >>> 13)) >>> 0
  h = Math.imul(h, 0xc2b2ae35) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

/** A splitmix32 stream from a 32-bit seed (expands one word into the generator's four). */
const splitmix32 = (seed: number): (() => number) => {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    return fmix32(s)
  }
}

/** The integer part of `x` as [low 32 bits, high bits (two's complement, as a signed number)]. */
const split = (x: number): readonly [number, number] => {
  const i = Math.floor(x)
  return [i >>> 0, Math.floor(i / 4294967296)]
}

/**
 * One 32-bit seed from a seed and stream ids (integers; fractions are floored). Without streams a
 * seed in (-2^32, 2^32) maps to `seed mod 2^32`; every stream id, and the high bits of a larger
 * seed, is mixed in with murmur3's finaliser.
 */
export const deriveSeed = (seed: number, ...streams: ReadonlyArray<number>): number => {
  const [lo, hi] = split(seed)
  let h = lo
  if (hi !== 0 && hi !== -1) h = fmix32((h ^ fmix32((hi >>> 0) ^ 0x5bd1e995)) >>> 0)
  for (const stream of streams) {
    const [slo, shi] = split(stream)
    h = fmix32((h + 0x9e3779b9 + Math.imul(slo, 0x27d4eb2f)) >>> 0)
    h = fmix32((h ^ (shi >>> 0) ^ 0x165667b1) >>> 0)
  }
  return h
}

/** In-place Fisher–Yates shuffle (from the last index down, `j = rng.int(i + 1)`) with any generator. */
export const shuffleInPlace = <A extends { length: number; [i: number]: unknown }>(
  xs: A,
  rng: { int(n: number): number }
): A => {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const t = xs[i]
    xs[i] = xs[j]
    xs[j] = t
  }
  return xs
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0

export class Rng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number
  private spare: number | undefined = undefined

  private constructor(state: RngState) {
    this.s0 = state[0] >>> 0
    this.s1 = state[1] >>> 0
    this.s2 = state[2] >>> 0
    this.s3 = state[3] >>> 0
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  /** A generator for `(seed, ...streams)` (see {@link deriveSeed}). */
  static seeded(seed: number, ...streams: ReadonlyArray<number>): Rng {
    const sm = splitmix32(deriveSeed(seed, ...streams))
    return new Rng([sm(), sm(), sm(), sm()])
  }

  /** Resumes from a `state()` (the all-zero state, which xoshiro cannot leave, is replaced). */
  static fromState(state: RngState): Rng {
    return new Rng(state)
  }

  /** The state (the cached Box–Muller spare is dropped: take `state()` between whole draws). */
  state(): RngState {
    return [this.s0, this.s1, this.s2, this.s3]
  }

  /** Uniform uint32. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0
    const t = (this.s1 << 9) >>> 0
    this.s2 = (this.s2 ^ this.s0) >>> 0
    this.s3 = (this.s3 ^ this.s1) >>> 0
    this.s1 = (this.s1 ^ this.s2) >>> 0
    this.s0 = (this.s0 ^ this.s3) >>> 0
    this.s2 = (this.s2 ^ t) >>> 0
    this.s3 = rotl(this.s3, 11)
    return result
  }

  /** Uniform in [0, 1) with 53 bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5
    const lo = this.nextU32() >>> 6
    return (hi * 67108864 + lo) / 9007199254740992
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n)
  }

  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.spare !== undefined) {
      const v = this.spare
      this.spare = undefined
      return v
    }
    let u = 0
    while (u === 0) u = this.uniform()
    const v = this.uniform()
    const r = Math.sqrt(-2 * Math.log(u))
    this.spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }

  /** Fills `out` with N(0, std²) values; drops any cached spare afterwards so the state stays storable. */
  fillNormal(out: Float32Array, std = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal() * std
    this.spare = undefined
    return out
  }

  /** Shuffles `xs` in place (Fisher–Yates) and returns it. */
  shuffle<A extends { length: number; [i: number]: unknown }>(xs: A): A {
    return shuffleInPlace(xs, this)
  }

  /** A uniformly random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n)
    for (let i = 0; i < n; i++) p[i] = i
    return this.shuffle(p)
  }
}
