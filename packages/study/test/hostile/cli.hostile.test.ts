/**
 * Hostile `crosscode` command lines: each fails with a typed error (the `error` of `CommandFailed`:
 * its tag and a pattern naming the flag, file or field) and the exit code of docs/cli.md, or
 * succeeds — never a defect or a raw stack trace.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Cause, Exit } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { checkOutcome, type HostileExpectation, type HostileOutcome } from "../../../../test-support/hostile.js"
import { CommandFailed, ExitCode } from "../../src/cli/exitCodes.js"
import { runCliCaptured } from "../runCliCaptured.js"

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..")
const recipe = path.join(repo, "examples/recipes/embedded.json")
const tmp = mkdtempSync(path.join(tmpdir(), "hostile-cli-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
const aFile = path.join(tmp, "a-file")
writeFileSync(aFile, "x")
const notJson = path.join(tmp, "bad.json")
writeFileSync(notJson, "{ recipe")

interface CliCase {
  readonly name: string
  readonly args: ReadonlyArray<string>
  readonly expect: HostileExpectation<string>
  readonly code: number
}
const dry = ["--dry-run", "--run-dir", path.join(tmp, "run")]
const usage = (name: string, args: ReadonlyArray<string>, message: RegExp): CliCase => ({
  name,
  args,
  code: ExitCode.usage,
  expect: { tag: "", message }
})

const cases: ReadonlyArray<CliCase> = [
  usage("an unknown subcommand", ["frobnicate"], /frobnicate/),
  usage("an unknown flag", ["run", recipe, "--no-such-flag"], /no-such-flag/),
  usage("--backend with an unknown value", ["run", recipe, "--backend", "gpu9000", ...dry], /gpu9000/),
  usage("--force with an unknown stage", ["run", recipe, "--force", "nonsense", ...dry], /nonsense/),
  usage("--until with an unknown stage", ["run", recipe, "--until", "later", ...dry], /later/),
  usage("run without a recipe", ["run"], /recipe/),
  {
    name: "--set without '='",
    args: ["run", recipe, "--set", "crosscoders", ...dry],
    code: ExitCode.recipe,
    expect: { tag: "RecipeError", message: /crosscoders/ }
  },
  {
    name: "--set an invalid value",
    args: ["run", recipe, "--set", "crosscoders.0.k=-1", ...dry],
    code: ExitCode.recipe,
    expect: { tag: "RecipeError", message: /crosscoders\.0\.k/ }
  },
  {
    name: "--set a batch larger than the harvest (issue 15 item 5, caught by --dry-run)",
    args: ["run", recipe, "--set", "crosscoders.1.batchSize=5000", ...dry],
    code: ExitCode.recipe,
    expect: { tag: "RecipeError", message: /\["crosscoders"\]\[1\]\["batchSize"\]: 5000 exceeds/ }
  },
  {
    name: "--set a max length beyond the positions (caught by --dry-run)",
    args: ["run", recipe, "--set", "harvest.maxLength=100000", ...dry],
    code: ExitCode.recipe,
    expect: { tag: "RecipeError", message: /harvest\.maxLength.*1024 positions/s }
  },
  {
    name: "the recipe file is missing",
    args: ["run", path.join(tmp, "nope.json"), ...dry],
    code: ExitCode.recipe,
    expect: { tag: "RecipeError", message: /nope\.json.*cannot read/s }
  },
  {
    name: "the recipe is not JSON",
    args: ["run", notJson, ...dry],
    code: ExitCode.recipe,
    expect: { tag: "RecipeError", message: /bad\.json.*not valid JSON/s }
  },
  {
    name: "report on a directory that is not a run",
    args: ["report", tmp],
    code: ExitCode.recipe,
    expect: { tag: "RecipeError", message: /not a run directory/ }
  },
  {
    name: "--run-dir is a file (issue 15 item 4)",
    args: ["harvest", recipe, "--run-dir", aFile],
    code: ExitCode.stageFailed,
    expect: { tag: "StageError", message: /a-file.*cannot create the run directory/s }
  },
  {
    name: "--model-a is not a model directory",
    args: ["harvest", recipe, "--model-a", tmp, "--run-dir", path.join(tmp, "run-models")],
    code: ExitCode.models,
    expect: { tag: "StageError", message: /hostile-cli-/ }
  },
  {
    name: "--dry-run of a valid recipe prints the plan",
    args: ["run", recipe, ...dry],
    code: 0,
    expect: { ok: true, check: (out) => expect(out).toMatch(/^harvest\s+RUN/m) }
  }
]

describe("hostile command lines (crosscode)", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const { exit, output } = await runCliCaptured(c.args)
      expect(output).not.toMatch(/\n\s+at .*\.ts:\d+/) // no stack trace
      if (Exit.isSuccess(exit)) {
        checkOutcome(c.name, { _tag: "Success", value: output }, c.expect)
        expect(c.code).toBe(0)
        return
      }
      const e = Cause.squash(exit.cause)
      expect(e, `${c.name}: ${String(e)}`).toBeInstanceOf(CommandFailed)
      const failed = e as CommandFailed
      expect(failed.exitCode, c.name).toBe(c.code)
      const inner = failed.error as { _tag: string }
      if ("tag" in c.expect && c.expect.tag === "") {
        // effect/cli's own errors (any of its tags): the message or the printed help names the bad token
        const text = `${inner._tag} ${(inner as { message?: string }).message ?? ""} ${output}`
        expect(text, c.name).toMatch(c.expect.message as RegExp)
        return
      }
      const outcome: HostileOutcome<string> = { _tag: "Failure", cause: { reasons: [{ _tag: "Fail", error: inner }] } }
      checkOutcome(c.name, outcome, c.expect)
    }, 60_000)
  }
})
