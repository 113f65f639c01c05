/**
 * A tiny seeded PRNG (mulberry32) so that every generated corpus, prompt set and weight init of
 * the embedded model pair is a pure function of its seed.
 *
 * Deliberately not core's `Rng` (xoshiro128**): the shipped models and data under examples/models
 * and examples/data/embedded were generated from this exact sequence, and regenerating them must
 * reproduce them (test/embedded.test.ts checks the prompt sets). The shuffle is core's
 * `shuffleInPlace` (the same Fisher–Yates) driven by this generator.
 */
import { shuffleInPlace } from "@crosscode/core"

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform integer in [0, n). */
  int(n: number): number
  pick<T>(xs: ReadonlyArray<T>): T
  /** `k` distinct elements in random order. */
  sample<T>(xs: ReadonlyArray<T>, k: number): Array<T>
  shuffle<T>(xs: ReadonlyArray<T>): Array<T>
  chance(p: number): boolean
  /** Standard normal (Box–Muller). */
  normal(): number
}

export const makeRng = (seed: number): Rng => {
  let s = seed >>> 0
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number): number => Math.floor(next() * n)
  const shuffle = <T>(xs: ReadonlyArray<T>): Array<T> => shuffleInPlace([...xs], { int })
  return {
    next,
    int,
    pick: (xs) => {
      if (xs.length === 0) throw new Error("pick from empty list")
      return xs[int(xs.length)] as (typeof xs)[number]
    },
    sample: (xs, k) => shuffle(xs).slice(0, k),
    shuffle,
    chance: (p) => next() < p,
    normal: () => {
      const u = Math.max(next(), 1e-12)
      const v = next()
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
    }
  }
}

/** Derive an independent stream seed from a base seed and a label. */
export const subSeed = (seed: number, label: string): number => {
  let h = (seed ^ 0x9e3779b9) >>> 0
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0
  return h
}
