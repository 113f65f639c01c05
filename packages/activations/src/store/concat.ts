/**
 * One store from several stores harvested over consecutive text ranges of one source (a harvest
 * split by text range, e.g. over a cluster's runners): the parts' rows, in text order, appended to
 * a new store exactly as a single harvest appends them — a batch of texts at a time — so the
 * result is byte for byte the store one harvest of the whole source writes (same shards, same
 * statistics; only the manifest's timestamps differ). Resumable like a harvest: a store already
 * holding some rows continues after its cursor.
 */
import * as path from "node:path"
import { Effect } from "effect"
import type { ActivationStoreError } from "../ActivationSource.js"
import type { HarvestError } from "../errors.js"
import type { Manifest } from "./format.js"
import { readVerified, storeError } from "./fsutil.js"
import { decodeShard, openShard } from "./shard.js"
import { readManifest, StoreWriter, type TextRecord } from "./writer.js"

export interface StorePart {
  /** A complete store harvested from texts `[textOffset, …)` of the source (its text indices start at 0). */
  readonly dir: string
  readonly textOffset: number
  /**
   * Texts per forward pass the part was harvested with; `textOffset` must be a multiple of it. Rows
   * are appended one such batch at a time, as the harvest does, so the statistics are identical.
   */
  readonly batchSize: number
}

export interface ConcatOptions {
  readonly dir: string
  /** In text order, contiguous. */
  readonly parts: ReadonlyArray<StorePart>
  readonly shardRows: number
  /** The whole source's name (what a single harvest records, and a resumed harvest compares). */
  readonly textSource: string
}

export interface ConcatResult {
  readonly rows: number
  readonly shards: number
  /** Rows appended by this call (0 when the store was already complete). */
  readonly rowsAppended: number
}

/** Settings every part must share (what fixes the meaning of a row). */
const SHARED = [
  "models",
  "sites",
  "dim",
  "dtype",
  "policy",
  "padding",
  "maxLength",
  "addSpecialTokens",
  "storeText"
] as const

const partManifest = (p: StorePart) =>
  Effect.gen(function* () {
    const m = yield* readManifest(p.dir)
    if (m === undefined) return yield* storeError(p.dir, "part store has no manifest")
    if (!m.complete || m.stopReason !== "sourceExhausted")
      return yield* storeError(p.dir, "part store is not complete (its harvest did not reach the end of its texts)")
    if (m.medianNorms !== null)
      return yield* storeError(
        p.dir,
        "part store used warm-up norm medians: parts harvested separately would filter with different medians"
      )
    if (!Number.isInteger(p.batchSize) || p.batchSize < 1 || p.textOffset % p.batchSize !== 0)
      return yield* storeError(p.dir, `text offset ${p.textOffset} is not a multiple of the batch size ${p.batchSize}`)
    return m
  })

export const concatStores = (o: ConcatOptions): Effect.Effect<ConcatResult, ActivationStoreError | HarvestError> =>
  Effect.gen(function* () {
    if (o.parts.length === 0) return yield* storeError(o.dir, "no part stores to concatenate")
    const manifests: Array<Manifest> = []
    for (const p of o.parts) manifests.push(yield* partManifest(p))
    const first = manifests[0] as Manifest
    for (let i = 1; i < manifests.length; i++) {
      for (const k of SHARED) {
        const a = JSON.stringify(first[k])
        const b = JSON.stringify((manifests[i] as Manifest)[k])
        if (a !== b) return yield* storeError((o.parts[i] as StorePart).dir, `${k} is ${b}, the first part's is ${a}`)
      }
    }
    const writer = yield* StoreWriter.open({
      dir: o.dir,
      dtype: first.dtype,
      shardRows: o.shardRows,
      models: first.models,
      sites: first.sites,
      dim: first.dim,
      policy: first.policy,
      padding: first.padding,
      maxLength: first.maxLength,
      addSpecialTokens: first.addSpecialTokens,
      storeText: first.storeText,
      textSource: o.textSource
    })
    const done = (): ConcatResult => ({
      rows: writer.current.rows,
      shards: writer.current.shards.length,
      rowsAppended: writer.current.rows - rowsAtStart
    })
    const rowsAtStart = writer.rows
    if (writer.current.complete && writer.current.stopReason === "sourceExhausted") return done()
    yield* writer.markInProgress()
    const cursor = writer.cursor
    const width = first.numSources * first.dim

    // the rows of one harvest batch, gathered across the part's shards
    let pending: {
      key: number
      data: Array<Float32Array>
      textIndex: Array<number>
      position: Array<number>
      datasetIds: Array<number>
      texts: Map<number, TextRecord>
    } = { key: -1, data: [], textIndex: [], position: [], datasetIds: [], texts: new Map() }
    const flush = Effect.suspend(() => {
      const b = pending
      pending = { key: -1, data: [], textIndex: [], position: [], datasetIds: [], texts: new Map() }
      if (b.textIndex.length === 0) return Effect.void
      const data = new Float32Array(b.textIndex.length * width)
      for (let i = 0; i < b.data.length; i++) data.set(b.data[i] as Float32Array, i * width)
      return writer.append({
        count: b.textIndex.length,
        data,
        textIndex: b.textIndex,
        position: b.position,
        datasetIds: b.datasetIds,
        texts: b.texts
      })
    })

    for (let i = 0; i < o.parts.length; i++) {
      const part = o.parts[i] as StorePart
      const m = manifests[i] as Manifest
      for (const s of m.shards) {
        const act = yield* readVerified(part.dir, s.activations)
        const shard = decodeShard(
          yield* openShard(path.join(part.dir, s.activations.file), act, { ...m, rows: s.rows }),
          m.dtype,
          width
        )
        const texts = new Map<number, TextRecord>()
        const textBytes = yield* readVerified(part.dir, s.texts)
        for (const line of new TextDecoder().decode(textBytes).split("\n")) {
          if (line === "") continue
          const rec = JSON.parse(line) as TextRecord
          texts.set(rec.t, rec)
        }
        for (let r = 0; r < shard.rows; r++) {
          const local = shard.textIndex[r] as number
          const t = local + part.textOffset
          const pos = shard.position[r] as number
          if (t < cursor.text || (t === cursor.text && pos <= cursor.afterPosition)) continue
          const key = t - (t % part.batchSize)
          if (key !== pending.key) {
            yield* flush
            pending.key = key
          }
          const dataset = m.datasets[shard.datasetIds[r] as number]
          if (dataset === undefined)
            return yield* storeError(part.dir, `shard ${s.index} row ${r} has an unknown dataset id`)
          pending.data.push(shard.data.subarray(r * width, (r + 1) * width))
          pending.textIndex.push(t)
          pending.position.push(pos)
          pending.datasetIds.push(writer.datasetIndex(dataset))
          const rec = texts.get(local)
          if (rec !== undefined && !pending.texts.has(t)) pending.texts.set(t, { ...rec, t })
        }
      }
      yield* flush
    }
    yield* writer.finish("sourceExhausted")
    return done()
  })
