/**
 * FileSystem layers for tests (ours and users'): the small files the packages read (configs,
 * tokenizers, recipes, JSON lines) go through the platform `FileSystem`, so a test can serve them
 * from memory or watch which paths a program reads.
 */
import { Effect, FileSystem, Layer, Path, PlatformError } from "effect"

/**
 * A read-only in-memory file system over `files` (absolute path → text), with the platform `Path`:
 * `readFileString` serves them, other paths fail with `NotFound`; every other operation is the
 * platform's no-op layer.
 */
export const memoryFileSystem = (files: ReadonlyMap<string, string>): Layer.Layer<FileSystem.FileSystem | Path.Path> =>
  Layer.merge(
    FileSystem.layerNoop({
      readFileString: (p) => {
        const text = files.get(p)
        return text !== undefined
          ? Effect.succeed(text)
          : Effect.fail(
              PlatformError.systemError({
                _tag: "NotFound",
                module: "FileSystem",
                method: "readFileString",
                pathOrDescriptor: p
              })
            )
      }
    }),
    Path.layer
  )

/**
 * The provided `FileSystem` (e.g. @effect/platform-node's `NodeServices.layer`), recording in
 * `reads` every path read with `readFileString`.
 */
export const recordingFileSystem = (
  reads: Array<string>
): Layer.Layer<FileSystem.FileSystem, never, FileSystem.FileSystem> =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      return FileSystem.FileSystem.of({
        ...fs,
        readFileString: (p, encoding) => {
          reads.push(p)
          return fs.readFileString(p, encoding)
        }
      })
    })
  )
