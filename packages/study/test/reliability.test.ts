/** Issue 15 item 5 (part): asking a stage for more prompts than its set holds is an error, not a smaller run. */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Cause, Effect, Exit } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { CommandFailed, ExitCode } from "../src/cli/exitCodes.js"
import { type StageError, stageFs } from "../src/recipe/errors.js"
import { samplePrompts } from "../src/recipe/sources.js"
import { runFiles } from "./files.js"
import { runCliCaptured } from "./runCliCaptured.js"

const recipeFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../examples/recipes/embedded.json")

const dir = mkdtempSync(path.join(tmpdir(), "study-reliability-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("prompt sampling (issue 15 item 5)", () => {
  it("n larger than the prompt set is a StageError naming the numbers and the file", async () => {
    const file = path.join(dir, "prompts.jsonl")
    writeFileSync(file, ["a", "b", "c"].map((p, i) => JSON.stringify({ id: `p${i}`, prompt: p })).join("\n") + "\n")
    const spec = { kind: "jsonl", path: file } as const
    const three = await runFiles(samplePrompts(spec, 3, 42, "evaluate"))
    expect(three).toHaveLength(3)
    const e = await runFiles(Effect.flip(samplePrompts(spec, 4, 42, "evaluate")))
    expect(e._tag).toBe("StageError")
    expect(e.message).toContain("evaluate.n is 4")
    expect(e.message).toContain("holds 3 prompts")
    expect(e.message).toContain(file)
  })
})

describe("run directory failures (issue 15 item 4)", () => {
  it("a run directory that is an existing file: one StageError line naming the path, exit 7", async () => {
    const file = path.join(dir, "not-a-dir")
    writeFileSync(file, "x")
    const { exit, output } = await runCliCaptured([
      "run",
      recipeFile,
      "--run-dir",
      path.join(file, "run"),
      "--until",
      "harvest"
    ])
    expect(Exit.isFailure(exit)).toBe(true)
    const e = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
    expect(e).toBeInstanceOf(CommandFailed)
    const failed = e as CommandFailed
    expect(failed.exitCode).toBe(ExitCode.stageFailed)
    expect((failed.error as StageError)._tag).toBe("StageError")
    expect((failed.error as StageError).path).toBe(path.join(file, "run"))
    expect(output).toMatch(/StageError \[harvest\].*cannot create the run directory .*not-a-dir\/run/)
    expect(output).not.toMatch(/\n\s+at /) // no stack trace
  })

  it("a write that fails (ENOSPC on /dev/full, ENOTDIR under a file) names the file", async () => {
    if (existsSync("/dev/full")) {
      const e = await runFiles(
        Effect.flip(stageFs("train", "/dev/full", "write", (fs) => fs.writeFileString("/dev/full", "x")))
      )
      expect(e._tag).toBe("StageError")
      expect(e.path).toBe("/dev/full")
      expect(e.message).toMatch(/cannot write \/dev\/full: ENOSPC/)
    }
    const under = path.join(dir, "not-a-dir", "stage.json")
    const e = await runFiles(Effect.flip(stageFs("harvest", under, "write", (fs) => fs.writeFileString(under, "x"))))
    expect(e.path).toBe(under)
    expect(e.message).toContain(`cannot write ${under}: ENOTDIR`)
  })
})

describe("recipe validation (issue 15 item 5)", () => {
  it("a crosscoder batch size larger than the rows the harvest yields is a RecipeError before anything runs", async () => {
    const { exit, output } = await runCliCaptured([
      "run",
      recipeFile,
      "--run-dir",
      path.join(dir, "never"),
      "--dry-run",
      "--set",
      "harvest.text.sources.0.samples=10",
      "--set",
      "harvest.text.sources.1.samples=10",
      "--set",
      "harvest.text.sources.2.samples=10",
      "--set",
      "crosscoders.1.batchSize=64"
    ])
    const e = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
    expect(e).toBeInstanceOf(CommandFailed)
    expect((e as CommandFailed).exitCode).toBe(ExitCode.recipe)
    expect(output).toMatch(/\["crosscoders"\]\[1\]\["batchSize"\]: 64 exceeds the 30 rows/)
    expect(existsSync(path.join(dir, "never"))).toBe(false)
  })
})
