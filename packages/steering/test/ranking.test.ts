/** Feature ranking and subset selection against hand-computed values (pure; no model). */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Cause, Effect, Exit, Result } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import {
  auroc,
  codeMatrix,
  cohensD,
  type FeatureRanking,
  type FeatureStat,
  fireRate,
  RANKING_CSV_COLUMNS,
  RankingError,
  rankFeatures,
  rankingToCsv,
  readRanking,
  selectTopSubset,
  writeRanking
} from "../src/index.js"
import { subsetSize } from "../src/ranking/rank.js"
import { runFiles, runFilesExit } from "./files.js"

const dir = mkdtempSync(path.join(tmpdir(), "steering-ranking-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Columns → a row-major matrix. */
const fromColumns = (cols: ReadonlyArray<ReadonlyArray<number>>) => {
  const rows = cols[0]!.length
  const data = new Float32Array(rows * cols.length)
  cols.forEach((c, j) => {
    c.forEach((v, r) => {
      data[r * cols.length + j] = v
    })
  })
  return codeMatrix(data, rows, cols.length)
}

describe("statistics", () => {
  it("Cohen's d uses the pooled SD sqrt((s1² + s2²)/2) with ddof = 1, and is 0 when that SD is 0", () => {
    expect(cohensD([1, 2, 3], [0, 0, 1])).toBeCloseTo(2.041241452319315, 12)
    expect(cohensD([1, 2, 3, 4], [2, 2, 3, 5])).toBeCloseTo(-0.36927447293799814, 12)
    expect(cohensD([0.5, 0.5, 0.5], [0, 0, 0])).toBe(0) // means differ but both SDs are 0
    expect(cohensD([0.1, 0.1, 0.1], [0.1, 0.1, 0.1])).toBe(0)
    expect(() => cohensD([1], [1, 2])).toThrow(RankingError)
    expect(() => cohensD([1, Number.NaN], [1, 2])).toThrow("non-finite")
  })

  it("AUROC counts ties as one half (= Mann–Whitney with average ranks)", () => {
    // Ranks of the combined sample: 1,1 → 1.5; 2,2,2,2 → 4.5; 3 → 7. R_tool = 17.5, U = 17.5 − 10 = 7.5.
    expect(auroc([1, 2, 2, 3], [2, 2, 1])).toBe(7.5 / 12)
    expect(auroc([1, 2, 3], [0, 0, 1])).toBe(8.5 / 9)
    expect(auroc([0, 0], [0, 0, 0])).toBe(0.5)
    expect(auroc([5], [1, 2])).toBe(1)
    expect(auroc([0, 0.05], [2, 3])).toBe(0)
    expect(() => auroc([], [1])).toThrow(RankingError)
  })

  it("firing rate counts values strictly above the threshold", () => {
    expect(fireRate([0, 0.1, 0.11, 2])).toBe(0.5)
    expect(fireRate([0, 0.1, 0.11, 2], 0)).toBe(0.75)
  })
})

describe("rankFeatures", () => {
  const groups = [
    { name: "exclusive:A", indices: Int32Array.of(0, 1), range: [0, 2] as const },
    { name: "exclusive:B", indices: Int32Array.of(2) },
    { name: "shared", indices: Int32Array.of(3), range: [3, 4] as const }
  ]
  const tool = fromColumns([
    [1, 2, 3],
    [0, 0, 0],
    [0.5, 0.5, 0.5],
    [0, 0, 0.05]
  ])
  const general = fromColumns([
    [0, 0, 1],
    [0, 0, 0],
    [0, 0, 0],
    [2, 3, 2]
  ])

  it("computes d, AUROC, firing rates, sign, partition and filter per feature", async () => {
    const r = await Effect.runPromise(rankFeatures(tool, general, { partition: { groups } }))
    expect(r.nTool).toBe(3)
    expect(r.fireThreshold).toBe(0.1)
    expect(r.groups.map((g) => [g.name, g.size])).toEqual([
      ["exclusive:A", 2],
      ["exclusive:B", 1],
      ["shared", 1]
    ])
    const [f0, f1, f2, f3] = r.features
    expect(f0).toMatchObject({
      feature: 0,
      partition: "exclusive:A",
      sign: "tool",
      fireRateTool: 1,
      passesFilter: false
    })
    expect(f0!.cohenD).toBeCloseTo(2.041241452319315, 6)
    expect(f0!.auroc).toBeCloseTo(8.5 / 9, 12)
    expect(f0!.fireRateGeneral).toBeCloseTo(1 / 3, 12) // > 0.1 → filter fails
    expect(f0!.meanTool).toBe(2)
    expect(f0!.sdTool).toBe(1)
    expect(f1).toMatchObject({ cohenD: 0, auroc: 0.5, sign: "general", fireRateTool: 0, passesFilter: false })
    expect(f2).toMatchObject({
      partition: "exclusive:B",
      cohenD: 0,
      auroc: 1,
      sign: "general",
      fireRateTool: 1,
      fireRateGeneral: 0,
      passesFilter: true
    })
    expect(f3).toMatchObject({ partition: "shared", sign: "general", auroc: 0, fireRateTool: 0, fireRateGeneral: 1 })
    expect(f3!.cohenD).toBeCloseTo(-5.667571195716942, 5)
  })

  it("labels every feature 'all' without a partition, and honours the threshold and filter options", async () => {
    const r = await Effect.runPromise(
      rankFeatures(tool, general, { fireThreshold: 1, filter: { minToolFireRate: 0.5, maxGeneralFireRate: 0.5 } })
    )
    expect(r.features.every((f) => f.partition === "all")).toBe(true)
    expect(r.features[0]).toMatchObject({ fireRateTool: 2 / 3, fireRateGeneral: 0, passesFilter: true })
  })

  it("rejects mismatched or too-small inputs with a RankingError", async () => {
    const fails = async (eff: Effect.Effect<unknown, RankingError>) => {
      const exit = await Effect.runPromiseExit(eff)
      expect(Exit.isFailure(exit)).toBe(true)
      return Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
    }
    expect(await fails(rankFeatures(tool, fromColumns([[1, 2, 3]])))).toContain(
      "tool codes have 4 features, general codes 1"
    )
    expect(await fails(rankFeatures(fromColumns([[1], [2], [3], [4]]), general))).toContain("at least 2 prompts")
    expect(await fails(rankFeatures(tool, general, { partition: { groups: groups.slice(0, 2) } }))).toContain(
      "feature 3 is in no partition group"
    )
    expect(() => codeMatrix(new Float32Array(5), 2, 3)).toThrow("is not [2, 3]")
    const nan = fromColumns([
      [1, Number.NaN],
      [1, 2]
    ])
    expect(await fails(rankFeatures(nan, nan))).toContain("feature 0: non-finite value NaN")
  })
})

describe("selectTopSubset (the paper's select_top_subset)", () => {
  const stat = (feature: number, partition: string, d: number, passesFilter = true): FeatureStat => ({
    feature,
    partition,
    cohenD: d,
    auroc: 0.5,
    meanTool: 0,
    meanGeneral: 0,
    sdTool: 0,
    sdGeneral: 0,
    fireRateTool: 0,
    fireRateGeneral: 0,
    sign: d > 0 ? "tool" : "general",
    passesFilter
  })
  const aD = [5, 0, 3, -1, 3, 0.5, 2, 0]
  const bD = [0, -2, 0, -0.5]
  const shD = [1, 0, -3, 4, 0, -1, 0, 2]
  const ranking: FeatureRanking = {
    features: [
      ...aD.map((d, i) => stat(i, "exclusive:A", d, i !== 2)),
      ...bD.map((d, i) => stat(8 + i, "exclusive:B", d)),
      ...shD.map((d, i) => stat(12 + i, "shared", d))
    ],
    nTool: 10,
    nGeneral: 10,
    fireThreshold: 0.1,
    filter: { minToolFireRate: 0.3, maxGeneralFireRate: 0.1 },
    groups: [
      { name: "exclusive:A", size: 8, range: [0, 8] },
      { name: "exclusive:B", size: 4, range: [8, 12] },
      { name: "shared", size: 8, range: [12, 20] }
    ]
  }
  const pick = (partition: string, k: number, useFilter = false) => {
    const r = selectTopSubset(ranking, partition, k, { useFilter })
    if (Result.isFailure(r)) throw r.failure
    return r.success
  }

  it("|S| = max(1, ceil(k%/100 · n_tool)), capped, from tool-signed features sorted by d (ties: lower id)", () => {
    expect(pick("A-excl", 4).features).toEqual([0]) // n_tool = 5: ceil(0.2) = 1
    expect(pick("A-excl", 50).features).toEqual([0, 2, 4]) // ceil(2.5) = 3; 2 and 4 tie at d = 3
    expect(pick("A-excl", 100).features).toEqual([0, 2, 4, 6, 5])
    expect(pick("A-excl", 100).parts).toEqual([{ group: "exclusive:A", nTool: 5, features: [0, 2, 4, 6, 5] }])
    expect(pick("B-excl", 100).features).toEqual([]) // no tool-signed feature
    expect(pick("shared", 34).features).toEqual([15, 19]) // n_tool = 3: ceil(1.02) = 2
    expect(pick("union", 34).features).toEqual([0, 2, 15, 19]) // A's top ceil(1.7) = 2, then shared's 2
    expect(pick("all", 10).features).toEqual([0]) // one pool of 8: ceil(0.8) = 1
    expect(pick("excl:A", 50).features).toEqual([0, 2, 4])
    expect(pick("union:A", 34).features).toEqual([0, 2, 15, 19])
    expect(pick("A-excl", 50, true).features).toEqual([0, 4]) // feature 2 fails the firing filter: n_tool = 4, ceil(2) = 2
  })

  it("keeps the paper's float expression (7% of 100 → 8) and rejects bad k% and unknown groups", () => {
    expect(subsetSize(7, 100)).toBe(8)
    expect(subsetSize(4, 8)).toBe(1)
    expect(subsetSize(100, 0)).toBe(0)
    expect(Result.isFailure(selectTopSubset(ranking, "A-excl", 0))).toBe(true)
    const unknown = selectTopSubset(ranking, "C-group", 10)
    expect(Result.isFailure(unknown) && unknown.failure.message).toContain('needs group "C-group"')
  })
})

describe("ranking files", () => {
  it("writes CSV sorted by d and JSON that reads back", async () => {
    const tool = fromColumns([
      [1, 2, 3],
      [4, 4, 5],
      [0, 0, 0]
    ])
    const general = fromColumns([
      [0, 0, 1],
      [0, 1, 0],
      [0, 0, 0]
    ])
    const ranking = await Effect.runPromise(rankFeatures(tool, general))
    const csv = path.join(dir, "out", "ranking.csv")
    const json = path.join(dir, "out", "ranking.json")
    await runFiles(writeRanking(ranking, { csv, json }))
    const lines = readFileSync(csv, "utf8").trim().split("\n")
    expect(lines[0]).toBe(RANKING_CSV_COLUMNS.join(","))
    expect(lines.slice(1).map((l) => l.split(",")[0])).toEqual(["1", "0", "2"])
    expect(lines[3]).toBe("2,all,0,0.5,0,0,0,0,0,0,general,false")
    expect(rankingToCsv(ranking)).toBe(readFileSync(csv, "utf8"))
    expect(await runFiles(readRanking(json))).toEqual(ranking)
    writeFileSync(path.join(dir, "bad.json"), '{"features": 3}')
    const bad = await runFilesExit(readRanking(path.join(dir, "bad.json")))
    expect(Exit.isFailure(bad) && Cause.pretty(bad.cause)).toContain("not a feature ranking")
    const missing = await runFilesExit(readRanking(path.join(dir, "nope.json")))
    expect(Exit.isFailure(missing) && Cause.pretty(missing.cause)).toContain("SteeringIOError")
  })
})
