/**
 * What a consumer (the crosscoder trainer, analysis code) reads from an activation store.
 *
 * Activations of several *sources* — a source is one (model, hook site) pair; two models at one
 * site give two sources — are stored side by side per row: a row is `[numSources, dim]`.
 */
import type { Effect, Stream } from "effect"
import { Context, Schema } from "effect"
import type { NormalizationMode } from "./normalization.js"

export interface SourceInfo {
  /** Model label, e.g. "A" or a directory name. */
  readonly model: string
  /** Hook site key, e.g. "block_output.13". */
  readonly site: string
}

/** Per-source, per-dimension statistics (row-major `[numSources, dim]`) plus a scalar scale per source. */
export interface NormalizationStats {
  readonly count: number
  readonly mean: Float32Array
  readonly std: Float32Array
  /**
   * One number per source: `sqrt(mean over rows of ‖x − mean‖²) / sqrt(dim)`, i.e. the RMS of a
   * centred component; dividing by it gives unit mean squared norm per dimension.
   */
  readonly scale: Float32Array
}

/** Where a reader stands: enough to continue a shuffled pass exactly (trainer resume). */
export interface ReaderCursor {
  readonly epoch: number
  /** Rows already yielded in this epoch. */
  readonly offset: number
}

export interface ActivationBatch {
  readonly rows: number
  readonly numSources: number
  readonly dim: number
  /** Row-major `[rows, numSources, dim]`. */
  readonly data: Float32Array
  /** Global row index of each row in the store. */
  readonly rowIds: Int32Array
  /** Dataset index of each row (into `ActivationSourceShape.datasets`). */
  readonly datasetIds: Int32Array
  /** The cursor *after* this batch. */
  readonly cursor: ReaderCursor
}

export interface BatchOptions {
  readonly batchSize: number
  readonly seed: number
  /** Number of passes over the data (default 1; `Infinity` loops forever). */
  readonly epochs?: number
  /** Shuffle rows (default true). */
  readonly shuffle?: boolean
  /** Drop a final partial batch per epoch (default true). */
  readonly dropLast?: boolean
  /** `"none"` (default), `"zscore"` ((x − mean)/std per source×dim) or `"scale"` ((x − mean)/scale per source). */
  readonly normalize?: NormalizationMode
  /** Resume position (default start). */
  readonly from?: ReaderCursor
  /**
   * (Added by @crosscode/activations.) Rows in the shuffle's mixing buffer. Default: 4 shards, and at
   * least 512 MiB of rows; a buffer as large as the store gives a uniform shuffle.
   */
  readonly shuffleBufferRows?: number
  /**
   * (Added.) Which statistics `normalize` uses: `"all"` (default, over every row) or `"dataset"`
   * (each row with the statistics of its own dataset, as the paper's per-dataset z-scoring).
   */
  readonly normalizeBy?: "all" | "dataset"
}

export class ActivationStoreError extends Schema.TaggedError<ActivationStoreError>()("ActivationStoreError", {
  path: Schema.String,
  message: Schema.String
}) {}

export interface ActivationSourceShape {
  readonly path: string
  readonly rows: number
  readonly dim: number
  readonly sources: ReadonlyArray<SourceInfo>
  /** Dataset tags, indexed by `ActivationBatch.datasetIds`. */
  readonly datasets: ReadonlyArray<string>
  /** Statistics over all rows, if computed. */
  readonly normalization: NormalizationStats | undefined
  /** (Added.) Statistics per dataset, indexed like `datasets` (`undefined` where a dataset has no rows). */
  readonly normalizationByDataset?: ReadonlyArray<NormalizationStats | undefined>
  batches(options: BatchOptions): Stream.Stream<ActivationBatch, ActivationStoreError>
  /** Random access: `[numSources * dim]` for one row. */
  row(index: number): Effect.Effect<Float32Array, ActivationStoreError>
  /** The text / token ids the row was harvested from, when stored. */
  rowText(index: number): Effect.Effect<
    {
      readonly text?: string
      readonly tokenIds?: ReadonlyArray<number>
      readonly dataset: string
      /** (Added.) Index into `tokenIds` of the token this row was taken at. */
      readonly position?: number
      /** (Added.) The text sample's id in its source. */
      readonly id?: string
    },
    ActivationStoreError
  >
}

export class ActivationSource extends Context.Service<ActivationSource, ActivationSourceShape>()(
  "@crosscode/activations/ActivationSource"
) {}
