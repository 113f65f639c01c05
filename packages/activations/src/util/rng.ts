/**
 * Small deterministic PRNGs. Everything seeded in this package (shuffles, mixing order) goes
 * through here so that a (seed, stream) pair always gives the same sequence on every platform.
 */

/** 32-bit integer hash (murmur3 finaliser) used to derive independent seeds. */
const fmix32 = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Combine a seed with extra stream identifiers (epoch, source index, ...) into one 32-bit seed. */
export const deriveSeed = (seed: number, ...parts: ReadonlyArray<number>): number => {
  let h = fmix32((Math.trunc(seed) ^ 0x9e3779b9) >>> 0)
  // also fold the high bits of large seeds
  h = fmix32(h ^ Math.trunc(seed / 0x100000000))
  for (const p of parts) h = fmix32((h + Math.imul(Math.trunc(p) >>> 0, 0x27d4eb2f) + 0x165667b1) >>> 0)
  return h
}

export interface Rng {
  /** Uniform in [0, 1). */
  readonly next: () => number
  /** Uniform integer in [0, n). */
  readonly int: (n: number) => number
}

/** sfc32 seeded through splitmix-style hashing of `seed` and `parts`. */
export const makeRng = (seed: number, ...parts: ReadonlyArray<number>): Rng => {
  const s = deriveSeed(seed, ...parts)
  let a = fmix32(s ^ 0x1b873593)
  let b = fmix32(s + 0x6b43a9b5)
  let c = fmix32(s ^ 0xcc9e2d51)
  let d = 1
  const u32 = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  for (let i = 0; i < 12; i++) u32()
  const next = (): number => (u32() * 2 ** 21 + (u32() >>> 11)) / 2 ** 53
  return { next, int: (n: number) => Math.floor(next() * n) }
}

/** In-place Fisher–Yates shuffle. */
export const shuffleInPlace = <T>(xs: { length: number; [i: number]: T }, rng: Rng): void => {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const t = xs[i] as T
    xs[i] = xs[j] as T
    xs[j] = t
  }
}
