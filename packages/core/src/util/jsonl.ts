/**
 * Resumable JSON-lines files: a long job appends one value per line as soon as it is made, so an
 * interruption loses at most the line in flight; on restart the job reads the file back (a last
 * line cut short by a crash is dropped and truncated away) and skips what is already there. Eval
 * records, sweep cells, training metrics and curves all use these two functions.
 */
import { Effect, FileSystem, Path, Schema } from "effect"
import { platformErrorMessage, readTextFileIfExists } from "./files.js"

/** A JSON-lines file that cannot be read or appended to, or holds a line that is not JSON. */
export class JsonLinesError extends Schema.TaggedError<JsonLinesError>()("JsonLinesError", {
  path: Schema.String,
  /** 1-based line of the bad JSON; absent for I/O failures. */
  line: Schema.optional(Schema.Number),
  message: Schema.String
}) {}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/**
 * Reads a JSONL file written by {@link appendJsonLine}. A missing file is empty; a last line
 * without its newline (a write cut short) is dropped and the file truncated to the last complete
 * line; any other unparseable line is an error naming its line number.
 */
export const readJsonLines = Effect.fn("readJsonLines")(function* <A>(
  file: string
): Effect.fn.Return<Array<A>, JsonLinesError, FileSystem.FileSystem> {
  const fs = yield* FileSystem.FileSystem
  const text =
    (yield* readTextFileIfExists(file).pipe(
      Effect.mapError((e) => new JsonLinesError({ path: file, message: `cannot read: ${platformErrorMessage(e)}` }))
    )) ?? ""
  const complete = text.endsWith("\n") ? text : text.slice(0, text.lastIndexOf("\n") + 1)
  if (complete.length !== text.length) {
    yield* fs
      .truncate(file, Buffer.byteLength(complete, "utf8"))
      .pipe(
        Effect.mapError(
          (e) =>
            new JsonLinesError({ path: file, message: `cannot drop the cut-off last line: ${platformErrorMessage(e)}` })
        )
      )
  }
  const out: Array<A> = []
  const lines = complete.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    if (line.trim() === "") continue
    try {
      out.push(JSON.parse(line) as A)
    } catch (e) {
      return yield* new JsonLinesError({
        path: file,
        line: i + 1,
        message: `line ${i + 1} is not valid JSON (${messageOf(e)})`
      })
    }
  }
  return out
})

/** Appends `value` as one JSON line (creating the directory and file as needed). */
export const appendJsonLine = (
  file: string,
  value: unknown
): Effect.Effect<void, JsonLinesError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    yield* fs.makeDirectory(path.dirname(file), { recursive: true })
    yield* fs.writeFileString(file, `${JSON.stringify(value)}\n`, { flag: "a" })
  }).pipe(
    Effect.mapError((e) => new JsonLinesError({ path: file, message: `cannot append: ${platformErrorMessage(e)}` }))
  )
