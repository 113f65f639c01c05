/**
 * Shuffled batches over rows stored in chunks (shards), shared by the on-disk store and the
 * in-memory source.
 *
 * Chunk-aware shuffling: per epoch the chunk order is shuffled with (seed, epoch); chunks are loaded
 * one after another into a mixing buffer, and rows leave the buffer in random order once it holds
 * more than `shuffleBufferRows` rows (then the buffer drains at the end). With a buffer at least as
 * large as the store this is a uniform shuffle. The order of row ids depends only on the seed, the
 * epoch, the chunk sizes and the buffer size — never on the data — so it is computed up front from
 * ids alone; that makes a pass resumable from any `ReaderCursor` (the reader rebuilds the buffer's
 * content at that point) and guarantees every row appears exactly once per epoch.
 */
import { Rng } from "@crosscode/core"
import { Effect, Stream } from "effect"
import {
  type ActivationBatch,
  ActivationStoreError,
  type BatchOptions,
  type NormalizationStats,
  type ReaderCursor
} from "../ActivationSource.js"
import { normalizationDivisor, normalizeRowsInPlace } from "../normalization.js"

export interface LoadedChunk {
  readonly rows: number
  /** Writes row `r` of the chunk (`numSources * dim` floats) into `dst` at `offset`. */
  readonly copyRow: (r: number, dst: Float32Array, offset: number) => void
  readonly datasetIds: Int32Array
}

export interface ChunkedRows {
  readonly path: string
  readonly rows: number
  readonly numSources: number
  readonly dim: number
  readonly chunkRows: ReadonlyArray<number>
  readonly loadChunk: (k: number) => Effect.Effect<LoadedChunk, ActivationStoreError>
  readonly normalization: NormalizationStats | undefined
  readonly normalizationByDataset: ReadonlyArray<NormalizationStats | undefined> | undefined
  readonly datasets: ReadonlyArray<string>
}

/** Default mixing-buffer size: 4 chunks, and at least as many rows as fit in 512 MiB. */
export const defaultShuffleBufferRows = (src: Pick<ChunkedRows, "numSources" | "dim" | "chunkRows">): number => {
  const maxChunk = src.chunkRows.reduce((a, b) => Math.max(a, b), 0)
  return Math.max(4 * maxChunk, Math.floor((512 * 1024 * 1024) / (4 * Math.max(1, src.numSources * src.dim))))
}

export interface EpochPlan {
  /** Global row ids in emission order (length = rows). */
  readonly order: Int32Array
  /** Chunks in load order. */
  readonly chunkOrder: Int32Array
  /** `loadAt[j]`: chunk `chunkOrder[j]` is loaded before emitting `order[loadAt[j]]`. */
  readonly loadAt: Int32Array
  /** Most rows held at once. */
  readonly maxLive: number
}

export const planEpoch = (
  chunkRows: ReadonlyArray<number>,
  seed: number,
  epoch: number,
  shuffle: boolean,
  bufferRows: number
): EpochPlan => {
  const k = chunkRows.length
  const starts = new Int32Array(k)
  let n = 0
  for (let j = 0; j < k; j++) {
    starts[j] = n
    n += chunkRows[j] as number
  }
  const chunkOrder = Int32Array.from({ length: k }, (_, j) => j)
  const loadAt = new Int32Array(k)
  const order = new Int32Array(n)
  if (!shuffle) {
    for (let i = 0; i < n; i++) order[i] = i
    for (let j = 0; j < k; j++) loadAt[j] = starts[j] as number
    const maxLive = chunkRows.reduce((a, b) => Math.max(a, b), 0)
    return { order, chunkOrder, loadAt, maxLive }
  }
  const rng = Rng.seeded(seed, epoch, 0x5348)
  rng.shuffle(chunkOrder)
  const cap = Math.max(1, bufferRows)
  const buffer = new Int32Array(Math.min(n, cap + chunkRows.reduce((a, b) => Math.max(a, b), 0)))
  let size = 0
  let out = 0
  let maxLive = 0
  const draw = () => {
    const i = rng.int(size)
    order[out++] = buffer[i] as number
    buffer[i] = buffer[--size] as number
  }
  for (let j = 0; j < k; j++) {
    const c = chunkOrder[j] as number
    loadAt[j] = out
    const s = starts[c] as number
    const r = chunkRows[c] as number
    for (let t = 0; t < r; t++) buffer[size++] = s + t
    maxLive = Math.max(maxLive, size)
    while (size > cap) draw()
  }
  while (size > 0) draw()
  return { order, chunkOrder, loadAt, maxLive }
}

/** The mean to subtract and the divisor, both `[numSources * dim]`. */
interface Affine {
  readonly mean: Float32Array
  readonly divisor: Float32Array
}

const affineOf = (stats: NormalizationStats, mode: "zscore" | "scale", numSources: number, dim: number): Affine => ({
  mean: stats.mean,
  divisor: normalizationDivisor(stats, mode, numSources, dim)
})

const fail = (path: string, message: string) => Effect.fail(new ActivationStoreError({ path, message }))

/** Validates options and returns the batch stream. */
export const makeBatches = (
  src: ChunkedRows,
  options: BatchOptions
): Stream.Stream<ActivationBatch, ActivationStoreError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const n = src.rows
      const B = options.batchSize
      const epochs = options.epochs ?? 1
      const shuffle = options.shuffle ?? true
      const dropLast = options.dropLast ?? true
      const normalize = options.normalize ?? "none"
      const normalizeBy = options.normalizeBy ?? "all"
      const from = options.from ?? { epoch: 0, offset: 0 }
      const bufferRows = options.shuffleBufferRows ?? defaultShuffleBufferRows(src)
      const w = src.numSources * src.dim
      if (!Number.isInteger(B) || B < 1) return yield* fail(src.path, `batchSize must be a positive integer, got ${B}`)
      if (!(epochs >= 0) || (!Number.isInteger(epochs) && epochs !== Number.POSITIVE_INFINITY)) {
        return yield* fail(src.path, `epochs must be a non-negative integer or Infinity, got ${epochs}`)
      }
      if (
        !Number.isInteger(from.epoch) ||
        from.epoch < 0 ||
        !Number.isInteger(from.offset) ||
        from.offset < 0 ||
        from.offset > n
      ) {
        return yield* fail(
          src.path,
          `cursor {epoch: ${from.epoch}, offset: ${from.offset}} is outside a store of ${n} rows`
        )
      }
      if (!Number.isInteger(bufferRows) || bufferRows < 1) {
        return yield* fail(src.path, `shuffleBufferRows must be a positive integer, got ${bufferRows}`)
      }
      const perEpoch = dropLast ? Math.floor(n / B) : Math.ceil(n / B)
      if (perEpoch === 0 && epochs === Number.POSITIVE_INFINITY) {
        return yield* fail(
          src.path,
          `no batch fits in an epoch (${n} rows, batchSize ${B}, dropLast ${dropLast}); cannot loop forever`
        )
      }
      // normalization
      let affines: ReadonlyArray<Affine | undefined> = []
      let global: Affine | undefined
      if (normalize !== "none") {
        if (normalizeBy === "dataset") {
          const per = src.normalizationByDataset
          if (per === undefined)
            return yield* fail(
              src.path,
              "per-dataset normalization requested but the source has no per-dataset statistics"
            )
          const out: Array<Affine | undefined> = []
          for (let d = 0; d < src.datasets.length; d++) {
            const st = per[d]
            if (st !== undefined && st.count >= 2) out.push(affineOf(st, normalize, src.numSources, src.dim))
            else out.push(undefined)
          }
          affines = out
        } else {
          const st = src.normalization
          if (st === undefined || st.count < 2) {
            return yield* fail(
              src.path,
              `normalize "${normalize}" needs statistics over at least 2 rows; the source has ${st?.count ?? "none"}`
            )
          }
          global = affineOf(st, normalize, src.numSources, src.dim)
        }
      }

      // per-epoch state
      let epoch = from.epoch
      let offset = from.offset
      let plan: EpochPlan | undefined
      let nextChunk = 0
      let pool = new Float32Array(0)
      let poolDs = new Int32Array(0)
      let slotOf = new Int32Array(0)
      let free: Array<number> = []
      let emittedBefore: Uint8Array | undefined
      const chunkStart = new Int32Array(src.chunkRows.length)
      for (let j = 1; j < chunkStart.length; j++)
        chunkStart[j] = (chunkStart[j - 1] as number) + (src.chunkRows[j - 1] as number)

      const startEpoch = (startOffset: number) => {
        plan = planEpoch(src.chunkRows, options.seed, epoch, shuffle, bufferRows)
        nextChunk = 0
        if (pool.length < plan.maxLive * w) {
          pool = new Float32Array(plan.maxLive * w)
          poolDs = new Int32Array(plan.maxLive)
        }
        if (slotOf.length !== n) slotOf = new Int32Array(n)
        slotOf.fill(-1)
        free = []
        for (let s = plan.maxLive - 1; s >= 0; s--) free.push(s)
        emittedBefore = undefined
        if (startOffset > 0) {
          emittedBefore = new Uint8Array(n)
          for (let i = 0; i < startOffset; i++) emittedBefore[plan.order[i] as number] = 1
        }
      }

      const loadUpTo = (i: number) =>
        Effect.gen(function* () {
          const p = plan as EpochPlan
          while (nextChunk < p.chunkOrder.length && (p.loadAt[nextChunk] as number) <= i) {
            const c = p.chunkOrder[nextChunk] as number
            nextChunk++
            const start = chunkStart[c] as number
            const rows = src.chunkRows[c] as number
            if (emittedBefore !== undefined) {
              let any = false
              for (let r = 0; r < rows && !any; r++) any = emittedBefore[start + r] === 0
              if (!any) continue
            }
            const chunk = yield* src.loadChunk(c)
            if (chunk.rows !== rows)
              return yield* fail(src.path, `chunk ${c} holds ${chunk.rows} rows, expected ${rows}`)
            for (let r = 0; r < rows; r++) {
              if (emittedBefore !== undefined && emittedBefore[start + r] === 1) continue
              const slot = free.pop()
              if (slot === undefined) return yield* fail(src.path, "internal error: shuffle buffer overflow")
              chunk.copyRow(r, pool, slot * w)
              poolDs[slot] = chunk.datasetIds[r] as number
              slotOf[start + r] = slot
            }
          }
        })

      const next = (): Effect.Effect<readonly [ActivationBatch, undefined] | undefined, ActivationStoreError> =>
        Effect.gen(function* () {
          for (;;) {
            if (epoch >= epochs) return undefined
            const remaining = n - offset
            const take = Math.min(B, remaining)
            if (take === 0 || (dropLast && take < B)) {
              epoch++
              offset = 0
              plan = undefined
              continue
            }
            if (plan === undefined) startEpoch(offset)
            const p = plan as unknown as EpochPlan
            const data = new Float32Array(take * w)
            const rowIds = new Int32Array(take)
            const datasetIds = new Int32Array(take)
            for (let b = 0; b < take; b++) {
              const i = offset + b
              yield* loadUpTo(i)
              const r = p.order[i] as number
              const slot = slotOf[r] as number
              if (slot < 0) return yield* fail(src.path, `internal error: row ${r} not loaded`)
              data.set(pool.subarray(slot * w, (slot + 1) * w), b * w)
              rowIds[b] = r
              datasetIds[b] = poolDs[slot] as number
              slotOf[r] = -1
              free.push(slot)
            }
            if (normalize !== "none") {
              for (let b = 0; b < take; b++) {
                const a = global ?? affines[datasetIds[b] as number]
                if (a === undefined) {
                  return yield* fail(
                    src.path,
                    `no statistics (need ≥ 2 rows) for dataset "${src.datasets[datasetIds[b] as number] ?? datasetIds[b]}" to normalize row ${rowIds[b]}`
                  )
                }
                normalizeRowsInPlace(data, a.mean, a.divisor, b * w, 1)
              }
            }
            offset += take
            const rest = n - offset
            const epochDone = rest === 0 || (dropLast && rest < B)
            const cursor: ReaderCursor = epochDone ? { epoch: epoch + 1, offset: 0 } : { epoch, offset }
            if (epochDone) {
              epoch++
              offset = 0
              plan = undefined
            }
            return [
              { rows: take, numSources: src.numSources, dim: src.dim, data, rowIds, datasetIds, cursor },
              undefined
            ] as const
          }
        })

      return Stream.unfold(undefined, next)
    })
  )
