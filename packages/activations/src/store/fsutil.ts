/** File helpers for the store: atomic writes with fsync, checksums, verification. */

import * as fs from "node:fs/promises"
import * as path from "node:path"
import { sha256 } from "@crosscode/core"
import { Effect } from "effect"
import { ActivationStoreError } from "../ActivationSource.js"
import type { FileRef } from "./format.js"

export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e))

export const storeError = (p: string, message: string): ActivationStoreError =>
  new ActivationStoreError({ path: p, message })

/** Maps a failure to an `ActivationStoreError` for `p` with the message "<what>: <its message>". */
export const toStoreError =
  (p: string, what: string) =>
  (e: { readonly message: string }): ActivationStoreError =>
    storeError(p, `${what}: ${e.message}`)

/** Wrap a promise-returning function; failures become `ActivationStoreError` naming `p`. */
export const io = <A>(p: string, what: string, f: () => Promise<A>): Effect.Effect<A, ActivationStoreError> =>
  Effect.tryPromise({ try: f, catch: (e) => storeError(p, `${what}: ${errorMessage(e)}`) })

/**
 * Write `chunks` to `dir/name` atomically: `name.tmp`, fsync, rename. The caller fsyncs the
 * directory once after a group of renames (`fsyncDir`). Returns the file's size and sha256.
 */
export const writeAtomic = (
  dir: string,
  name: string,
  chunks: ReadonlyArray<Uint8Array>
): Effect.Effect<FileRef, ActivationStoreError> => {
  const final = path.join(dir, name)
  const tmp = `${final}.tmp`
  return io(final, "write failed", async () => {
    const fh = await fs.open(tmp, "w")
    let bytes = 0
    try {
      for (const c of chunks) {
        let off = 0
        while (off < c.byteLength) {
          const { bytesWritten } = await fh.write(c, off, c.byteLength - off)
          off += bytesWritten
        }
        bytes += c.byteLength
      }
      await fh.sync()
    } finally {
      await fh.close()
    }
    await fs.rename(tmp, final)
    return { file: name, bytes, sha256: sha256(chunks) }
  })
}

export const fsyncDir = (dir: string): Effect.Effect<void, ActivationStoreError> =>
  io(dir, "fsync of directory failed", async () => {
    const fh = await fs.open(dir, "r")
    try {
      await fh.sync()
    } catch {
      // some filesystems refuse fsync on directories; the renames are still ordered
    } finally {
      await fh.close()
    }
  })

export const exists = (p: string): Effect.Effect<boolean> =>
  Effect.promise(() =>
    fs.stat(p).then(
      () => true,
      () => false
    )
  )

/** Read a file the manifest lists and check its size and sha256; a mismatch is an error, never a silent read. */
export const readVerified = (dir: string, ref: FileRef): Effect.Effect<Uint8Array, ActivationStoreError> => {
  const p = path.join(dir, ref.file)
  return Effect.flatMap(
    io(p, "cannot read", () => fs.readFile(p)),
    (buf) => {
      if (buf.byteLength !== ref.bytes) {
        return Effect.fail(
          storeError(p, `is ${buf.byteLength} bytes, the manifest says ${ref.bytes} (partial or corrupt file)`)
        )
      }
      const h = sha256([buf])
      if (h !== ref.sha256)
        return Effect.fail(storeError(p, `sha256 ${h} does not match the manifest's ${ref.sha256} (corrupt file)`))
      return Effect.succeed(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength))
    }
  )
}

/** Check that a listed file exists with the right size (cheap). */
export const checkSize = (dir: string, ref: FileRef): Effect.Effect<void, ActivationStoreError> => {
  const p = path.join(dir, ref.file)
  return Effect.flatMap(
    io(p, "missing", () => fs.stat(p)),
    (st) =>
      st.size === ref.bytes
        ? Effect.void
        : Effect.fail(storeError(p, `is ${st.size} bytes, the manifest says ${ref.bytes} (partial or corrupt file)`))
  )
}
