import { Schema } from "effect"

/** A sweep that cannot run or resume (bad grid, a results file made with another configuration); `file` when a file is at fault. */
export class SweepError extends Schema.TaggedError<SweepError>()("SweepError", {
  message: Schema.String,
  file: Schema.optional(Schema.String)
}) {}
