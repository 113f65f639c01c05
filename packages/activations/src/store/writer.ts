/**
 * The write side of a store: creates or resumes a store directory, buffers rows into shards and
 * commits each shard atomically (files first, manifest last). Used by `harvest`; usable directly
 * to write activations from anywhere (`StoreWriter.open` → `append` → `finish`).
 */

import * as fs from "node:fs/promises"
import { endianness } from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import type { ActivationStoreError } from "../ActivationSource.js"
import { HarvestError } from "../errors.js"
import { bytesPerElement, encodeInto, type StoreDtype } from "../util/dtype.js"
import { Welford } from "../util/welford.js"
import {
  decodeManifest,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  type Manifest,
  type ModelRecord,
  OWNED_FILE,
  type ShardRecord,
  shardFile,
  shardStatsFile,
  statsFile,
  textsFile
} from "./format.js"
import { checkSize, exists, fsyncDir, io, readVerified, storeError, writeAtomic } from "./fsutil.js"
import { encodeShard, openShard } from "./shard.js"
import { decodeStats, emptyStats, encodeStats, mergeStats, type StatsSet } from "./stats.js"

export type StoreText = "text" | "tokens" | "both" | "none"

/** Everything that fixes the meaning of a store's rows; a resumed harvest must match it. */
export interface StoreConfig {
  readonly dir: string
  readonly dtype: StoreDtype
  readonly shardRows: number
  readonly models: ReadonlyArray<ModelRecord>
  readonly sites: ReadonlyArray<string>
  readonly dim: number
  readonly policy: unknown
  readonly padding: "left" | "right"
  readonly maxLength: number | null
  readonly addSpecialTokens: boolean
  readonly storeText: StoreText
  readonly textSource: string
}

export interface TextRecord {
  readonly t: number
  readonly id: string
  readonly dataset: string
  readonly text?: string
  readonly tokens?: ReadonlyArray<number>
}

export interface RowsToAppend {
  readonly count: number
  /** `[count * numSources * dim]`. */
  readonly data: Float32Array
  readonly textIndex: ArrayLike<number>
  readonly position: ArrayLike<number>
  readonly datasetIds: ArrayLike<number>
  /** Records of the texts these rows come from (by text index). */
  readonly texts: ReadonlyMap<number, TextRecord>
  /** Describes row i for error messages (e.g. "text rlla:3#0, token 12"). */
  readonly describe?: (row: number) => string
}

/** Where a harvest continues: skip texts before `text`, and rows of `text` at positions ≤ `afterPosition`. */
export interface HarvestCursor {
  readonly text: number
  readonly afterPosition: number
}

export interface ResumeInfo {
  readonly rows: number
  readonly shards: number
  readonly cursor: HarvestCursor
  /** Shards found partial/corrupt and dropped (to be rewritten), with the reason. */
  readonly dropped: ReadonlyArray<{ readonly index: number; readonly reason: string }>
}

const now = (): string => new Date().toISOString()

const configDiff = (m: Manifest, c: StoreConfig, numSources: number): Array<string> => {
  const diffs: Array<string> = []
  const cmp = (what: string, a: unknown, b: unknown) => {
    const sa = JSON.stringify(a)
    const sb = JSON.stringify(b)
    if (sa !== sb) diffs.push(`${what}: store has ${sa}, harvest asks ${sb}`)
  }
  cmp(
    "models",
    m.models.map((x) => [x.label, x.family, x.hiddenSize, x.numLayers]),
    c.models.map((x) => [x.label, x.family, x.hiddenSize, x.numLayers])
  )
  cmp("sites", m.sites, c.sites)
  cmp("numSources", m.numSources, numSources)
  cmp("dim", m.dim, c.dim)
  cmp("dtype", m.dtype, c.dtype)
  cmp("shardRows", m.shardRows, c.shardRows)
  cmp("policy", m.policy, c.policy)
  cmp("padding", m.padding, c.padding)
  cmp("maxLength", m.maxLength, c.maxLength)
  cmp("addSpecialTokens", m.addSpecialTokens, c.addSpecialTokens)
  cmp("storeText", m.storeText, c.storeText)
  cmp("textSource", m.textSource, c.textSource)
  return diffs
}

/** Read and validate `dir/manifest.json`; `undefined` if there is none. */
export const readManifest = (dir: string): Effect.Effect<Manifest | undefined, ActivationStoreError> =>
  Effect.gen(function* () {
    const p = path.join(dir, MANIFEST_FILE)
    if (!(yield* exists(p))) return undefined
    const text = yield* io(p, "cannot read", () => fs.readFile(p, "utf8"))
    return yield* decodeManifest(text).pipe(
      Effect.mapError((e) => storeError(p, `not a valid ${MANIFEST_FORMAT} manifest: ${e.message}`))
    )
  })

/** Full verification of one shard's three files (sizes, sha256, safetensors headers). */
export const verifyShard = (dir: string, m: Manifest, s: ShardRecord): Effect.Effect<StatsSet, ActivationStoreError> =>
  Effect.gen(function* () {
    const act = yield* readVerified(dir, s.activations)
    yield* openShard(path.join(dir, s.activations.file), act, { ...m, rows: s.rows })
    yield* readVerified(dir, s.texts)
    const st = yield* readVerified(dir, s.stats)
    return yield* decodeStats(path.join(dir, s.stats.file), st, m.numSources * m.dim)
  })

export class StoreWriter {
  private manifest: Manifest
  private readonly width: number
  private readonly bpe: number
  private readonly merged: StatsSet
  private shard: StatsSet
  private readonly bytes: Uint8Array
  private readonly rounded: Float32Array
  private readonly textIndex: Int32Array
  private readonly position: Int32Array
  private readonly datasetIds: Int32Array
  private texts = new Map<number, TextRecord>()
  private bufRows = 0
  private lastCursor: HarvestCursor

  private constructor(
    readonly dir: string,
    manifest: Manifest,
    merged: StatsSet,
    readonly resumed: ResumeInfo | undefined
  ) {
    this.manifest = manifest
    this.width = manifest.numSources * manifest.dim
    this.bpe = bytesPerElement(manifest.dtype)
    this.merged = merged
    this.shard = emptyStats(this.width)
    this.bytes = new Uint8Array(manifest.shardRows * this.width * this.bpe)
    this.rounded = new Float32Array(this.width * Math.min(manifest.shardRows, 256))
    this.textIndex = new Int32Array(manifest.shardRows)
    this.position = new Int32Array(manifest.shardRows)
    this.datasetIds = new Int32Array(manifest.shardRows)
    const last = manifest.shards[manifest.shards.length - 1]
    this.lastCursor = last === undefined ? { text: 0, afterPosition: -1 } : last.next
  }

  /**
   * Create the store, or reopen it to resume: the configuration must match, every listed shard is
   * verified (size, sha256, header) and the first bad one and everything after it are dropped (so
   * they are re-harvested), and files the manifest does not list are removed.
   */
  static open(config: StoreConfig): Effect.Effect<StoreWriter, ActivationStoreError> {
    return Effect.gen(function* () {
      const dir = config.dir
      if (endianness() !== "LE")
        return yield* storeError(dir, "activation stores are little-endian; this host is big-endian")
      if (!Number.isInteger(config.shardRows) || config.shardRows < 1) {
        return yield* storeError(dir, `shardRows must be a positive integer, got ${config.shardRows}`)
      }
      yield* io(dir, "cannot create directory", () => fs.mkdir(dir, { recursive: true }))
      const numSources = config.models.length * config.sites.length
      const width = numSources * config.dim
      const existing = yield* readManifest(dir)
      let manifest: Manifest
      let merged: StatsSet
      let resumed: ResumeInfo | undefined
      if (existing === undefined) {
        manifest = {
          format: MANIFEST_FORMAT,
          createdAt: now(),
          updatedAt: now(),
          models: config.models,
          sites: config.sites,
          sources: config.models.flatMap((m) => config.sites.map((site) => ({ model: m.label, site }))),
          numSources,
          dim: config.dim,
          dtype: config.dtype,
          shardRows: config.shardRows,
          policy: config.policy,
          medianNorms: null,
          padding: config.padding,
          maxLength: config.maxLength,
          addSpecialTokens: config.addSpecialTokens,
          storeText: config.storeText,
          textSource: config.textSource,
          datasets: [],
          rows: 0,
          shards: [],
          stats: null,
          complete: false,
          stopReason: null
        }
        merged = emptyStats(width)
      } else {
        const diffs = configDiff(existing, config, numSources)
        if (diffs.length > 0) {
          return yield* storeError(
            dir,
            `cannot resume: the store was harvested with different settings:\n  ${diffs.join("\n  ")}`
          )
        }
        const kept: Array<ShardRecord> = []
        const dropped: Array<{ index: number; reason: string }> = []
        merged = emptyStats(width)
        for (const s of existing.shards) {
          if (dropped.length > 0) {
            dropped.push({ index: s.index, reason: "follows a dropped shard" })
            continue
          }
          const r = yield* Effect.result(verifyShard(dir, existing, s))
          if (r._tag === "Failure") {
            dropped.push({ index: s.index, reason: r.failure.message })
            yield* Effect.logWarning(
              `activation store ${dir}: shard ${s.index} is unusable (${r.failure.message}); rewriting it and any later shards`
            )
            continue
          }
          kept.push(s)
          mergeStats(merged, r.success)
        }
        const rows = kept.reduce((a, s) => a + s.rows, 0)
        manifest = {
          ...existing,
          updatedAt: now(),
          shards: kept,
          rows,
          stats: existing.stats,
          complete: dropped.length === 0 ? existing.complete : false,
          stopReason: dropped.length === 0 ? existing.stopReason : null
        }
        const last = kept[kept.length - 1]
        resumed = {
          rows,
          shards: kept.length,
          cursor: last === undefined ? { text: 0, afterPosition: -1 } : last.next,
          dropped
        }
      }
      const writer = new StoreWriter(dir, manifest, merged, resumed)
      yield* writer.writeStatsAndManifest(true)
      yield* writer.removeOrphans()
      return writer
    })
  }

  get rows(): number {
    return this.manifest.rows + this.bufRows
  }
  get committedRows(): number {
    return this.manifest.rows
  }
  get cursor(): HarvestCursor {
    return this.lastCursor
  }
  get current(): Manifest {
    return this.manifest
  }
  get medianNorms(): ReadonlyArray<number> | null {
    return this.manifest.medianNorms
  }
  setMedianNorms(m: ReadonlyArray<number>): void {
    this.manifest = { ...this.manifest, medianNorms: [...m] }
  }

  /** Index of a dataset tag (added to the manifest on first use). */
  datasetIndex(tag: string): number {
    const i = this.manifest.datasets.indexOf(tag)
    if (i >= 0) return i
    this.manifest = { ...this.manifest, datasets: [...this.manifest.datasets, tag] }
    return this.manifest.datasets.length - 1
  }

  /** Append rows; full shards are committed as they fill. */
  append(rows: RowsToAppend): Effect.Effect<void, ActivationStoreError | HarvestError> {
    const self = this
    return Effect.gen(function* () {
      const w = self.width
      if (rows.data.length !== rows.count * w) {
        return yield* new HarvestError({
          message: `append: data has ${rows.data.length} values, expected ${rows.count} rows × ${w}`
        })
      }
      let done = 0
      while (done < rows.count) {
        const k = Math.min(rows.count - done, self.manifest.shardRows - self.bufRows, self.rounded.length / w)
        const src = rows.data.subarray(done * w, (done + k) * w)
        const dst = self.bytes.subarray(self.bufRows * w * self.bpe, (self.bufRows + k) * w * self.bpe)
        const rounded = self.rounded.subarray(0, k * w)
        const bad = encodeInto(src, self.manifest.dtype, dst, rounded)
        if (bad >= 0) {
          const row = done + Math.floor(bad / w)
          const source = self.manifest.sources[Math.floor((bad % w) / self.manifest.dim)]
          const v = src[bad] as number
          return yield* new HarvestError({
            message: `non-finite activation ${Number.isFinite(v) ? `${v} (overflows ${self.manifest.dtype})` : String(v)} from model ${source?.model} at ${source?.site}${
              rows.describe !== undefined ? ` for ${rows.describe(row)}` : ` (row ${row})`
            }`
          })
        }
        self.shard.all.addRows(rounded, k)
        const perDs = new Map<number, Array<number>>()
        for (let i = 0; i < k; i++) {
          const r = done + i
          const at = self.bufRows + i
          const d = rows.datasetIds[r] as number
          self.textIndex[at] = rows.textIndex[r] as number
          self.position[at] = rows.position[r] as number
          self.datasetIds[at] = d
          let sel = perDs.get(d)
          if (sel === undefined) perDs.set(d, (sel = []))
          sel.push(i)
          const t = rows.textIndex[r] as number
          if (!self.texts.has(t)) {
            const rec = rows.texts.get(t)
            if (rec !== undefined) self.texts.set(t, rec)
          }
        }
        for (const [d, sel] of perDs) {
          let acc = self.shard.byDataset.get(d)
          if (acc === undefined) self.shard.byDataset.set(d, (acc = new Welford(w)))
          acc.addRows(rounded, k, sel)
        }
        self.bufRows += k
        done += k
        if (self.bufRows === self.manifest.shardRows) yield* self.commit()
      }
    })
  }

  /** Commit the buffered rows (if any) and record why the harvest stopped. */
  finish(stopReason: "maxRows" | "sourceExhausted" | null): Effect.Effect<void, ActivationStoreError> {
    const self = this
    return Effect.gen(function* () {
      if (self.bufRows > 0) yield* self.commit()
      self.manifest = { ...self.manifest, complete: stopReason !== null, stopReason }
      yield* self.writeManifest()
    })
  }

  /** Mark the store as being written (clears `complete` before a continued harvest). */
  markInProgress(): Effect.Effect<void, ActivationStoreError> {
    if (!this.manifest.complete && this.manifest.stopReason === null) return Effect.void
    this.manifest = { ...this.manifest, complete: false, stopReason: null }
    return this.writeManifest()
  }

  private commit(): Effect.Effect<void, ActivationStoreError> {
    const self = this
    return Effect.gen(function* () {
      const m = self.manifest
      const index = m.shards.length
      const rows = self.bufRows
      const meta = {
        format: MANIFEST_FORMAT,
        shard: String(index),
        firstRow: String(m.rows),
        sources: JSON.stringify(m.sources)
      }
      const act = yield* encodeShard(
        path.join(self.dir, shardFile(index)),
        { ...m, rows },
        self.bytes.subarray(0, rows * self.width * self.bpe),
        { datasetIds: self.datasetIds, textIndex: self.textIndex, position: self.position },
        meta
      )
      const enc = new TextEncoder()
      const lines = [...self.texts.values()].map((t) => enc.encode(`${JSON.stringify(t)}\n`))
      const actRef = yield* writeAtomic(self.dir, shardFile(index), act)
      const textsRef = yield* writeAtomic(self.dir, textsFile(index), lines)
      const shardStats = yield* encodeStats(path.join(self.dir, shardStatsFile(index)), self.shard, m.numSources, m.dim)
      const statsRef = yield* writeAtomic(self.dir, shardStatsFile(index), shardStats)
      yield* fsyncDir(self.dir)
      const record: ShardRecord = {
        index,
        rows,
        firstRow: m.rows,
        activations: actRef,
        texts: textsRef,
        stats: statsRef,
        firstText: self.textIndex[0] as number,
        next: { text: self.textIndex[rows - 1] as number, afterPosition: self.position[rows - 1] as number }
      }
      mergeStats(self.merged, self.shard)
      self.manifest = { ...m, rows: m.rows + rows, shards: [...m.shards, record] }
      self.lastCursor = record.next
      self.shard = emptyStats(self.width)
      self.texts = new Map()
      self.bufRows = 0
      yield* self.writeStatsAndManifest(true)
    })
  }

  private writeStatsAndManifest(writeStats: boolean): Effect.Effect<void, ActivationStoreError> {
    const self = this
    return Effect.gen(function* () {
      const previous = self.manifest.stats
      if (writeStats) {
        const name = statsFile(self.manifest.shards.length)
        const chunks = yield* encodeStats(
          path.join(self.dir, name),
          self.merged,
          self.manifest.numSources,
          self.manifest.dim
        )
        const ref = yield* writeAtomic(self.dir, name, chunks)
        self.manifest = { ...self.manifest, stats: ref }
      }
      yield* self.writeManifest()
      if (previous !== null && self.manifest.stats !== null && previous.file !== self.manifest.stats.file) {
        yield* Effect.promise(() => fs.rm(path.join(self.dir, previous.file), { force: true }))
      }
    })
  }

  private writeManifest(): Effect.Effect<void, ActivationStoreError> {
    this.manifest = { ...this.manifest, updatedAt: now() }
    const bytes = new TextEncoder().encode(`${JSON.stringify(this.manifest, null, 1)}\n`)
    return Effect.andThen(writeAtomic(this.dir, MANIFEST_FILE, [bytes]), fsyncDir(this.dir))
  }

  /** Delete files a harvest owns by name that the manifest does not list (tmp files, orphans). */
  private removeOrphans(): Effect.Effect<void, ActivationStoreError> {
    const m = this.manifest
    const listed = new Set<string>([MANIFEST_FILE])
    for (const s of m.shards) for (const f of [s.activations, s.texts, s.stats]) listed.add(f.file)
    if (m.stats !== null) listed.add(m.stats.file)
    const dir = this.dir
    return io(dir, "cannot clean up", async () => {
      for (const f of await fs.readdir(dir)) {
        if (OWNED_FILE.test(f) && !listed.has(f)) await fs.rm(path.join(dir, f), { force: true })
      }
    })
  }
}

/** Quick check that every listed file exists with the listed size (no hashing). */
export const checkStoreSizes = (dir: string, m: Manifest): Effect.Effect<void, ActivationStoreError> =>
  Effect.forEach(
    m.shards,
    (s) => Effect.all([checkSize(dir, s.activations), checkSize(dir, s.texts), checkSize(dir, s.stats)]),
    {
      discard: true
    }
  )
