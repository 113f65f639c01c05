import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { appendJsonLine, fingerprint, fnv1a64, readJsonLines, sha256, stableStringify } from "../src/index.js"
import { runFiles } from "./helpers.js"

const tmp = mkdtempSync(path.join(tmpdir(), "core-jsonl-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe("resumable JSON lines", () => {
  it("reads back what was appended; a missing file is empty; a cut-off last line is dropped and truncated away", async () => {
    const file = path.join(tmp, "a", "b.jsonl")
    expect(await runFiles(readJsonLines(file))).toEqual([])
    await runFiles(appendJsonLine(file, { i: 1 }))
    await runFiles(appendJsonLine(file, { i: 2 }))
    appendFileSync(file, '{"i": 3, "cut')
    expect(await runFiles(readJsonLines<{ i: number }>(file))).toEqual([{ i: 1 }, { i: 2 }])
    expect(readFileSync(file, "utf8")).toBe('{"i":1}\n{"i":2}\n')
  })

  it("a bad complete line is a JsonLinesError naming the file and the line", async () => {
    const file = path.join(tmp, "bad.jsonl")
    appendFileSync(file, '{"ok":1}\nnot json\n')
    const e = await runFiles(Effect.flip(readJsonLines(file)))
    expect(e._tag).toBe("JsonLinesError")
    expect(e).toMatchObject({ path: file, line: 2 })
  })
})

describe("fingerprints", () => {
  it("stableStringify sorts keys and drops undefined members; fnv1a64 matches the reference vector", () => {
    expect(stableStringify({ b: 1, a: [1, { d: undefined, c: "x" }] })).toBe('{"a":[1,{"c":"x"}],"b":1}')
    expect(fingerprint({ b: 1, a: 2 })).toBe(fingerprint({ a: 2, b: 1 }))
    // FNV-1a 64 of "a" (reference value from the FNV specification's test vectors)
    expect(fnv1a64("a")).toBe("af63dc4c8601ec8c")
    expect(sha256([new TextEncoder().encode("abc")])).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
  })
})
