/** Shared by the addon's tests. */

/** `n` values in [−1, 1) from a 32-bit LCG seeded with `seed` (the same inputs on every run). */
export const rand = (n: number, seed: number): Float32Array => {
  let s = seed >>> 0
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 31 - 1
  })
}
