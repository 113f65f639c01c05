/**
 * `crosscode bfcl` end to end, in-process through `runCli`, on the shipped tiny model
 * (examples/models/embedded-tooluse, WebAssembly backend): two categories × 4 items, 24 new tokens,
 * in both of BFCL's prompt styles. Checks the records (one JSONL file per category, each record with
 * the raw text, the parse trace and the metrics), summary.json and the printed table, that a second
 * run generates nothing, that irrelevance accuracy is BFCL's (correct iff BFCL's decoder fails or
 * finds no call), and the typed errors for a bad category, a bad model directory and missing data.
 *
 * The tiny model was never trained on BFCL: accuracies are not asserted, only structure and counts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { findSharedDir, sharedMissingMessage } from "@crosscode/core"
import { bfclPythonDecode, bfclQwenDecode, type EvalRecord, isEmptyOutput, wilson } from "@crosscode/eval"
import { Exit } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import type { BfclSummary } from "../src/bfcl/run.js"
import { runCliCaptured } from "./runCliCaptured.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const model = path.resolve(here, "../../../examples/models/embedded-tooluse")
const shared = findSharedDir()
const bfclDir = shared !== undefined ? path.join(shared, "data", "bfcl") : undefined
const haveData = bfclDir !== undefined && existsSync(bfclDir)
const skipMessage =
  shared === undefined ? sharedMissingMessage : `${bfclDir} (BFCL v4 data) not found; skipping the bfcl CLI tests.`

const tmp = mkdtempSync(path.join(tmpdir(), "crosscode-bfcl-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const cli = runCliCaptured

const readLines = <A>(file: string): Array<A> =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as A)

describe("crosscode bfcl --help", () => {
  it("is listed by crosscode --help and documents its flags", async () => {
    const top = await cli(["--help"])
    expect(top.output).toMatch(/^\s+bfcl\s/m)
    const { exit, output } = await cli(["bfcl", "--help"])
    expect(Exit.isSuccess(exit)).toBe(true)
    for (const f of [
      "--model",
      "--tokenizer",
      "--data",
      "--categories",
      "--n",
      "--seed",
      "--style",
      "--max-new-tokens",
      "--out",
      "--backend"
    ])
      expect(output).toContain(f)
  })
})

const CATEGORIES = ["simple_python", "irrelevance"] as const
const N = 4

describe.skipIf(!haveData)(`crosscode bfcl ${haveData ? "" : skipMessage}`, () => {
  for (const style of ["qwen", "python"] as const) {
    it(`--style ${style}: records, summary and table; a second run resumes`, async () => {
      const out = path.join(tmp, style)
      const args = [
        "bfcl",
        "--model",
        model,
        ...(style === "python" ? ["--data", bfclDir as string] : []), // qwen: the default data directory
        "--categories",
        CATEGORIES.join(","),
        "--n",
        String(N),
        "--seed",
        "7",
        "--style",
        style,
        "--max-new-tokens",
        "24",
        "--out",
        out,
        "--backend",
        "wasm"
      ]
      const t0 = performance.now()
      const first = await cli(args)
      if (Exit.isFailure(first.exit)) throw new Error(`crosscode bfcl failed: ${first.output}`)
      console.log(`${first.output}\n(bfcl ${style}: ${((performance.now() - t0) / 1000).toFixed(1)} s)`)

      // one records file per category, N records each, with the raw text, parse trace and metrics
      for (const c of CATEGORIES) {
        const records = readLines<EvalRecord>(path.join(out, `${c}.jsonl`))
        expect(records).toHaveLength(N)
        expect(new Set(records.map((r) => r.itemId)).size).toBe(N)
        for (const r of records) {
          expect(r.category).toBe(c)
          expect(r.key).toBe(`bfcl|${r.itemId}`)
          expect(r.task).toBe(style === "python" ? "bfcl-python" : "bfcl-qwen")
          expect(typeof r.response).toBe("string")
          expect(r.prompt.text).toEqual(expect.any(String))
          expect(r.prompt.text).toContain(" Note that the provided function is in Python 3 syntax.")
          if (style === "python") expect(r.prompt.text).toContain("Here is a list of functions in json format")
          else expect(r.prompt.text).toContain("<tools>")
          expect(r.generation.newTokens).toBeGreaterThan(0)
          expect(r.generation.newTokens).toBeLessThanOrEqual(24)
          expect(Array.isArray(r.parse.calls)).toBe(true)
          expect(Array.isArray(r.parse.blocks)).toBe(true)
          expect(Array.isArray(r.parse.issues)).toBe(true)
          for (const m of ["bfcl.ast_official", "bfcl.ast_strict", "bfcl.ast_lenient"])
            expect(typeof r.metrics[m]).toBe("boolean")
          expect(r.metrics).toHaveProperty("format.n_calls")
        }
      }

      // summary.json
      const summary = JSON.parse(readFileSync(path.join(out, "summary.json"), "utf8")) as BfclSummary
      expect(summary.style).toBe(style)
      expect(summary.items).toBe(2 * N)
      expect(summary.generated).toBe(2 * N)
      expect(summary.resumed).toBe(0)
      expect(summary.settings).toMatchObject({ n: N, seed: 7, maxNewTokens: 24, backend: "wasm" })
      expect(summary.promptStyle._tag).toBe(style === "python" ? "BfclPrompting" : "QwenTools")
      expect(summary.categories.map((c) => c.category)).toEqual([...CATEGORIES])
      for (const c of summary.categories) {
        expect(c.n).toBe(N)
        const w = wilson(c.correct, c.n)
        expect(c.accuracy).toBeCloseTo(100 * w.p, 9)
        expect(c.lo).toBeCloseTo(100 * w.lo, 9)
        expect(c.hi).toBeCloseTo(100 * w.hi, 9)
      }
      const simple = summary.categories[0]!
      expect(summary.aggregate.nonLiveOverall).toEqual({
        accuracy: simple.accuracy,
        categories: ["simple_python"],
        complete: false
      })

      // irrelevance as BFCL defines it: correct iff BFCL's decoder fails or yields no call
      const decode = style === "python" ? bfclPythonDecode : bfclQwenDecode
      const irrelevance = readLines<EvalRecord>(path.join(out, "irrelevance.jsonl"))
      const noCall = irrelevance.map((r) => {
        const d = decode(r.response)
        return !d.ok || isEmptyOutput(d.calls)
      })
      expect(irrelevance.map((r) => r.metrics["bfcl.ast_official"])).toEqual(noCall)
      const k = noCall.filter(Boolean).length
      expect(summary.aggregate.irrelevance).toMatchObject({ correct: k, n: N, accuracy: (100 * k) / N })

      // the printed table
      expect(first.output).toMatch(/\| category \| n \| correct \| accuracy \| 95% CI \(Wilson\) \|/)
      expect(first.output).toMatch(new RegExp(`^\\| simple_python \\| ${N} \\| ${simple.correct} \\| `, "m"))
      expect(first.output).toMatch(new RegExp(`^\\| irrelevance \\| ${N} \\| ${k} \\| `, "m"))
      expect(first.output).toContain("non-live overall")
      expect(first.output).toContain(`irrelevance: ${((100 * k) / N).toFixed(1)}% (${k}/${N})`)
      expect(first.output).toContain(`${2 * N} items (${2 * N} generated, 0 resumed)`)

      // a second run resumes: nothing generated, files unchanged
      const before = CATEGORIES.map((c) => readFileSync(path.join(out, `${c}.jsonl`), "utf8"))
      const second = await cli(args)
      expect(Exit.isSuccess(second.exit)).toBe(true)
      expect(second.output).toContain(`(0 generated, ${2 * N} resumed)`)
      const again = JSON.parse(readFileSync(path.join(out, "summary.json"), "utf8")) as BfclSummary
      expect(again.generated).toBe(0)
      expect(again.resumed).toBe(2 * N)
      expect(again.categories).toEqual(summary.categories)
      expect(CATEGORIES.map((c) => readFileSync(path.join(out, `${c}.jsonl`), "utf8"))).toEqual(before)
    }, 120_000)
  }

  it("an unknown category fails with its name", async () => {
    const { exit, output } = await cli([
      "bfcl",
      "--model",
      model,
      "--categories",
      "simple_python,simple_rust",
      "--out",
      path.join(tmp, "bad"),
      "--backend",
      "wasm"
    ])
    expect(Exit.isFailure(exit)).toBe(true)
    expect(output).toContain('UnknownCategoryError: unknown BFCL category "simple_rust"')
  })

  it("a bad model directory and a missing data directory fail clearly", async () => {
    const noModel = await cli(["bfcl", "--model", path.join(tmp, "no-model"), "--out", path.join(tmp, "bad")])
    expect(Exit.isFailure(noModel.exit)).toBe(true)
    expect(noModel.output).toContain(`ModelDirError: model directory ${path.join(tmp, "no-model")} does not exist`)
    const noData = await cli([
      "bfcl",
      "--model",
      model,
      "--data",
      path.join(tmp, "no-data"),
      "--out",
      path.join(tmp, "bad")
    ])
    expect(Exit.isFailure(noData.exit)).toBe(true)
    expect(noData.output).toContain(`BfclDataError: BFCL data directory ${path.join(tmp, "no-data")} not found`)
  })
})
