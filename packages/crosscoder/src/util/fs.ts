/** Small Effect wrappers over node:fs used by checkpoints (errors are CheckpointErrors naming the path). */

import { readFile, rename, rm, writeFile } from "node:fs/promises"
import { Effect } from "effect"
import { CheckpointError } from "../errors.js"

/** Maps a node:fs failure to a CheckpointError naming `p`: "<what>: <its message>". */
export const ioError = (p: string, what: string) => (e: unknown) =>
  new CheckpointError({ path: p, message: `${what}: ${e instanceof Error ? e.message : String(e)}` })

export const writeJsonAtomic = (file: string, value: unknown) =>
  Effect.tryPromise({
    try: async () => {
      const tmp = `${file}.tmp-${process.pid}`
      await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`)
      await rename(tmp, file)
    },
    catch: ioError(file, "cannot write")
  })

export const readJson = (file: string) =>
  Effect.tryPromise({ try: () => readFile(file, "utf8"), catch: ioError(file, "cannot read") }).pipe(
    Effect.flatMap((text) =>
      Effect.try({ try: () => JSON.parse(text) as unknown, catch: ioError(file, "not valid JSON") })
    )
  )

/** Removes a directory tree (used to prune old checkpoints). */
export const removeDir = (dir: string) =>
  Effect.tryPromise({ try: () => rm(dir, { recursive: true, force: true }), catch: ioError(dir, "cannot remove") })
