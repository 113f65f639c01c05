/**
 * Typed failures of the safetensors reader and writer. Every error carries the file `path` and,
 * where one is involved, the `tensor` name, so a message always says which file and which tensor.
 */
import { Schema } from "effect"

/** The file ends before the 8-byte length prefix, the header, or the data a header entry points to. */
export class SafetensorsTruncatedError extends Schema.TaggedError<SafetensorsTruncatedError>()(
  "SafetensorsTruncatedError",
  {
    path: Schema.String,
    /** Bytes the header (or length prefix) says must be there. */
    expectedBytes: Schema.Number,
    /** Bytes actually present. */
    actualBytes: Schema.Number,
    message: Schema.String
  }
) {}

/** The header is not valid JSON, has a bad entry, or its data offsets are not contiguous. */
export class SafetensorsHeaderError extends Schema.TaggedError<SafetensorsHeaderError>()("SafetensorsHeaderError", {
  path: Schema.String,
  /** The offending entry, when one is to blame. */
  tensor: Schema.optional(Schema.String),
  message: Schema.String
}) {}

/** A dtype this implementation does not know (or cannot decode to the requested type). */
export class SafetensorsDtypeError extends Schema.TaggedError<SafetensorsDtypeError>()("SafetensorsDtypeError", {
  path: Schema.String,
  tensor: Schema.String,
  dtype: Schema.String,
  message: Schema.String
}) {}

/** The shape disagrees with the byte count (reader) or with the data length (writer). */
export class SafetensorsShapeError extends Schema.TaggedError<SafetensorsShapeError>()("SafetensorsShapeError", {
  path: Schema.String,
  tensor: Schema.String,
  message: Schema.String
}) {}

/** A tensor asked for is not in the file (or not in the shard the index maps it to). */
export class SafetensorsMissingTensorError extends Schema.TaggedError<SafetensorsMissingTensorError>()(
  "SafetensorsMissingTensorError",
  {
    path: Schema.String,
    tensor: Schema.String,
    message: Schema.String
  }
) {}

/** The operating system refused: missing file, permission, disk full. */
export class SafetensorsIOError extends Schema.TaggedError<SafetensorsIOError>()("SafetensorsIOError", {
  path: Schema.String,
  message: Schema.String
}) {}

export type SafetensorsError =
  | SafetensorsTruncatedError
  | SafetensorsHeaderError
  | SafetensorsDtypeError
  | SafetensorsShapeError
  | SafetensorsMissingTensorError
  | SafetensorsIOError
