import { readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { findSharedDir, sharedMissingMessage } from "@crosscode/core"
import { Effect, Stream } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import {
  chunkSentences,
  chunkText,
  cycleSource,
  fromTexts,
  jsonlSource,
  mixSources,
  paperRecipe,
  parquetSource,
  plainTextSource,
  type TextSample,
  type TextSourceShape,
  takeSamples,
  toolrlSource
} from "../src/index.js"
import { formatToolRLRow } from "../src/text/sources.js"
import { run, tempDir } from "./helpers.js"

const collect = (s: TextSourceShape): Promise<Array<TextSample>> => run(Stream.runCollect(s.stream))
const shared = findSharedDir()
const tmp = tempDir("text")
afterAll(() => tmp.cleanup())

describe("chunkText (port of the reference chunk_text)", () => {
  it("matches the Python reference on ToolRL rows and edge cases", () => {
    const cases = JSON.parse(readFileSync(path.join(import.meta.dirname, "fixtures/chunks.json"), "utf8")) as Array<{
      text: string
      chunks: Array<string>
    }>
    expect(cases.length).toBe(19)
    for (const c of cases) expect(chunkText(c.text)).toEqual(c.chunks)
  })

  it("keeps a long sentence whole and never exceeds the budget otherwise", () => {
    const long = `${"word ".repeat(55).trim()}.`
    expect(chunkText(`${long} Short one. Another short.`)).toEqual([long, "Short one. Another short."])
    const many = Array.from({ length: 30 }, (_, i) => `Sentence number ${i} is here.`).join(" ")
    for (const c of chunkText(many)) expect(c.split(/\s+/).length).toBeLessThanOrEqual(40)
  })
})

describe("file sources", () => {
  it("jsonl: field selector, dot paths, ids, blank lines, bad lines", async () => {
    const f = path.join(tmp.dir, "docs.jsonl")
    writeFileSync(f, `{"text":"a b c","meta":{"id":"x1"}}\n\n{"text":"d e","meta":{"id":"x2"}}\n`)
    const got = await collect(jsonlSource({ path: f, idField: "meta.id" }))
    expect(got).toEqual([
      { text: "a b c", dataset: "docs", id: "x1" },
      { text: "d e", dataset: "docs", id: "x2" }
    ])
    const nested = await collect(jsonlSource({ path: f, field: "meta.id", dataset: "ids" }))
    expect(nested.map((s) => [s.text, s.id, s.dataset])).toEqual([
      ["x1", "docs.jsonl:1", "ids"],
      ["x2", "docs.jsonl:3", "ids"]
    ])
    const bad = path.join(tmp.dir, "bad.jsonl")
    writeFileSync(bad, `{"text":"ok"}\n{"text": nope}\n`)
    const exit = await Effect.runPromiseExit(Stream.runCollect(jsonlSource({ path: bad }).stream))
    expect(exit._tag).toBe("Failure")
    expect(JSON.stringify(exit)).toContain("bad.jsonl:2: invalid JSON")
    const missing = await Effect.runPromiseExit(Stream.runCollect(jsonlSource({ path: f, field: "nope" }).stream))
    expect(JSON.stringify(missing)).toContain('field \\"nope\\" is missing')
    const noFile = await Effect.runPromiseExit(
      Stream.runCollect(jsonlSource({ path: path.join(tmp.dir, "none.jsonl") }).stream)
    )
    expect(JSON.stringify(noFile)).toContain("TextSourceError")
  })

  it("plain text: lines and paragraphs", async () => {
    const f = path.join(tmp.dir, "book.txt")
    writeFileSync(f, "first line\nsecond line\n\n\nthird para\nstill third\n")
    expect((await collect(plainTextSource({ path: f }))).map((s) => s.text)).toEqual([
      "first line",
      "second line",
      "third para",
      "still third"
    ])
    const paras = await collect(plainTextSource({ path: f, split: "paragraph" }))
    expect(paras.map((s) => [s.text, s.id])).toEqual([
      ["first line\nsecond line", "book.txt:1"],
      ["third para\nstill third", "book.txt:5"]
    ])
  })

  it("sources are re-runnable (same samples twice)", async () => {
    const f = path.join(tmp.dir, "book.txt")
    const s = plainTextSource({ path: f })
    expect(await collect(s)).toEqual(await collect(s))
  })
})

describe.skipIf(!shared)("real data files", () => {
  if (!shared) console.warn(sharedMissingMessage)
  const toolrlJson = path.join(shared ?? "", "data/toolrl/rlla_sft.json")
  const parquet = path.join(shared ?? "", "data/toolrl/test.parquet")

  it("ToolRL rows (rlla_sft.json) are instruction\\n\\ninput\\n\\noutput", async () => {
    const rows = JSON.parse(readFileSync(toolrlJson, "utf8")) as Array<{
      instruction: string
      input: string
      output: string
    }>
    const got = await collect(toolrlSource({ path: toolrlJson }))
    expect(got.length).toBe(rows.length)
    const r0 = rows[0] as (typeof rows)[number]
    expect(got[0]?.text).toBe(
      [r0.instruction.trim(), r0.input.trim(), r0.output.trim()].filter((x) => x !== "").join("\n\n")
    )
    expect(got[0]?.dataset).toBe("toolrl")
    expect(got[0]?.id).toBe("rlla_sft.json:0")
  })

  it("parquet (hyparquet): a column, and ToolRL formatting from parquet", async () => {
    const got = await collect(parquetSource({ path: parquet, column: "extra_info.instruction", batchRows: 7 }))
    expect(got.length).toBe(80)
    expect(got[0]?.id).toBe("test.parquet:0")
    expect(got[79]?.id).toBe("test.parquet:79")
    const tool = await collect(toolrlSource({ path: parquet }))
    expect(tool.length).toBe(80)
    const full = await collect(parquetSource({ path: parquet, select: (row) => formatToolRLRow(row) }))
    expect(tool.map((s) => s.text)).toEqual(full.map((s) => s.text))
    expect(tool[0]?.text.startsWith((got[0]?.text ?? "").trim())).toBe(true)
  })

  it("the paper recipe: chunked, 50/50, cycled ToolRL, ≥30-char chunks, deterministic", async () => {
    const web = fromTexts("web", [
      "The quick brown fox jumps over the lazy dog. It was a sunny day in the park and everyone was happy about it.",
      "Short.",
      "Another document with several sentences. Each one adds words. The chunker groups them until forty words are reached, then starts a new chunk for the rest of the text that follows here."
    ])
    const recipe = paperRecipe({ web, tool: toolrlSource({ path: toolrlJson }), samplesPerDataset: 50, seed: 7 })
    const a = await collect(recipe)
    const b = await collect(recipe)
    expect(a).toEqual(b)
    const tool = a.filter((s) => s.dataset === "toolrl")
    const webs = a.filter((s) => s.dataset === "fineweb")
    expect(tool.length).toBeLessThanOrEqual(50)
    expect(tool.length).toBeGreaterThan(30)
    expect(webs.length).toBe(2) // the web side has only 2 chunks of ≥ 30 chars; it is not cycled
    for (const s of a) expect(s.text.trim().length).toBeGreaterThanOrEqual(30)
    const other = await collect(
      paperRecipe({ web, tool: toolrlSource({ path: toolrlJson }), samplesPerDataset: 50, seed: 8 })
    )
    expect(other.map((s) => s.id)).not.toEqual(a.map((s) => s.id))
    expect([...other.map((s) => s.id)].sort()).toEqual([...a.map((s) => s.id)].sort())
  })
})

describe("mixing and cycling", () => {
  const a = fromTexts("a", ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"])
  const b = fromTexts("b", ["b0", "b1", "b2"])

  it("samplesPerSource gives exact 50/50 counts, cycling the short source, seeded", async () => {
    const mixed = await collect(mixSources([a, b], { seed: 1, samplesPerSource: 10 }))
    expect(mixed.length).toBe(20)
    expect(mixed.filter((s) => s.dataset === "a").map((s) => s.text)).toEqual([
      "a0",
      "a1",
      "a2",
      "a3",
      "a4",
      "a5",
      "a6",
      "a7",
      "a8",
      "a9"
    ])
    expect(mixed.filter((s) => s.dataset === "b").map((s) => s.text)).toEqual([
      "b0",
      "b1",
      "b2",
      "b0",
      "b1",
      "b2",
      "b0",
      "b1",
      "b2",
      "b0"
    ])
    expect(await collect(mixSources([a, b], { seed: 1, samplesPerSource: 10 }))).toEqual(mixed)
    const other = await collect(mixSources([a, b], { seed: 2, samplesPerSource: 10 }))
    expect(other.map((s) => s.dataset)).not.toEqual(mixed.map((s) => s.dataset))
  })

  it("without samplesPerSource every sample appears exactly once", async () => {
    const mixed = await collect(mixSources([a, b], { seed: 3 }))
    expect(mixed.map((s) => s.text).sort()).toEqual(
      ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "b0", "b1", "b2"].sort()
    )
  })

  it("cycle: true cycles the short source until the long one has been read once", async () => {
    const mixed = await collect(mixSources([a, b], { seed: 3, cycle: true }))
    expect(mixed.filter((s) => s.dataset === "a").map((s) => s.text)).toEqual([
      "a0",
      "a1",
      "a2",
      "a3",
      "a4",
      "a5",
      "a6",
      "a7",
      "a8",
      "a9"
    ])
    expect(mixed.filter((s) => s.dataset === "b").length).toBeGreaterThan(3)
  })

  it("cycleSource repeats, and refuses an empty source instead of spinning", async () => {
    const got = await collect(takeSamples(cycleSource(b), 7))
    expect(got.map((s) => s.text)).toEqual(["b0", "b1", "b2", "b0", "b1", "b2", "b0"])
    const exit = await Effect.runPromiseExit(Stream.runCollect(takeSamples(cycleSource(fromTexts("e", [])), 3).stream))
    expect(JSON.stringify(exit)).toContain("cannot cycle")
  })

  it("chunkSentences splits documents and names chunks id#k", async () => {
    const doc = fromTexts("d", [`${"Alpha beta gamma delta. ".repeat(15)}`, "ab"])
    const got = await collect(chunkSentences(doc))
    expect(got.map((s) => s.id)).toEqual(["d:0#0", "d:0#1"])
  })
})
