/**
 * The read side: `ActivationStore.open(dir)` gives an `ActivationSourceShape` over a store
 * directory (shuffled batches, random access by row, texts), and `ActivationStore.layer(dir)` the
 * `ActivationSource` service.
 *
 * Nothing is read without verification: opening checks that every listed file exists with its
 * listed size (or, with `verify: "full"`, its sha256 too), and every shard is checked against its
 * sha256 whenever it is loaded, so a corrupt or truncated shard fails with `ActivationStoreError`.
 */

import * as fs from "node:fs/promises"
import * as path from "node:path"
import { decodeFloat32Into } from "@crosscode/core"
import { Effect, Layer } from "effect"
import {
  ActivationSource,
  type ActivationSourceShape,
  type ActivationStoreError,
  type NormalizationStats
} from "../ActivationSource.js"
import { bytesPerElement, safetensorsDtype } from "../util/dtype.js"
import { type LoadedChunk, makeBatches } from "./batches.js"
import type { Manifest, ShardRecord } from "./format.js"
import { errorMessage, io, readVerified, storeError } from "./fsutil.js"
import { type DecodedShard, decodeShard, openShard, type ShardColumns, type ShardFile } from "./shard.js"
import { decodeStats } from "./stats.js"
import { checkStoreSizes, readManifest, type TextRecord, verifyShard } from "./writer.js"

export interface OpenOptions {
  /** `"size"` (default): listed files exist with their sizes; `"full"`: also every sha256 (reads the whole store). */
  readonly verify?: "size" | "full"
  /** Decoded shards kept for `row` / `rowText` (default 2). */
  readonly cacheShards?: number
}

export interface ActivationStoreShape extends ActivationSourceShape {
  readonly manifest: Manifest
  readonly normalizationByDataset: ReadonlyArray<NormalizationStats | undefined>
  /** Verify every file of the store (sizes, sha256, headers). */
  readonly verify: Effect.Effect<void, ActivationStoreError>
  /** Rows `[start, end)` as `[(end - start) * numSources * dim]`. */
  rowRange(start: number, end: number): Effect.Effect<Float32Array, ActivationStoreError>
}

const findShard = (shards: ReadonlyArray<ShardRecord>, row: number): number => {
  let lo = 0
  let hi = shards.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if ((shards[mid] as ShardRecord).firstRow <= row) lo = mid
    else hi = mid - 1
  }
  return lo
}

export const open = Effect.fn("ActivationStore.open")(function* (
  dir: string,
  options: OpenOptions = {}
): Effect.fn.Return<ActivationStoreShape, ActivationStoreError> {
  const manifest = yield* readManifest(dir)
  if (manifest === undefined) {
    return yield* storeError(
      path.join(dir, "manifest.json"),
      "missing: not an activation store (or nothing was ever committed)"
    )
  }
  const m = manifest
  const w = m.numSources * m.dim
  if (options.verify === "full") yield* Effect.forEach(m.shards, (s) => verifyShard(dir, m, s), { discard: true })
  else yield* checkStoreSizes(dir, m)
  let expect = 0
  for (const s of m.shards) {
    if (s.firstRow !== expect)
      return yield* storeError(
        path.join(dir, "manifest.json"),
        `shard ${s.index} starts at row ${s.firstRow}, expected ${expect}`
      )
    expect += s.rows
  }
  if (expect !== m.rows)
    return yield* storeError(path.join(dir, "manifest.json"), `shards hold ${expect} rows, the manifest says ${m.rows}`)

  let normalization: NormalizationStats | undefined
  const byDataset: Array<NormalizationStats | undefined> = m.datasets.map(() => undefined)
  if (m.stats !== null && m.rows > 0) {
    const ref = m.stats
    const bytes = yield* readVerified(dir, ref)
    const st = yield* decodeStats(path.join(dir, ref.file), bytes, w)
    if (st.all.count !== m.rows) {
      return yield* storeError(
        path.join(dir, ref.file),
        `statistics cover ${st.all.count} rows, the store has ${m.rows}`
      )
    }
    normalization = st.all.finalize(m.numSources, m.dim)
    for (const [d, acc] of st.byDataset) if (d < byDataset.length) byDataset[d] = acc.finalize(m.numSources, m.dim)
  }

  const cacheSize = Math.max(1, options.cacheShards ?? 2)
  const bpe = bytesPerElement(m.dtype)
  const stDtype = safetensorsDtype(m.dtype)
  const cache = new Map<number, DecodedShard>()
  const textCache = new Map<number, Map<number, TextRecord>>()
  /** Shards whose file matched its sha256 in this reader: byte offset of their activations. */
  const verified = new Map<number, number>()
  /** Shard k read (checked against its sha256) and parsed; remembers where its activations start. */
  const readShard = (k: number): Effect.Effect<ShardFile, ActivationStoreError> =>
    Effect.gen(function* () {
      const s = m.shards[k] as ShardRecord
      const bytes = yield* readVerified(dir, s.activations)
      const shard = yield* openShard(path.join(dir, s.activations.file), bytes, { ...m, rows: s.rows })
      verified.set(k, shard.activationsOffset)
      return shard
    })
  const loadShard = (k: number): Effect.Effect<DecodedShard, ActivationStoreError> =>
    Effect.map(readShard(k), (shard) => decodeShard(shard, m.dtype, w))
  /** A verified shard for batching: rows are decoded straight from the file bytes into the shuffle buffer. */
  const loadRaw = (k: number): Effect.Effect<LoadedChunk, ActivationStoreError> =>
    Effect.map(readShard(k), ({ rows, datasetIds, activations }): LoadedChunk => {
      const rowBytes = w * bpe
      return {
        rows,
        datasetIds,
        copyRow: (r, dst, offset) =>
          decodeFloat32Into(
            stDtype,
            activations.subarray(r * rowBytes, (r + 1) * rowBytes),
            dst.subarray(offset, offset + w)
          )
      }
    })
  const cachedShard = (k: number): Effect.Effect<DecodedShard, ActivationStoreError> => {
    const hit = cache.get(k)
    if (hit !== undefined) {
      cache.delete(k)
      cache.set(k, hit)
      return Effect.succeed(hit)
    }
    return Effect.tap(loadShard(k), (d) =>
      Effect.sync(() => {
        cache.set(k, d)
        while (cache.size > cacheSize) cache.delete(cache.keys().next().value as number)
      })
    )
  }
  const checkRow = (index: number) =>
    Number.isInteger(index) && index >= 0 && index < m.rows
      ? Effect.void
      : Effect.fail(storeError(dir, `row ${index} is out of range [0, ${m.rows})`))

  /**
   * One row: from a cached shard; else, if its shard was verified earlier in this reader, by a
   * positional read of just that row; else the shard is loaded (and verified) and cached.
   */
  const row = (index: number) =>
    Effect.gen(function* () {
      yield* checkRow(index)
      const k = findShard(m.shards, index)
      const s = m.shards[k] as ShardRecord
      const r = index - s.firstRow
      const hit = cache.get(k)
      const offset = verified.get(k)
      if (hit === undefined && offset !== undefined && offset >= 0) {
        const p = path.join(dir, s.activations.file)
        const bytes = yield* io(p, "cannot read", async () => {
          const fh = await fs.open(p, "r")
          try {
            const buf = new Uint8Array(w * bpe)
            const { bytesRead } = await fh.read(buf, 0, buf.byteLength, offset + r * w * bpe)
            if (bytesRead !== buf.byteLength) throw new Error(`short read (${bytesRead} of ${buf.byteLength} bytes)`)
            return buf
          } finally {
            await fh.close()
          }
        })
        return decodeFloat32Into(stDtype, bytes, new Float32Array(w))
      }
      const d = yield* cachedShard(k)
      return d.data.slice(r * w, (r + 1) * w)
    })

  const rowRange = (start: number, end: number) =>
    Effect.gen(function* () {
      if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= m.rows)) {
        return yield* storeError(dir, `row range [${start}, ${end}) is outside [0, ${m.rows})`)
      }
      const out = new Float32Array((end - start) * w)
      let i = start
      while (i < end) {
        const k = findShard(m.shards, i)
        const s = m.shards[k] as ShardRecord
        const d = yield* cachedShard(k)
        const upto = Math.min(end, s.firstRow + s.rows)
        out.set(d.data.subarray((i - s.firstRow) * w, (upto - s.firstRow) * w), (i - start) * w)
        i = upto
      }
      return out
    })

  const texts = (k: number) =>
    Effect.gen(function* () {
      const hit = textCache.get(k)
      if (hit !== undefined) return hit
      const s = m.shards[k] as ShardRecord
      const bytes = yield* readVerified(dir, s.texts)
      const map = new Map<number, TextRecord>()
      const lines = new TextDecoder().decode(bytes).split("\n")
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i] as string
        if (line === "") continue
        const rec = yield* Effect.try({
          try: () => JSON.parse(line) as TextRecord,
          catch: (e) => storeError(path.join(dir, s.texts.file), `line ${i + 1}: ${errorMessage(e)}`)
        })
        map.set(rec.t, rec)
      }
      textCache.set(k, map)
      while (textCache.size > cacheSize) textCache.delete(textCache.keys().next().value as number)
      return map
    })

  const columnCache = new Map<number, ShardColumns>()
  const columnsOf = (k: number): Effect.Effect<ShardColumns, ActivationStoreError> => {
    const hit = cache.get(k) ?? columnCache.get(k)
    if (hit !== undefined) return Effect.succeed(hit)
    return Effect.map(cachedShard(k), (d) => {
      const c = { textIndex: d.textIndex, position: d.position, datasetIds: d.datasetIds }
      columnCache.set(k, c)
      while (columnCache.size > 64) columnCache.delete(columnCache.keys().next().value as number)
      return c
    })
  }

  const rowText = (index: number) =>
    Effect.gen(function* () {
      yield* checkRow(index)
      const k = findShard(m.shards, index)
      const s = m.shards[k] as ShardRecord
      const d = yield* columnsOf(k)
      const r = index - s.firstRow
      const t = d.textIndex[r] as number
      const rec = (yield* texts(k)).get(t)
      const dataset = m.datasets[d.datasetIds[r] as number] ?? rec?.dataset ?? "unknown"
      return {
        dataset,
        position: d.position[r] as number,
        ...(rec?.id !== undefined ? { id: rec.id } : {}),
        ...(rec?.text !== undefined ? { text: rec.text } : {}),
        ...(rec?.tokens !== undefined ? { tokenIds: rec.tokens } : {})
      }
    })

  const shape: ActivationStoreShape = {
    path: dir,
    rows: m.rows,
    dim: m.dim,
    sources: m.sources,
    datasets: m.datasets,
    normalization,
    normalizationByDataset: byDataset,
    manifest: m,
    verify: Effect.andThen(
      Effect.forEach(m.shards, (s) => verifyShard(dir, m, s), { discard: true }),
      m.stats === null ? Effect.void : Effect.asVoid(readVerified(dir, m.stats))
    ),
    batches: (opts) =>
      makeBatches(
        {
          path: dir,
          rows: m.rows,
          numSources: m.numSources,
          dim: m.dim,
          chunkRows: m.shards.map((s) => s.rows),
          loadChunk: (k) => loadRaw(k),
          normalization,
          normalizationByDataset: byDataset,
          datasets: m.datasets
        },
        opts
      ),
    row,
    rowRange,
    rowText
  }
  return shape
})

/** The `ActivationSource` service over a store directory. */
export const layer = (dir: string, options: OpenOptions = {}): Layer.Layer<ActivationSource, ActivationStoreError> =>
  Layer.effect(
    ActivationSource,
    Effect.map(open(dir, options), (s) => ActivationSource.of(s))
  )
