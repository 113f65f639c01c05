/** Small Effect wrappers over node:fs used by checkpoints (errors are CheckpointErrors naming the path). */

import { readdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import * as path from "node:path"
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

/**
 * Removes what a killed or failed checkpoint write leaves behind in `dir`: `*.tmp-<pid>`
 * directories and files (a half-written checkpoint is ~0.8 GB at the paper's size). Returns the
 * names removed. Only one trainer may use a run directory at a time, so every such entry is stale.
 */
export const removeStaleTemps = (dir: string) =>
  Effect.gen(function* () {
    const names = yield* Effect.tryPromise({
      try: () => readdir(dir).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? [] : Promise.reject(e))),
      catch: ioError(dir, "cannot list")
    })
    const stale = names.filter((n) => /\.tmp-\d+$/.test(n))
    for (const n of stale) yield* removeDir(path.join(dir, n))
    return stale
  })

/**
 * Rewrites a JSON-lines log so that it holds exactly the records a resumed run must keep: complete
 * lines (a line cut by a kill is dropped) whose `step` is at most `step` (lines logged after the
 * checkpoint being resumed will be logged again). Atomic; a missing file stays missing.
 */
export const trimStepLog = (file: string, step: number) =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () =>
        readFile(file, "utf8").catch((e: NodeJS.ErrnoException) =>
          e.code === "ENOENT" ? undefined : Promise.reject(e)
        ),
      catch: ioError(file, "cannot read")
    })
    if (text === undefined) return
    const lines = text.split("\n").slice(0, -1) // the piece after the last newline is cut or empty
    const kept = lines.filter((line) => {
      try {
        const s = (JSON.parse(line) as { step?: unknown }).step
        return typeof s === "number" && s <= step
      } catch {
        return false
      }
    })
    if (kept.length === lines.length && text.endsWith("\n")) return
    yield* Effect.tryPromise({
      try: async () => {
        const tmp = `${file}.tmp-${process.pid}`
        await writeFile(tmp, kept.map((l) => `${l}\n`).join(""))
        await rename(tmp, file)
      },
      catch: ioError(file, "cannot rewrite")
    })
  })
