import { Schema } from "effect"

/** A text source could not be read or holds bad data (names the file and line/row). */
export class TextSourceError extends Schema.TaggedError<TextSourceError>()("TextSourceError", {
  source: Schema.String,
  message: Schema.String
}) {}

/** The harvest was configured wrongly or a model misbehaved (names the model, site or text). */
export class HarvestError extends Schema.TaggedError<HarvestError>()("HarvestError", {
  message: Schema.String
}) {}
