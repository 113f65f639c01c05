/** Issue 15 item 5 (part): asking a stage for more prompts than its set holds is an error, not a smaller run. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { samplePrompts } from "../src/recipe/sources.js"

const dir = mkdtempSync(path.join(tmpdir(), "study-reliability-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("prompt sampling (issue 15 item 5)", () => {
  it("n larger than the prompt set is a StageError naming the numbers and the file", async () => {
    const file = path.join(dir, "prompts.jsonl")
    writeFileSync(file, ["a", "b", "c"].map((p, i) => JSON.stringify({ id: `p${i}`, prompt: p })).join("\n") + "\n")
    const spec = { kind: "jsonl", path: file } as const
    const three = await Effect.runPromise(samplePrompts(spec, 3, 42, "evaluate"))
    expect(three).toHaveLength(3)
    const e = await Effect.runPromise(Effect.flip(samplePrompts(spec, 4, 42, "evaluate")))
    expect(e._tag).toBe("StageError")
    expect(e.message).toContain("evaluate.n is 4")
    expect(e.message).toContain("holds 3 prompts")
    expect(e.message).toContain(file)
  })
})
