/**
 * The embedded pair's PRNG (mulberry32) drives the regeneration of the shipped models and data
 * (examples/models, examples/data/embedded), so its sequence is pinned: the values below were
 * recorded from it before its shuffle moved onto core's `shuffleInPlace`.
 */
import { describe, expect, it } from "vitest"
import { makeRng, subSeed } from "../src/embedded/rng.js"

describe("embedded rng", () => {
  it("reproduces its recorded sequence", () => {
    const e = makeRng(1234)
    expect([e.next(), e.next()]).toEqual([0.07329497812315822, 0.7034119898453355])
    expect(e.int(1000)).toBe(902)
    expect(e.shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])).toEqual([2, 3, 5, 7, 6, 4, 1, 8, 0, 9])
    expect(e.sample(["a", "b", "c", "d", "e"], 3)).toEqual(["b", "d", "a"])
    expect(e.pick([10, 20, 30])).toBe(20)
    expect(e.normal()).toBeCloseTo(2.10747570961462, 13)
    expect(e.chance(0.5)).toBe(false)
    expect(subSeed(7, "corpus")).toBe(3859268250)
  })
})
