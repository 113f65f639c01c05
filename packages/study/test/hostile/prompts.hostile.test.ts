/**
 * Hostile prompt files (JSONL `{ id, prompt }` rows) read by `samplePrompts`, as the evaluate and
 * steer stages do: each is a `StageError` (kind "data") naming the file and line, or the right
 * prompts — never a defect (a `null` row used to be a TypeError) or a silently wrong set (a
 * repeated id would be skipped as already evaluated on resume).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { EvalItem } from "@crosscode/eval"
import { afterAll, describe, expect } from "vitest"
import { type HostileCase, hostileCases } from "../../../../test-support/hostile.js"
import { samplePrompts } from "../../src/recipe/sources.js"
import { runFilesExit } from "../files.js"

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..")
const valid = readFileSync(path.join(repo, "examples/data/embedded/eval-tool-prompts.jsonl"), "utf8")
  .split("\n")
  .filter((l) => l.trim() !== "")
  .slice(0, 5)
const tmp = mkdtempSync(path.join(tmpdir(), "hostile-prompts-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

interface Ctx {
  readonly file: string
  lines: Array<string>
  n: number
  raw: string | undefined
  skipWrite: boolean
}
const line = (k: number, text: string) => (ctx: Ctx) => {
  ctx.lines[k] = text
}
const row = (k: number, f: (r: Record<string, unknown>) => void) => (ctx: Ctx) => {
  const r = JSON.parse(ctx.lines[k] as string) as Record<string, unknown>
  f(r)
  ctx.lines[k] = JSON.stringify(r)
}
const SE = "StageError"
const at = (k: number, what: RegExp) => ({ tag: SE, message: new RegExp(`:${k + 1}: ${what.source}`) })
const ids = (n: number) => (items: ReadonlyArray<EvalItem>) => expect(items).toHaveLength(n)

const cases: ReadonlyArray<HostileCase<Ctx, ReadonlyArray<EvalItem>>> = [
  {
    name: "the file is missing",
    corrupt: (c) => {
      c.skipWrite = true
    },
    expect: { tag: SE, message: /cannot read prompts/ }
  },
  { name: "a line is not JSON", corrupt: line(2, "{ nope"), expect: at(2, /not JSON/) },
  {
    name: "a line is null (was a TypeError)",
    corrupt: line(1, "null"),
    expect: at(1, /expected a JSON object, got null/)
  },
  { name: "a line is an array", corrupt: line(3, "[1, 2]"), expect: at(3, /expected a JSON object, got an array/) },
  { name: "a line is a string", corrupt: line(0, '"hello"'), expect: at(0, /expected a JSON object, got a string/) },
  {
    name: "prompt is missing",
    corrupt: row(2, (r) => delete r.prompt),
    expect: at(2, /field "prompt" is not a string/)
  },
  {
    name: "prompt is a number",
    corrupt: row(4, (r) => (r.prompt = 7)),
    expect: at(4, /field "prompt" is not a string/)
  },
  {
    name: "id is an object",
    corrupt: row(1, (r) => (r.id = { a: 1 })),
    expect: at(1, /field "id" is an object, not a string or number/)
  },
  {
    name: "an id repeats (issue 15: silently skipped on resume)",
    corrupt: row(3, (r) => (r.id = "eval-0")),
    expect: at(3, /id "eval-0" repeats line 1/)
  },
  {
    name: "an empty file: asking for one prompt names the size",
    corrupt: (c) => {
      c.lines = []
    },
    expect: { tag: SE, message: /holds 0 prompts/ }
  },
  {
    name: "n larger than the set",
    corrupt: (c) => {
      c.n = 6
    },
    expect: { tag: SE, message: /evaluate\.n is 6 but the prompt set .* holds 5 prompts/ }
  },
  {
    name: "a byte order mark and CRLF line ends: read correctly",
    corrupt: (c) => {
      c.raw = `\uFEFF${c.lines.join("\r\n")}\r\n`
      c.n = 5
    },
    expect: { ok: true, check: ids(5) }
  },
  {
    name: "blank lines between rows are skipped",
    corrupt: (c) => {
      c.lines = c.lines.flatMap((l) => [l, "", "   "])
      c.n = 5
    },
    expect: { ok: true, check: ids(5) }
  },
  {
    name: "numeric ids, and rows without an id (the line number is used)",
    corrupt: (c) => {
      c.lines = c.lines.map((l, k) => {
        const r = JSON.parse(l) as Record<string, unknown>
        if (k % 2 === 0) r.id = 100 + k
        else delete r.id
        return JSON.stringify(r)
      })
      c.n = 5
    },
    expect: {
      ok: true,
      check: (items) => expect(items.map((i) => i.id).sort()).toEqual(["1", "100", "102", "104", "3"])
    }
  }
]

let k = 0
describe("hostile prompt files (samplePrompts)", () => {
  hostileCases(
    cases,
    (): Ctx => ({
      file: path.join(tmp, `prompts-${k++}.jsonl`),
      lines: [...valid],
      n: 1,
      raw: undefined,
      skipWrite: false
    }),
    (ctx) => {
      if (!ctx.skipWrite) writeFileSync(ctx.file, ctx.raw ?? ctx.lines.join("\n"))
      return runFilesExit(samplePrompts({ kind: "jsonl", path: ctx.file }, ctx.n, 42, "evaluate"))
    }
  )
})
