import { Schema } from "effect"

/** A configuration or spec that cannot be used (unknown plugin kind, bad sizes, inconsistent shapes). */
export class CrosscoderConfigError extends Schema.TaggedError<CrosscoderConfigError>()("CrosscoderConfigError", {
  message: Schema.String
}) {}

/** Input of the wrong shape, size or value (NaN, wrong number of sources, ...). */
export class CrosscoderInputError extends Schema.TaggedError<CrosscoderInputError>()("CrosscoderInputError", {
  message: Schema.String
}) {}

/** Reading or writing a checkpoint failed, or a checkpoint is malformed. */
export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", {
  path: Schema.String,
  message: Schema.String
}) {}

/** Training failed (non-finite loss, data source exhausted, incompatible resume, ...). */
export class TrainError extends Schema.TaggedError<TrainError>()("TrainError", {
  step: Schema.Number,
  message: Schema.String
}) {}
