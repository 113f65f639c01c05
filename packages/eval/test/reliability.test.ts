/**
 * Issue 15: one item's parse / score / serialize failure never stops an evaluation run, and deeply
 * nested tool calls are a parse failure rather than a stack overflow.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Effect, Logger } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import {
  type EvalItem,
  makeEvalRunner,
  makeScorer,
  paperTask,
  parseToolCalls,
  pyJsonLoads,
  readRecords
} from "../src/index.js"
import { MAX_JSON_DEPTH } from "../src/json/pyjson.js"
import { runFiles } from "./files.js"
import { getWeather } from "./fixtures/items.js"
import { fakeTokenizer, scriptedModel } from "./helpers/fakes.js"

const dir = mkdtempSync(path.join(tmpdir(), "eval-reliability-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const nested = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`
const deepCall = (n: number) =>
  `<tool_call>\n{"name": "get_weather", "arguments": {"city": ${nested(n)}}}\n</tool_call>`

describe("deep nesting (issue 15 item 1)", () => {
  it("is a parse failure beyond MAX_JSON_DEPTH, not a stack overflow", () => {
    expect(pyJsonLoads(nested(MAX_JSON_DEPTH)).ok).toBe(true)
    for (const n of [MAX_JSON_DEPTH + 1, 3000, 100_000]) {
      const r = pyJsonLoads(nested(n))
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.message).toMatch(/nesting deeper than 1000 levels/)
    }
    const objects = `${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}`
    expect(pyJsonLoads(objects).ok).toBe(false)
  })

  it("parseToolCalls reports an invalid block for a 100,000-deep call instead of throwing", () => {
    const r = parseToolCalls(deepCall(100_000))
    expect(r.calls).toEqual([])
    expect(r.issues.map((i) => i.kind)).toEqual(["invalid_json"])
    const py = parseToolCalls(`[get_weather(city=${nested(100_000)})]`)
    expect(py.calls).toEqual([])
  })
})

const items: ReadonlyArray<EvalItem> = ["a", "b", "c"].map((id) => ({
  id,
  source: "toolrl",
  category: "toolrl",
  messages: [{ role: "user", content: `question ${id}` }],
  tools: [getWeather],
  expected: { _tag: "Calls", calls: [{ name: "get_weather", arguments: { city: "Paris" } }] }
}))

const quiet = Logger.layer([Logger.make(() => undefined)])

describe("EvalRunner records one item's failure and goes on (issue 15 item 1)", () => {
  it("a deep call, a throwing scorer and an unserializable detail each become typed failures", async () => {
    let calls = 0 // items are generated in order, one per call: the first (item a) gets the deep call
    const model = scriptedModel(() =>
      calls++ === 0
        ? deepCall(20_000)
        : '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    )
    const fragile = makeScorer({
      name: "fragile",
      description: "throws on item b, returns an unserializable detail on item c",
      metrics: [{ name: "ok", kind: "binary", description: "always true" }],
      score: ({ item }) => {
        if (item.id === "b") throw new RangeError("Maximum call stack size exceeded")
        return { metrics: { ok: true }, detail: item.id === "c" ? { big: 1n } : undefined }
      }
    })
    const base = paperTask(items, "fixture")
    const task = { ...base, scorers: [...base.scorers, fragile] }
    const output = path.join(dir, "failures.jsonl")
    const runner = makeEvalRunner({ model, tokenizer: fakeTokenizer })
    const result = await runFiles(
      runner.run({ run: "r", task, output, settings: { maxNewTokens: 100_000 } }).pipe(Effect.provide(quiet))
    )
    expect(result.generated).toBe(3)
    const byId = new Map(result.records.map((r) => [r.itemId, r]))
    expect(byId.get("a")?.failures).toBeUndefined() // deep nesting: a parse issue, scored as no call
    expect(byId.get("a")?.parse.issues[0]?.kind).toBe("invalid_json")
    expect(byId.get("b")?.failures).toEqual([
      { stage: "score", scorer: "fragile", message: "Maximum call stack size exceeded" }
    ])
    expect(byId.get("b")?.metrics["fragile.ok"]).toBeUndefined()
    expect(byId.get("c")?.failures?.[0]?.stage).toBe("serialize")
    expect(result.summary.failed).toBe(2)
    expect(result.table).toMatch(/2 item\(s\) recorded with failures/)
    // Every record reached the file, and a resume reads them all back without generating again.
    expect(readFileSync(output, "utf8").trim().split("\n")).toHaveLength(3)
    expect(await runFiles(readRecords(output))).toHaveLength(3)
    const again = await runFiles(
      runner.run({ run: "r", task, output, settings: { maxNewTokens: 100_000 } }).pipe(Effect.provide(quiet))
    )
    expect(again.resumed).toBe(3)
  })
})
