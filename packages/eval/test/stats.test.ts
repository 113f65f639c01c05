import { describe, expect, it } from "vitest"
import { PythonRandom } from "../src/data/pythonRandom.js"
import { mcnemarExact, meanSd, pairedT, pythonSample, StatsError, wilson } from "../src/index.js"
import { binomialTwoSided, normalCdf, normalQuantile, tCdf, tQuantile } from "../src/stats/stats.js"

describe("distributions", () => {
  it("t quantiles match the printed tables", () => {
    // Two-sided 95% critical values t_{0.975, df} (each checked by Simpson integration of the t density).
    const table: Array<[number, number]> = [
      [1, 12.706204736174705],
      [2, 4.302652729749464],
      [5, 2.5705818356363146],
      [10, 2.2281388519862744],
      [30, 2.0422724563012373],
      [39, 2.0226909200367613],
      [100, 1.9839715184496334]
    ]
    for (const [df, t] of table) expect(tQuantile(0.975, df), `df ${df}`).toBeCloseTo(t, 9)
    expect(tQuantile(0.995, 5)).toBeCloseTo(4.032142983557536, 9)
    expect(tQuantile(0.025, 10)).toBeCloseTo(-2.2281388519862744, 9)
    expect(tQuantile(0.975, Number.POSITIVE_INFINITY)).toBeCloseTo(1.959963984540054, 12)
  })

  it("t CDF and normal functions are consistent", () => {
    expect(tCdf(2.0226909200367613, 39)).toBeCloseTo(0.975, 12)
    expect(tCdf(0, 7)).toBe(0.5)
    // df = 1 is Cauchy: F(1) = 3/4.
    expect(tCdf(1, 1)).toBeCloseTo(0.75, 12)
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 14)
    expect(normalQuantile(1e-10)).toBeCloseTo(-6.361340902404056, 9)
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 12)
  })
})

describe("Wilson interval", () => {
  it("19/100 (the paper's Model A baseline)", () => {
    // p = 0.19, z = 1.959963984540054: center (p + z²/2n)/(1 + z²/n), half z·sqrt(p(1−p)/n + z²/4n²)/(1 + z²/n)
    const w = wilson(19, 100)
    expect(w.p).toBe(0.19)
    expect(w.lo).toBeCloseTo(0.12514751509768735, 12)
    expect(w.hi).toBeCloseTo(0.27778845379064376, 12)
  })

  it("0/100 and 100/100 stay inside [0, 1]", () => {
    const zero = wilson(0, 100)
    expect(zero.lo).toBeCloseTo(0, 12)
    expect(zero.hi).toBeCloseTo(0.03699349820698568, 12)
    const all = wilson(100, 100)
    expect(all.hi).toBeCloseTo(1, 12)
    expect(all.lo).toBeCloseTo(1 - 0.03699349820698568, 12)
  })

  it("rejects bad counts with a StatsError", () => {
    expect(() => wilson(3, 0)).toThrow(StatsError)
    expect(() => wilson(5, 4)).toThrow(/k must be/)
  })
})

describe("paired statistics", () => {
  it("McNemar exact p for known counts", () => {
    // b = 10 rescued, c = 2 broken: 2·P(X ≤ 2 | n = 12) = 2·(1 + 12 + 66)/4096
    expect(binomialTwoSided(10, 2)).toBeCloseTo(0.03857421875, 14)
    expect(binomialTwoSided(26, 0)).toBeCloseTo(2.9802322387695312e-8, 20)
    expect(binomialTwoSided(7, 3)).toBeCloseTo(0.34375, 14)
    expect(binomialTwoSided(0, 0)).toBe(1)
    expect(binomialTwoSided(5, 5)).toBe(1)
    const before = [false, false, true, true, false, true]
    const after = [true, true, true, false, false, true]
    expect(mcnemarExact(before, after)).toEqual({ rescued: 2, broken: 1, p: 1 })
  })

  it("paired t CI with df = n − 1 (hand-computed)", () => {
    // diffs = [1, 2, 3, 4]: mean 2.5, sd = sqrt(5/3), se = sd/2, t crit (df 3) = 3.182446305284263
    const r = pairedT([0, 0, 0, 0], [1, 2, 3, 4])
    const sd = Math.sqrt(5 / 3)
    expect(r.df).toBe(3)
    expect(r.meanDiff).toBe(2.5)
    expect(r.sdDiff).toBeCloseTo(sd, 14)
    expect(r.tCritical).toBeCloseTo(3.182446305284263, 9)
    expect(r.lo).toBeCloseTo(2.5 - (3.182446305284263 * sd) / 2, 8)
    expect(r.hi).toBeCloseTo(2.5 + (3.182446305284263 * sd) / 2, 8)
    expect(r.t).toBeCloseTo(2.5 / (sd / 2), 12)
    // two-sided p of t = 3.872983346207417 at df 3
    expect(r.p).toBeCloseTo(0.030466291662170977, 8)
    expect(r.dz).toBeCloseTo(2.5 / sd, 12)
  })

  it("constant differences give a degenerate but finite interval", () => {
    const r = pairedT([0, 0, 0], [1, 1, 1])
    expect(r).toMatchObject({ lo: 1, hi: 1, p: 0, t: Number.POSITIVE_INFINITY })
    expect(pairedT([1, 1], [1, 1])).toMatchObject({ t: 0, p: 1, dz: 0 })
    expect(() => pairedT([1], [2])).toThrow(StatsError)
  })

  it("mean ± SD with ddof 1 (runs) or 0 (the paper's np.std)", () => {
    expect(meanSd([2, 4, 4, 4, 5, 5, 7, 9], 0).sd).toBe(2)
    expect(meanSd([2, 4, 4, 4, 5, 5, 7, 9]).sd).toBeCloseTo(Math.sqrt(32 / 7), 14)
    expect(() => meanSd([])).toThrow(StatsError)
    expect(() => meanSd([1, Number.NaN])).toThrow(/non-finite/)
  })
})

describe("CPython random", () => {
  it("random.seed(42); random.sample(...) as in Python 3.11", () => {
    // Values printed by CPython 3.11.7.
    expect(pythonSample([...Array(100).keys()], 10, 42)).toEqual([81, 14, 3, 94, 35, 31, 28, 17, 13, 86])
    expect(pythonSample([...Array(50).keys()], 10, 42)).toEqual([40, 7, 1, 17, 15, 14, 8, 6, 34, 5])
    expect(pythonSample([...Array(4000).keys()], 12, 42)).toEqual([
      2619, 456, 102, 3037, 1126, 1003, 914, 571, 3016, 419, 2771, 3033
    ])
    expect(pythonSample([...Array(400).keys()], 100, 42).slice(0, 10)).toEqual([
      327, 57, 12, 379, 140, 125, 114, 71, 377, 52
    ])
    expect(pythonSample([..."abcdefgh"], 3, 7)).toEqual(["f", "b", "d"])
    expect(pythonSample([...Array(1000).keys()], 5, 2n ** 40n + 5n)).toEqual([516, 529, 275, 679, 948])
  })

  it("random.random()", () => {
    const r = new PythonRandom(42)
    expect(r.random()).toBe(0.6394267984578837)
    expect(r.random()).toBe(0.025010755222666936)
  })
})
