/**
 * Small-file I/O through the platform `FileSystem` service (configs, tokenizer files, JSON lines,
 * recipes, reports): each file is read or written once per item or run, so the service costs
 * nothing there and a program can swap the file system with a layer. The hot paths (safetensors,
 * activation shards, checkpoints) stay on `node:fs` (docs/architecture.md, "File I/O").
 */
import { Effect, FileSystem, Path, type PlatformError } from "effect"

/**
 * The message of a platform error: the operating system's own ("ENOENT: no such file or
 * directory, open '…'") when the platform kept it, else the platform's ("NotFound: …").
 */
export const platformErrorMessage = (e: PlatformError.PlatformError): string => {
  const cause = e.reason.cause
  return cause instanceof Error ? cause.message : e.message
}

/** Whether a platform error says the file does not exist. */
export const isNotFound = (e: PlatformError.PlatformError): boolean => e.reason._tag === "NotFound"

/** A UTF-8 text file (a byte order mark is dropped). */
export const readTextFile = (file: string): Effect.Effect<string, PlatformError.PlatformError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(file))

/** A UTF-8 text file, or `undefined` when it does not exist (any other failure is an error). */
export const readTextFileIfExists = (
  file: string
): Effect.Effect<string | undefined, PlatformError.PlatformError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    return yield* fs
      .readFileString(file)
      .pipe(Effect.catchTag("PlatformError", (e) => (isNotFound(e) ? Effect.succeed(undefined) : Effect.fail(e))))
  })

/**
 * Writes a UTF-8 text file atomically: its directory is created, the text goes to a temp file
 * beside it (`<file>.tmp-<pid>`), which is then renamed over `file`, so a reader never sees half a file.
 */
export const writeTextFileAtomic = (
  file: string,
  text: string
): Effect.Effect<void, PlatformError.PlatformError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    yield* fs.makeDirectory(path.dirname(file), { recursive: true })
    const tmp = `${file}.tmp-${process.pid}`
    yield* fs.writeFileString(tmp, text)
    yield* fs.rename(tmp, file)
  })
