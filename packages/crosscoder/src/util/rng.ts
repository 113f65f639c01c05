/**
 * A small seeded PRNG (xoshiro128**, seeded through splitmix32) whose whole state is four uint32s,
 * so it can be stored in a checkpoint and resumed exactly. Normals by Box–Muller in float64.
 */
export type RngState = readonly [number, number, number, number]

const splitmix32 = (seed: number): (() => number) => {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0

export class Rng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number
  private spare: number | undefined = undefined

  private constructor(state: RngState) {
    ;[this.s0, this.s1, this.s2, this.s3] = state
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  /** A generator seeded from a 32-bit integer (any number; it is reduced mod 2^32). */
  static seeded(seed: number): Rng {
    const sm = splitmix32(Math.floor(seed) >>> 0)
    return new Rng([sm(), sm(), sm(), sm()])
  }

  static fromState(state: RngState): Rng {
    return new Rng(state)
  }

  /** The state (the cached Box–Muller spare is dropped: `state()` is taken between whole draws). */
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

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n)
    for (let i = 0; i < n; i++) p[i] = i
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = p[i]!
      p[i] = p[j]!
      p[j] = t
    }
    return p
  }
}
