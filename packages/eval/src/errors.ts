import { Schema } from "effect"

/** A dataset file is missing, unreadable, or has a row that does not have the expected shape. */
export class DatasetError extends Schema.TaggedError<DatasetError>()("DatasetError", {
  path: Schema.String,
  message: Schema.String
}) {}

/** A scorer could not score an item (bad ground truth, a bug in a custom scorer). */
export class ScorerError extends Schema.TaggedError<ScorerError>()("ScorerError", {
  scorer: Schema.String,
  itemId: Schema.String,
  message: Schema.String
}) {}

/** A prompt could not be built for an item (e.g. the tokenizer has no chat template). */
export class PromptBuildError extends Schema.TaggedError<PromptBuildError>()("PromptBuildError", {
  itemId: Schema.String,
  message: Schema.String
}) {}

/** Reading or writing the run's JSONL file failed. */
export class EvalIOError extends Schema.TaggedError<EvalIOError>()("EvalIOError", {
  path: Schema.String,
  message: Schema.String
}) {}

/**
 * The output file already holds a record for an item of this run, but made with different
 * settings: resuming would mix two experiments in one file.
 */
export class ResumeMismatchError extends Schema.TaggedError<ResumeMismatchError>()("ResumeMismatchError", {
  path: Schema.String,
  key: Schema.String,
  message: Schema.String
}) {}

/** Run settings that cannot work (e.g. maxNewTokens < 1, duplicate item ids). */
export class EvalSettingsError extends Schema.TaggedError<EvalSettingsError>()("EvalSettingsError", {
  message: Schema.String
}) {}
