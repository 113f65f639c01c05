/**
 * The sweep runner end to end on the tiny model pair (steering's test helpers), with the eval
 * package's runner, a character-level tokenizer and a scorer on the first generated token.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { type LanguageModelShape, sharedMissingMessage } from "@crosscode/core"
import type { Crosscoder } from "@crosscode/crosscoder"
import { type EvalItem, makeEvalRunner, makeScorer, makeTask, PromptStyles, type Task } from "@crosscode/eval"
import { type FeatureRanking, type InterventionError, type PairEncoder, rankPromptSets } from "@crosscode/steering"
import { Cause, Effect, Exit, type Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  asciiTokenizer,
  loadPair,
  longScope,
  pairLayer,
  prompts,
  shared,
  tinyCrosscoder
} from "../../steering/test/helpers.js"
import { BEST_OF_GRID_FLAG, runSweep, SWEEP_CSV_COLUMNS, type SweepSpec } from "../src/index.js"

const dir = mkdtempSync(path.join(tmpdir(), "study-sweep-"))

const text = (ids: ReadonlyArray<number>) => String.fromCharCode(...ids)
const firstToken = (response: string): number => {
  const m = /^⟨(\d+)⟩/.exec(response)
  return m !== null ? Number(m[1]) : response.charCodeAt(0)
}

/** Binary metric `first.even`: the first generated token id is even. */
const task = (texts: ReadonlyArray<string>): Task =>
  makeTask({
    name: "tiny-first-token",
    items: texts.map(
      (t, i): EvalItem => ({
        id: `p${i}`,
        source: "test",
        category: "test",
        messages: [],
        tools: [],
        expected: { _tag: "Unknown" },
        meta: { text: t }
      })
    ),
    prompt: PromptStyles.custom("raw-text", (item) => String(item.meta?.text)),
    scorers: [
      makeScorer({
        name: "first",
        description: "first generated token id is even",
        metrics: [{ name: "even", kind: "binary", description: "first token id % 2 == 0" }],
        score: ({ response }) => ({ metrics: { even: firstToken(response) % 2 === 0 } })
      })
    ]
  })

describe.skipIf(shared === undefined)("the sweep runner", () => {
  if (shared === undefined) console.warn(sharedMissingMessage)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const scope = longScope()
  let A: LanguageModelShape
  let cc: Crosscoder
  let layer: Layer.Layer<PairEncoder, InterventionError>
  let ranking: FeatureRanking
  const evalPrompts = prompts(6, 6, 11)
  const generalPrompts = prompts(6, 6, 99)

  beforeAll(async () => {
    const pair = await scope.use(loadPair)
    A = pair.A
    cc = await scope.use(tinyCrosscoder({ seed: 3 }))
    layer = pairLayer(pair, cc)
    ranking = await scope.use(Effect.provide(rankPromptSets({ tool: evalPrompts, general: generalPrompts }), layer))
  })
  afterAll(() => scope.close())

  const spec = (outputDir: string, overrides: Partial<SweepSpec> = {}): SweepSpec => ({
    runner: makeEvalRunner({ model: A, tokenizer: asciiTokenizer }),
    task: task(evalPrompts.map(text)),
    target: "A",
    ranking,
    partitions: ["A-excl", "B-excl", "shared", "union"],
    kPercents: [50, 100],
    alphas: [1, 16],
    metric: "first.even",
    outputDir,
    settings: { maxNewTokens: 3, stopTokenIds: [] },
    reconstruction: true,
    ...overrides
  })

  it("evaluates every cell against one clean run with paired CIs and McNemar; α = 1 and B-excl cells are exactly 0", async () => {
    const out = path.join(dir, "sweep1")
    const r = await scope.use(Effect.provide(runSweep(spec(out)), layer))
    expect(r.cells).toHaveLength(16)
    expect(r.resumedCells).toBe(0)
    expect(r.clean.n).toBe(6)
    expect(r.reconstruction?.stats.n).toBe(6)
    for (const c of r.cells) {
      expect(c.status).toBe("done")
      expect(c.stats!.n).toBe(6)
      expect(c.stats!.clean).toBe(r.clean.value)
      expect(c.stats!.delta).toBeCloseTo(c.stats!.steered - c.stats!.clean, 10)
      if (c.alpha === 1 || c.partition === "B-excl") {
        expect(c.stats!.delta).toBe(0)
        expect(c.stats!.mcnemar).toEqual({ rescued: 0, broken: 0, p: 1 })
      }
    }
    // Union = A-excl top-k% then shared top-k%.
    const union = r.cells.find((c) => c.id === "union|k100|a16")!
    const aAll = r.cells.find((c) => c.id === "A-excl|k100|a16")!
    const shAll = r.cells.find((c) => c.id === "shared|k100|a16")!
    expect(union.features).toEqual([...aAll.features, ...shAll.features])
    expect(r.best?.flag).toBe(BEST_OF_GRID_FLAG)
    expect(r.best!.cell.stats!.delta).toBe(Math.max(...r.cells.map((c) => c.stats!.delta)))
    expect(Object.keys(r.bestByPartition).sort()).toEqual(["A-excl", "B-excl", "shared", "union"])
    // The grid is not vacuous: steering A-exclusive and shared features moves the metric.
    expect(r.cells.some((c) => c.alpha === 16 && c.partition !== "B-excl" && c.stats!.delta !== 0)).toBe(true)
    const csv = readFileSync(r.files.csv, "utf8").trim().split("\n")
    expect(csv[0]).toBe(SWEEP_CSV_COLUMNS.join(","))
    expect(csv).toHaveLength(1 + 1 + 16)
    expect(csv[1]!.startsWith("reconstruction,")).toBe(true)
    const json = JSON.parse(readFileSync(r.files.json, "utf8"))
    expect(json.best.flag).toBe(BEST_OF_GRID_FLAG)
    expect(json.cells).toHaveLength(16)
  })

  it("resumes: finished cells are skipped, new cells of a larger grid run, a different config is refused", async () => {
    const out = path.join(dir, "sweep2")
    const first = await scope.use(Effect.provide(runSweep(spec(out, { alphas: [16], partitions: ["A-excl"] })), layer))
    expect(first.cells).toHaveLength(2)
    const recordsAfterFirst = readFileSync(first.files.records, "utf8").trim().split("\n").length
    const second = await scope.use(
      Effect.provide(runSweep(spec(out, { alphas: [1, 16], partitions: ["A-excl"] })), layer)
    )
    expect(second.resumedCells).toBe(2)
    expect(second.cells.map((c) => c.id)).toEqual([
      "A-excl|k50|a1",
      "A-excl|k50|a16",
      "A-excl|k100|a1",
      "A-excl|k100|a16"
    ])
    const third = await scope.use(
      Effect.provide(runSweep(spec(out, { alphas: [1, 16], partitions: ["A-excl"] })), layer)
    )
    expect(third.resumedCells).toBe(4)
    const recordsAfterThird = readFileSync(third.files.records, "utf8").trim().split("\n").length
    expect(recordsAfterThird).toBeGreaterThan(recordsAfterFirst)
    expect(third.cells).toEqual(second.cells)
    const cellLines = readFileSync(third.files.cells, "utf8").trim().split("\n")
    expect(cellLines).toHaveLength(4)
    const mismatch = await scope.use(Effect.exit(Effect.provide(runSweep(spec(out, { metric: "first.other" })), layer)))
    expect(Exit.isFailure(mismatch) && Cause.pretty(mismatch.cause)).toContain(
      "from a sweep with another configuration"
    )
    const badGrid = await scope.use(
      Effect.exit(Effect.provide(runSweep(spec(path.join(dir, "bad"), { kPercents: [0] })), layer))
    )
    expect(Exit.isFailure(badGrid) && Cause.pretty(badGrid.cause)).toContain("outside (0, 100]")
  })
})
