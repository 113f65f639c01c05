/** Runs the worked example of docs/extending-text-source.md exactly as written there. */

import { writeFileSync } from "node:fs"
import * as path from "node:path"
import { Effect, Stream } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { importDocExample, removeGenDir } from "../../../test-support/docExample.js"
import type { TextSample, TextSourceShape } from "../src/index.js"
import { tempDir } from "./helpers.js"

const genDir = path.join(import.meta.dirname, ".cache")
const tmp = tempDir("docs")
afterAll(() => {
  tmp.cleanup()
  removeGenDir(genDir)
})

describe("docs/extending-text-source.md", () => {
  it("the custom-source example runs and behaves as described", async () => {
    const mod = await importDocExample<{
      markdownSections: (dir: string) => TextSourceShape
      docsAndChat: (dir: string) => TextSourceShape
    }>("extending-text-source.md", "custom-source", genDir)
    writeFileSync(
      path.join(tmp.dir, "b.md"),
      "# B\n\n## Usage\nRun the tool. It prints a report. The report lists every file.\n"
    )
    writeFileSync(
      path.join(tmp.dir, "a.md"),
      `# A\n\n## Intro\n${"This sentence has exactly seven words in it. ".repeat(8)}\n## Empty\n\n`
    )
    writeFileSync(path.join(tmp.dir, "ignored.txt"), "not markdown")
    const sections = await Effect.runPromise(Stream.runCollect(mod.markdownSections(tmp.dir).stream))
    expect(sections.map((s: TextSample) => s.id)).toEqual(["a.md#0", "a.md#1", "a.md#2", "b.md#0", "b.md#1"])
    expect(sections[1]?.text.startsWith("Intro")).toBe(true)
    const mixed = await Effect.runPromise(Stream.runCollect(mod.docsAndChat(tmp.dir).stream))
    expect(mixed.length).toBe(8)
    expect(mixed.filter((s: TextSample) => s.dataset === "chat").length).toBe(4)
    expect(mixed.filter((s: TextSample) => s.dataset === "docs").length).toBe(4)
    // re-runnable and deterministic
    expect(await Effect.runPromise(Stream.runCollect(mod.docsAndChat(tmp.dir).stream))).toEqual(mixed)
    // typed error for a missing directory
    const exit = await Effect.runPromiseExit(Stream.runCollect(mod.markdownSections(path.join(tmp.dir, "nope")).stream))
    expect(JSON.stringify(exit)).toContain("TextSourceError")
  })
})
