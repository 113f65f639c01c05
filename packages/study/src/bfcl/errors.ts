import { Schema } from "effect"

/** The BFCL data directory (or a category's file in it) is missing. */
export class BfclDataError extends Schema.TaggedError<BfclDataError>()("BfclDataError", {
  dir: Schema.String,
  message: Schema.String
}) {}

/** A category name that is not one of the BFCL v4 non-live categories this command evaluates. */
export class UnknownCategoryError extends Schema.TaggedError<UnknownCategoryError>()("UnknownCategoryError", {
  category: Schema.String,
  message: Schema.String
}) {}

/** The model or tokenizer directory is missing, incomplete, or does not load. */
export class ModelDirError extends Schema.TaggedError<ModelDirError>()("ModelDirError", {
  dir: Schema.String,
  message: Schema.String
}) {}

/** A flag value that cannot work (e.g. `--n 0`). */
export class BfclSettingsError extends Schema.TaggedError<BfclSettingsError>()("BfclSettingsError", {
  message: Schema.String
}) {}

export type BfclError = BfclDataError | UnknownCategoryError | ModelDirError | BfclSettingsError
