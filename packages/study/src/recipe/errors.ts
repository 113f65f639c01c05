import { platformErrorMessage } from "@crosscode/core"
import { Effect, FileSystem, type PlatformError, Schema } from "effect"

/** A recipe that cannot be read, decoded or resolved: `file`, and the `field` at fault when one is. */
export class RecipeError extends Schema.TaggedError<RecipeError>()("RecipeError", {
  file: Schema.String,
  field: Schema.optional(Schema.String),
  message: Schema.String
}) {}

/**
 * Why a stage cannot run or did not finish:
 * - "input": an input stage is missing, stale or outdated in the run directory, or the stage's own
 *   output was made with another recipe (nothing was run);
 * - "models": a model or tokenizer directory is missing or does not load;
 * - "data": a data file the recipe names (texts, prompts) is missing or malformed;
 * - "failed": a package call inside the stage failed; `cause` is that package's typed error
 *   (e.g. `TrainError { step }`, `HarvestError`, `ResumeMismatchError { path, key }`).
 */
export const StageErrorKind = Schema.Literals(["input", "models", "data", "failed"])
export type StageErrorKind = typeof StageErrorKind.Type

/** A stage that cannot run or failed: `stage`, `kind`, the `path` at fault if known, the package error as `cause`. */
export class StageError extends Schema.TaggedError<StageError>()("StageError", {
  stage: Schema.String,
  kind: Schema.optional(StageErrorKind),
  path: Schema.optional(Schema.String),
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {}

/** The report cannot be written (missing stage data, I/O): `path` when a file is at fault. */
export class ReportError extends Schema.TaggedError<ReportError>()("ReportError", {
  path: Schema.optional(Schema.String),
  message: Schema.String
}) {}

export const errorMessage = (e: unknown): string => {
  if (e instanceof Error) return e.message
  if (
    typeof e === "object" &&
    e !== null &&
    "message" in e &&
    typeof (e as { message: unknown }).message === "string"
  ) {
    return (e as { message: string }).message
  }
  return String(e)
}

/** The file or directory a typed error names (`path`, `file` or `dir` field), if any. */
export const errorPath = (e: unknown): string | undefined => {
  if (typeof e !== "object" || e === null) return undefined
  for (const k of ["path", "file", "dir"] as const) {
    const v = (e as Record<string, unknown>)[k]
    if (typeof v === "string") return v
  }
  return undefined
}

/**
 * Maps a failure inside `stage` to a `StageError` (kind "failed" unless given), keeping the
 * original error as `cause` and its path; a `StageError` passes through unchanged.
 */
export const stageFailure =
  (stage: string, options: { readonly kind?: StageErrorKind; readonly context?: string } = {}) =>
  (e: unknown): StageError => {
    if (e instanceof StageError) return e
    const p = errorPath(e)
    return new StageError({
      stage,
      kind: options.kind ?? "failed",
      ...(p !== undefined ? { path: p } : {}),
      message: options.context !== undefined ? `${options.context}: ${errorMessage(e)}` : errorMessage(e),
      cause: e
    })
  }

/**
 * A platform `FileSystem` call of the study runner: a failure (ENOTDIR, EACCES, ENOSPC, …) is a
 * `StageError` of `stage` naming `file` — Node's write errors do not name it.
 */
export const stageFs = <A, R = never>(
  stage: string,
  file: string,
  what: string,
  f: (fs: FileSystem.FileSystem) => Effect.Effect<A, PlatformError.PlatformError, R>
): Effect.Effect<A, StageError, FileSystem.FileSystem | R> =>
  Effect.flatMap(FileSystem.FileSystem, f).pipe(
    Effect.mapError(
      (e) =>
        new StageError({
          stage,
          kind: "failed",
          path: file,
          message: `cannot ${what} ${file}: ${platformErrorMessage(e)}`,
          cause: e
        })
    )
  )

/** Writes `value` as pretty JSON (`indent`, default 2) through {@link stageFs}. */
export const writeStageJson = (stage: string, file: string, value: unknown, indent = 2) =>
  stageFs(stage, file, "write", (fs) => fs.writeFileString(file, `${JSON.stringify(value, null, indent)}\n`))
