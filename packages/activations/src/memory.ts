/**
 * An `ActivationSourceShape` over arrays in memory (tests, synthetic data, small experiments). It
 * batches exactly like the on-disk store (same shuffle, cursors and normalization), with the rows
 * split into virtual chunks of `chunkRows`.
 */
import { Effect, Layer } from "effect"
import {
  ActivationSource,
  type ActivationSourceShape,
  ActivationStoreError,
  type NormalizationStats,
  type SourceInfo
} from "./ActivationSource.js"
import { makeBatches } from "./store/batches.js"
import { Welford } from "./util/welford.js"

export interface InMemoryOptions {
  /** Row-major `[rows, numSources, dim]`. */
  readonly data: Float32Array
  readonly numSources: number
  readonly dim: number
  /** Default `{ model: "m<i>", site: "memory" }` per source. */
  readonly sources?: ReadonlyArray<SourceInfo>
  /** Default `["default"]`. */
  readonly datasets?: ReadonlyArray<string>
  /** Per row (default all 0). */
  readonly datasetIds?: Int32Array
  /** Per row text (optional, for `rowText`). */
  readonly texts?: ReadonlyArray<{ readonly text?: string; readonly tokenIds?: ReadonlyArray<number> }>
  /** Virtual chunk size for chunk-aware shuffling (default 1024). */
  readonly chunkRows?: number
  readonly path?: string
}

export const makeInMemorySource = (
  options: InMemoryOptions
): Effect.Effect<ActivationSourceShape, ActivationStoreError> =>
  Effect.gen(function* () {
    const { data, numSources, dim } = options
    const p = options.path ?? "<memory>"
    const w = numSources * dim
    if (!(Number.isInteger(numSources) && numSources > 0 && Number.isInteger(dim) && dim > 0)) {
      return yield* new ActivationStoreError({
        path: p,
        message: `numSources and dim must be positive integers (got ${numSources}, ${dim})`
      })
    }
    if (data.length % w !== 0) {
      return yield* new ActivationStoreError({
        path: p,
        message: `data length ${data.length} is not a multiple of numSources*dim = ${w}`
      })
    }
    const rows = data.length / w
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i] as number)) {
        return yield* new ActivationStoreError({
          path: p,
          message: `non-finite value ${data[i]} at row ${Math.floor(i / w)}`
        })
      }
    }
    const datasets = options.datasets ?? ["default"]
    const datasetIds = options.datasetIds ?? new Int32Array(rows)
    if (datasetIds.length !== rows) {
      return yield* new ActivationStoreError({
        path: p,
        message: `datasetIds has ${datasetIds.length} entries for ${rows} rows`
      })
    }
    for (let i = 0; i < rows; i++) {
      const d = datasetIds[i] as number
      if (!(d >= 0 && d < datasets.length)) {
        return yield* new ActivationStoreError({
          path: p,
          message: `row ${i}: dataset id ${d} outside [0, ${datasets.length})`
        })
      }
    }
    const sources =
      options.sources ?? Array.from({ length: numSources }, (_, i) => ({ model: `m${i}`, site: "memory" }))
    if (sources.length !== numSources) {
      return yield* new ActivationStoreError({
        path: p,
        message: `${sources.length} source infos for ${numSources} sources`
      })
    }
    const all = new Welford(w)
    all.addRows(data, rows)
    const byDataset: Array<NormalizationStats | undefined> = datasets.map((_, d) => {
      const sel: Array<number> = []
      for (let i = 0; i < rows; i++) if (datasetIds[i] === d) sel.push(i)
      if (sel.length === 0) return undefined
      const acc = new Welford(w)
      acc.addRows(data, rows, sel)
      return acc.finalize(numSources, dim)
    })
    const normalization = rows > 0 ? all.finalize(numSources, dim) : undefined
    const chunk = Math.max(1, options.chunkRows ?? 1024)
    const chunkRows: Array<number> = []
    for (let s = 0; s < rows; s += chunk) chunkRows.push(Math.min(chunk, rows - s))
    const checkRow = (index: number) =>
      Number.isInteger(index) && index >= 0 && index < rows
        ? Effect.void
        : Effect.fail(new ActivationStoreError({ path: p, message: `row ${index} is out of range [0, ${rows})` }))
    return {
      path: p,
      rows,
      dim,
      sources,
      datasets,
      normalization,
      normalizationByDataset: byDataset,
      batches: (opts) =>
        makeBatches(
          {
            path: p,
            rows,
            numSources,
            dim,
            chunkRows,
            loadChunk: (k) =>
              Effect.sync(() => {
                const start = k * chunk
                const end = start + (chunkRows[k] as number)
                return {
                  rows: end - start,
                  copyRow: (r: number, dst: Float32Array, offset: number) =>
                    dst.set(data.subarray((start + r) * w, (start + r + 1) * w), offset),
                  datasetIds: datasetIds.subarray(start, end)
                }
              }),
            normalization,
            normalizationByDataset: byDataset,
            datasets
          },
          opts
        ),
      row: (index) => Effect.map(checkRow(index), () => data.slice(index * w, (index + 1) * w)),
      rowText: (index) =>
        Effect.map(checkRow(index), () => {
          const t = options.texts?.[index]
          return {
            dataset: datasets[datasetIds[index] as number] as string,
            ...(t?.text !== undefined ? { text: t.text } : {}),
            ...(t?.tokenIds !== undefined ? { tokenIds: t.tokenIds } : {})
          }
        })
    } satisfies ActivationSourceShape
  })

/** The `ActivationSource` service over arrays. */
export const inMemoryLayer = (options: InMemoryOptions): Layer.Layer<ActivationSource, ActivationStoreError> =>
  Layer.effect(
    ActivationSource,
    Effect.map(makeInMemorySource(options), (s) => ActivationSource.of(s))
  )
