/**
 * The `crosscode` command line (effect/cli): help, the dry run, error rendering, stage commands
 * refusing to run without their inputs, and the progress reporter.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { PassThrough } from "node:stream"
import { fileURLToPath } from "node:url"
import { collectProgress, type ProgressEvent } from "@crosscode/core"
import { Cause, Exit, Runtime } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { CommandFailed, ExitCode } from "../src/cli/exitCodes.js"
import { formatDuration, makeTerminalProgress, progressLine } from "../src/cli/progress.js"
import { RecipeError, StageError } from "../src/recipe/errors.js"
import { runCliCaptured } from "./runCliCaptured.js"

/** The typed failure of a CLI run, and the process exit code the runtime would use. */
const failureOf = (exit: Exit.Exit<unknown, unknown>) => {
  if (!Exit.isFailure(exit)) throw new Error("expected the command to fail")
  const e = Cause.squash(exit.cause)
  return { error: e, exitCode: Runtime.getErrorExitCode(e) }
}

const here = path.dirname(fileURLToPath(import.meta.url))
const recipes = path.resolve(here, "../../../examples/recipes")
const tmp = mkdtempSync(path.join(tmpdir(), "crosscode-cli-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const cli = runCliCaptured

describe("crosscode CLI", () => {
  it("--help lists every stage subcommand and run", async () => {
    const { exit, output } = await cli(["--help"])
    expect(Exit.isSuccess(exit)).toBe(true)
    for (const c of ["run", "harvest", "train", "evaluate", "rank", "steer", "report"])
      expect(output).toMatch(new RegExp(`^\\s+${c}\\s`, "m"))
  })

  it("run --dry-run prints the stage plan of the paper recipe", async () => {
    const { exit, output } = await cli([
      "run",
      path.join(recipes, "paper-qwen2.5-3b.json"),
      "--dry-run",
      "--run-dir",
      path.join(tmp, "paper")
    ])
    expect(Exit.isSuccess(exit)).toBe(true)
    expect(output).toContain("recipe paper-qwen2.5-3b")
    for (const s of ["harvest", "train", "evaluate", "rank", "steer", "report"])
      expect(output).toMatch(new RegExp(`^${s}\\s+RUN`, "m"))
    expect(output).toContain("site: block 13 output")
  })

  it("--model-a / --model-b / --set reach the recipe", async () => {
    const { output } = await cli([
      "run",
      path.join(recipes, "paper-qwen2.5-3b.json"),
      "--dry-run",
      "--run-dir",
      path.join(tmp, "paper"),
      "--model-a",
      "/x/rl",
      "--model-b",
      "/x/base",
      "--set",
      "steer.alphas=[2,4]"
    ])
    expect(output).toContain("models A = /x/rl (MISSING)")
    expect(output).toContain("B = /x/base (MISSING)")
    expect(output).toContain("× α 2, 4,")
  })

  it("a bad recipe fails with the field named", async () => {
    const { exit, output } = await cli([
      "run",
      path.join(recipes, "embedded.json"),
      "--dry-run",
      "--set",
      "crosscoders.0.k=-3"
    ])
    const f = failureOf(exit)
    expect(f.exitCode).toBe(ExitCode.recipe)
    expect(f.error).toBeInstanceOf(CommandFailed)
    const inner = (f.error as CommandFailed).error
    expect(inner).toBeInstanceOf(RecipeError)
    expect((inner as RecipeError).file).toBe(path.join(recipes, "embedded.json"))
    expect(output).toContain('["crosscoders"][0]["k"]')
    // one line naming the error class and the file (no stack trace)
    expect(output.split("\n")[0]).toMatch(/^crosscode: RecipeError .*embedded\.json: /)
    expect(output).not.toMatch(/\n\s+at .*:\d+:\d+\)?$/m)
    expect((inner as RecipeError).field).toBe("crosscoders.0.k")
  })

  it("a stage refuses to run before its inputs exist", async () => {
    const { exit, output } = await cli([
      "train",
      path.join(recipes, "embedded.json"),
      "--run-dir",
      path.join(tmp, "empty"),
      "--backend",
      "wasm"
    ])
    const f = failureOf(exit)
    expect(f.exitCode).toBe(ExitCode.stageInput)
    const inner = (f.error as CommandFailed).error as StageError
    expect(inner).toBeInstanceOf(StageError)
    expect([inner.stage, inner.kind, inner.path]).toEqual(["train", "input", path.join(tmp, "empty", "harvest")])
    expect(output).toContain("crosscode: StageError [train]")
    expect(output).toContain('needs the "harvest" stage to be complete')
  })

  it("run --cluster --force is refused before any connection, with a typed error and one line", async () => {
    const { exit, output } = await cli([
      "run",
      path.join(recipes, "embedded.json"),
      "--cluster",
      "postgres://nobody@127.0.0.1:1/none",
      "--force",
      "steer"
    ])
    const f = failureOf(exit)
    const inner = (f.error as CommandFailed).error as RecipeError
    expect(inner).toBeInstanceOf(RecipeError)
    expect(inner.message).toBe(
      "--force is not supported with --cluster: force the stage in a single-process run, or use another runDir"
    )
    expect(f.exitCode).toBe(ExitCode.recipe)
    expect(
      output
        .trim()
        .split("\n")
        .filter((l) => l.includes("--force"))
    ).toHaveLength(1)
  })

  it("unknown flags and stages are parse errors", async () => {
    expect(failureOf((await cli(["run", "x.json", "--force", "nonsense"])).exit).exitCode).toBe(ExitCode.usage)
    expect(failureOf((await cli(["frobnicate"])).exit).exitCode).toBe(ExitCode.usage)
  })
})

describe("progress reporter", () => {
  it("off a TTY: a start line, periodic lines with rate and ETA, a final line", () => {
    const stream = new PassThrough()
    let text = ""
    stream.on("data", (d: Buffer) => {
      text += d.toString()
    })
    const p = makeTerminalProgress({ stream: stream as unknown as NodeJS.WriteStream, tty: false, intervalSeconds: 0 })
    const bar = p.start("train dfc", 100, "steps", 10)
    bar.update(50, { detail: "loss=0.1" })
    bar.finish()
    p.log("hello")
    const lines = text.trim().split("\n")
    expect(lines[0]).toBe("[train dfc] started: 10/100 steps already done")
    expect(lines[1]).toMatch(/^\[train dfc\] 50\/100 steps \(50\.0%\) [\d.]+ steps\/s ETA \S+ loss=0\.1$/)
    expect(lines[2]).toMatch(/^\[train dfc\] done: 50\/100 steps in \S+/)
    expect(lines[3]).toBe("hello")
  })

  it("on a TTY: cli-progress draws the bar", () => {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream
    let text = ""
    ;(stream as unknown as PassThrough).on("data", (d: Buffer) => {
      text += d.toString()
    })
    Object.assign(stream, {
      isTTY: true,
      columns: 120,
      cursorTo: () => true,
      clearLine: () => true,
      moveCursor: () => true
    })
    const p = makeTerminalProgress({ stream, tty: true })
    const bar = p.start("harvest", 10, "rows")
    bar.update(5)
    p.log("a log line")
    bar.finish()
    expect(text).toContain("harvest")
    expect(text).toContain("a log line")
  })

  it("collects events; formats durations and lines", () => {
    const events: Array<ProgressEvent> = []
    const p = collectProgress(events)
    const b = p.start("x", 3, "u")
    b.update(2)
    b.finish()
    expect(events.map((e) => e.type)).toEqual(["start", "update", "finish"])
    expect(formatDuration(5)).toBe("5s")
    expect(formatDuration(125)).toBe("2m05s")
    expect(formatDuration(3725)).toBe("1h02m")
    expect(formatDuration(Number.NaN)).toBe("?")
    expect(progressLine("a", 1, 4, "rows", 2, 1.5)).toBe("[a] 1/4 rows (25.0%) 2.00 rows/s ETA 2s")
  })
})
