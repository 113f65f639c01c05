/**
 * How the `crosscode` command ends on an error: one line on stderr naming what failed (the error
 * class, the stage, the file) and an exit code per error class, documented in docs/cli.md.
 * Library callers get the typed error itself: `runCli` fails with `CommandFailed { error, exitCode }`.
 */
import { Data, Runtime } from "effect"
import { CliError } from "effect/cli"
import { BfclDataError, BfclSettingsError, ModelDirError, UnknownCategoryError } from "../bfcl/errors.js"
import { errorMessage, RecipeError, ReportError, StageError } from "../recipe/errors.js"

/** Exit codes of `crosscode` (docs/cli.md). 130 is interruption (Ctrl-C), set by the runtime. */
export const ExitCode = {
  /** An unexpected failure (a bug): the full cause is printed. */
  internal: 1,
  /** The command line is wrong (unknown flag or value), or a flag value cannot work. */
  usage: 2,
  /** The recipe cannot be read or is invalid (`RecipeError`). */
  recipe: 3,
  /**
   * A stage's inputs are missing, stale or outdated in the run directory (`StageError`, kind
   * "input"), or an output file holds records made with other settings (`ResumeMismatchError`).
   */
  stageInput: 4,
  /** A model or tokenizer directory is missing or does not load (`StageError` kind "models", `ModelDirError`). */
  models: 5,
  /** A data file (texts, prompts, BFCL data) is missing or malformed (`StageError` kind "data", `BfclDataError`). */
  data: 6,
  /**
   * A stage failed inside a package call (`StageError` kind "failed"; its `cause` is the package
   * error, e.g. `TrainError { step }`), or a command failed with another package's typed error.
   */
  stageFailed: 7,
  /** The report cannot be written (`ReportError`). */
  report: 8,
  /** Interrupted (SIGINT/SIGTERM). */
  interrupted: 130
} as const

const isTagged = (e: unknown): e is { readonly _tag: string } =>
  typeof e === "object" && e !== null && "_tag" in e && typeof (e as { _tag: unknown })._tag === "string"

/** The exit code for a failure of `crosscode`. */
export const exitCodeOf = (e: unknown): number => {
  if (e instanceof RecipeError) return ExitCode.recipe
  if (e instanceof StageError) {
    switch (e.kind) {
      case "input":
        return ExitCode.stageInput
      case "models":
        return ExitCode.models
      case "data":
        return ExitCode.data
      default:
        return e.cause instanceof ReportError ? ExitCode.report : ExitCode.stageFailed
    }
  }
  if (e instanceof ReportError) return ExitCode.report
  if (e instanceof ModelDirError) return ExitCode.models
  if (e instanceof BfclDataError) return ExitCode.data
  if (e instanceof BfclSettingsError || e instanceof UnknownCategoryError) return ExitCode.usage
  if (CliError.isCliError(e)) return ExitCode.usage
  if (isTagged(e)) return e._tag === "ResumeMismatchError" ? ExitCode.stageInput : ExitCode.stageFailed
  return ExitCode.internal
}

/** One line naming what failed: `StageError [train] runs/x/train: …`. */
export const describeFailure = (e: unknown): string => {
  if (typeof e !== "object" || e === null || !("_tag" in e)) return errorMessage(e)
  const f = e as { _tag: string; stage?: unknown; file?: unknown; path?: unknown; dir?: unknown }
  const where = [f.file, f.path, f.dir].find((x): x is string => typeof x === "string")
  const message = errorMessage(e)
  const hint =
    f._tag === "ResumeMismatchError"
      ? " (the output holds records made with other settings: use another --out or run directory)"
      : ""
  return `${f._tag}${typeof f.stage === "string" ? ` [${f.stage}]` : ""}${
    where !== undefined && !message.includes(where) ? ` ${where}` : ""
  }: ${message}${hint}`
}

/**
 * A `crosscode` command that failed with a known error, already reported on stderr: `error` is the
 * typed error (branch on its `_tag`), `exitCode` what the process exits with.
 */
export class CommandFailed extends Data.TaggedError("CommandFailed")<{
  readonly error: unknown
  readonly exitCode: number
}> {
  override get message() {
    return describeFailure(this.error)
  }
  override get [Runtime.errorExitCode]() {
    return this.exitCode
  }
  override readonly [Runtime.errorReported] = false
}
