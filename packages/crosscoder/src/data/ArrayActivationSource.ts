/**
 * An in-memory `ActivationSourceShape` over a Float32Array `[rows, numSources, dim]`: synthetic
 * data for tests and docs, or small datasets that fit in memory. Implements the full reader
 * contract (seeded per-epoch shuffles, resumable cursors, drop-last, normalization).
 */
import {
  type ActivationBatch,
  type ActivationSourceShape,
  ActivationStoreError,
  type BatchOptions,
  type NormalizationStats,
  type SourceInfo
} from "@crosscode/activations"
import { Rng } from "@crosscode/core"
import { Effect, Stream } from "effect"

export interface ArraySourceOptions {
  /** Row-major `[rows, sources.length, dim]`. */
  readonly data: Float32Array
  readonly sources: ReadonlyArray<SourceInfo>
  readonly dim: number
  readonly path?: string
  /** Dataset tags and the dataset of each row (default one dataset "synthetic"). */
  readonly datasets?: ReadonlyArray<string>
  readonly datasetIds?: Int32Array
  /** Statistics: "compute" (default) computes them from `data`; `undefined` leaves them absent. */
  readonly normalization?: NormalizationStats | "compute" | undefined
}

/**
 * Per-(source, dim) mean and population std, and per-source scale
 * `sqrt(mean over rows of ‖x_s − mean_s‖²) / sqrt(dim)`, accumulated in float64.
 */
export const computeNormalizationStats = (data: Float32Array, sources: number, dim: number): NormalizationStats => {
  const n = sources * dim
  const rows = data.length / n
  const mean = new Float64Array(n)
  for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) mean[i] = mean[i]! + data[r * n + i]!
  for (let i = 0; i < n; i++) mean[i] = mean[i]! / rows
  const varr = new Float64Array(n)
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < n; i++) {
      const c = data[r * n + i]! - mean[i]!
      varr[i] = varr[i]! + c * c
    }
  }
  const std = new Float32Array(n)
  const scale = new Float32Array(sources)
  for (let s = 0; s < sources; s++) {
    let tot = 0
    for (let i = 0; i < dim; i++) {
      const v = varr[s * dim + i]! / rows
      std[s * dim + i] = Math.sqrt(v)
      tot += v
    }
    scale[s] = Math.sqrt(tot / dim)
  }
  return { count: rows, mean: Float32Array.from(mean), std, scale }
}

const epochSeed = (seed: number, epoch: number): number =>
  (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0

export const arrayActivationSource = (options: ArraySourceOptions): ActivationSourceShape => {
  const { data, sources, dim } = options
  const S = sources.length
  const width = S * dim
  const path = options.path ?? "memory:"
  const rows = Math.floor(data.length / width)
  if (rows * width !== data.length || rows === 0) {
    throw new RangeError(
      `arrayActivationSource: data length ${data.length} is not a positive multiple of sources × dim = ${width}`
    )
  }
  const datasets = options.datasets ?? ["synthetic"]
  const datasetIds = options.datasetIds ?? new Int32Array(rows)
  const normalization =
    options.normalization === "compute" || !("normalization" in options)
      ? computeNormalizationStats(data, S, dim)
      : options.normalization
  const fail = (message: string) => new ActivationStoreError({ path, message })

  const batches = (o: BatchOptions): Stream.Stream<ActivationBatch, ActivationStoreError> => {
    const bs = o.batchSize
    const epochs = o.epochs ?? 1
    const shuffle = o.shuffle ?? true
    const dropLast = o.dropLast ?? true
    const mode = o.normalize ?? "none"
    if (!(Number.isInteger(bs) && bs > 0)) return Stream.fail(fail(`batchSize ${bs} must be a positive integer`))
    if (dropLast && bs > rows) return Stream.fail(fail(`batchSize ${bs} exceeds the ${rows} rows with dropLast`))
    if (mode !== "none" && normalization === undefined)
      return Stream.fail(fail(`normalize "${mode}" needs statistics; none stored`))
    let div: Float32Array | undefined
    if (mode !== "none") {
      div = new Float32Array(width)
      for (let s = 0; s < S; s++) {
        for (let i = 0; i < dim; i++) {
          div[s * dim + i] = Math.max(
            mode === "zscore" ? normalization!.std[s * dim + i]! : normalization!.scale[s]!,
            1e-6
          )
        }
      }
    }
    const perms = new Map<number, Int32Array>()
    const order = (epoch: number): Int32Array => {
      let p = perms.get(epoch)
      if (p === undefined) {
        if (shuffle) p = Rng.seeded(epochSeed(o.seed, epoch)).permutation(rows)
        else {
          p = new Int32Array(rows)
          for (let i = 0; i < rows; i++) p[i] = i
        }
        perms.clear()
        perms.set(epoch, p)
      }
      return p
    }
    const start = o.from ?? { epoch: 0, offset: 0 }
    return Stream.unfold({ epoch: start.epoch, offset: start.offset }, (st) =>
      Effect.sync(() => {
        let { epoch, offset } = st
        for (;;) {
          if (epoch >= epochs) return undefined
          const left = rows - offset
          if (left <= 0 || (dropLast && left < bs)) {
            epoch += 1
            offset = 0
            continue
          }
          break
        }
        const n = Math.min(bs, rows - offset)
        const perm = order(epoch)
        const out = new Float32Array(n * width)
        const rowIds = new Int32Array(n)
        const dsIds = new Int32Array(n)
        for (let r = 0; r < n; r++) {
          const src = perm[offset + r]!
          rowIds[r] = src
          dsIds[r] = datasetIds[src]!
          out.set(data.subarray(src * width, (src + 1) * width), r * width)
        }
        if (div !== undefined) {
          const mean = normalization!.mean
          for (let r = 0; r < n; r++) {
            for (let i = 0; i < width; i++) out[r * width + i] = Math.fround(out[r * width + i]! - mean[i]!) / div[i]!
          }
        }
        const cursor = { epoch, offset: offset + n }
        const batch: ActivationBatch = { rows: n, numSources: S, dim, data: out, rowIds, datasetIds: dsIds, cursor }
        return [batch, cursor] as const
      })
    )
  }

  return {
    path,
    rows,
    dim,
    sources,
    datasets,
    normalization,
    batches,
    row: (index) =>
      index >= 0 && index < rows && Number.isInteger(index)
        ? Effect.succeed(data.slice(index * width, (index + 1) * width))
        : Effect.fail(fail(`row ${index} out of range [0, ${rows})`)),
    rowText: (index) =>
      index >= 0 && index < rows && Number.isInteger(index)
        ? Effect.succeed({ dataset: datasets[datasetIds[index]!] ?? "unknown" })
        : Effect.fail(fail(`row ${index} out of range [0, ${rows})`))
  }
}
