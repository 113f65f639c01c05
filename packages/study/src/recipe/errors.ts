import { Schema } from "effect"

/** A recipe that cannot be read, decoded or resolved (names the file and the field). */
export class RecipeError extends Schema.TaggedError<RecipeError>()("RecipeError", {
  file: Schema.String,
  message: Schema.String
}) {}

/** A stage that cannot run (missing input, stale output, failed package call). */
export class StageError extends Schema.TaggedError<StageError>()("StageError", {
  stage: Schema.String,
  message: Schema.String
}) {}

/** The report cannot be written (missing stage data, I/O). */
export class ReportError extends Schema.TaggedError<ReportError>()("ReportError", {
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
