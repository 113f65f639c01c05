import { Effect, FileSystem, Path, Schema, SchemaIssue } from "effect"
import { platformErrorMessage, readTextFileIfExists } from "../util/files.js"

/** A config file that cannot be read, is not JSON, or has a field of the wrong type or value. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  /** The file (or "<object>" for an in-memory value). */
  path: Schema.String,
  /** Dotted path of the bad field (e.g. "hidden_size", "rope_parameters.rope_theta"); absent when the whole file is bad. */
  field: Schema.optional(Schema.String),
  message: Schema.String
}) {}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The first issue of a Schema error as `{ field, message }`. */
export const firstIssue = (
  issue: SchemaIssue.Issue
): { readonly field: string | undefined; readonly message: string } => {
  const first = formatter(issue).issues[0]
  if (first === undefined) return { field: undefined, message: String(issue) }
  const segments = (first.path ?? []).map((p) => String(typeof p === "object" && p !== null && "key" in p ? p.key : p))
  return { field: segments.length > 0 ? segments.join(".") : undefined, message: first.message }
}

/** Maps a Schema decoding failure to a ConfigError naming the first bad field. */
export const schemaErrorToConfigError = (path: string, error: Schema.SchemaError): ConfigError => {
  const { field, message } = firstIssue(error.issue)
  return field === undefined
    ? new ConfigError({ path, message: `${path}: ${message}` })
    : new ConfigError({ path, field, message: `${path}: field "${field}": ${message}` })
}

/** Reads and parses a JSON file (through the platform `FileSystem`); `optional` files that do not exist give `undefined`. */
export const readJsonFile = (
  path: string,
  optional = false
): Effect.Effect<unknown, ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const cannotRead = (e: Parameters<typeof platformErrorMessage>[0]) =>
      new ConfigError({ path, message: `${path}: cannot read: ${platformErrorMessage(e)}` })
    const text = optional
      ? yield* Effect.mapError(readTextFileIfExists(path), cannotRead)
      : yield* Effect.mapError(fs.readFileString(path), cannotRead)
    if (text === undefined) return undefined
    return yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) =>
        new ConfigError({
          path,
          message: `${path}: not valid JSON (${e instanceof Error ? e.message : String(e)})`
        })
    })
  })

/** Reads `<dir>/config.json` and validates it with a family's parser (errors name the file). */
export const readConfigWith = <C, E>(
  dir: string,
  parse: (json: unknown, file: string) => Effect.Effect<C, E>
): Effect.Effect<C, ConfigError | E, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const file = (yield* Path.Path).join(dir, "config.json")
    return yield* parse(yield* readJsonFile(file), file)
  })
