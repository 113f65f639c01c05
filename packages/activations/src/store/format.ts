/**
 * On-disk layout of an activation store (a directory):
 *
 *   manifest.json                      the single source of truth (written last, atomically)
 *   stats-NNNNNN.safetensors           merged normalization statistics after NNNNNN shards
 *                                      (float64 Welford parts; the manifest names the current one)
 *   shard-000000.safetensors           activations [rows, numSources, dim] (F32/F16/BF16) plus
 *                                      int32 `dataset_ids`, `text_index`, `position` per row
 *   shard-000000.texts.jsonl           one line per text with rows in the shard:
 *                                      {"t": textIndex, "id", "dataset", "text"?, "tokens"?}
 *   shard-000000.stats.safetensors     the shard's own Welford parts (all rows and per dataset)
 *
 * Every file is written to `<name>.tmp`, fsynced and renamed; the manifest records each file's
 * size and sha256 only after the file is complete. Files the manifest does not list are ignored
 * by readers and removed by a resumed harvest.
 */
import { Schema } from "effect"

export const MANIFEST_FORMAT = "crosscode-activations/1"
export const MANIFEST_FILE = "manifest.json"
/** Merged statistics after `shards` shards; a new name per commit keeps the manifest consistent at every instant. */
export const statsFile = (shards: number): string => `stats-${String(shards).padStart(6, "0")}.safetensors`

export const shardBase = (index: number): string => `shard-${String(index).padStart(6, "0")}`
export const shardFile = (index: number): string => `${shardBase(index)}.safetensors`
export const textsFile = (index: number): string => `${shardBase(index)}.texts.jsonl`
export const shardStatsFile = (index: number): string => `${shardBase(index)}.stats.safetensors`
/** Names a harvest may have written (used to clean up orphans). */
export const OWNED_FILE =
  /^(shard-\d{6}\.(safetensors|texts\.jsonl|stats\.safetensors)|stats-\d{6}\.safetensors|manifest\.json)(\.tmp)?$/

const FileRef = Schema.Struct({
  file: Schema.String,
  bytes: Schema.Number,
  sha256: Schema.String
})
export type FileRef = typeof FileRef.Type

const ShardRecord = Schema.Struct({
  index: Schema.Number,
  rows: Schema.Number,
  firstRow: Schema.Number,
  activations: FileRef,
  texts: FileRef,
  stats: FileRef,
  /** Text index of the first row. */
  firstText: Schema.Number,
  /** Where a harvest continues after this shard: skip texts before `text`, and rows of `text` at positions ≤ `afterPosition`. */
  next: Schema.Struct({ text: Schema.Number, afterPosition: Schema.Number })
})
export type ShardRecord = typeof ShardRecord.Type

const ModelRecord = Schema.Struct({
  label: Schema.String,
  name: Schema.String,
  family: Schema.String,
  hiddenSize: Schema.Number,
  numLayers: Schema.Number,
  path: Schema.optional(Schema.String)
})
export type ModelRecord = typeof ModelRecord.Type

export const Manifest = Schema.Struct({
  format: Schema.Literal(MANIFEST_FORMAT),
  createdAt: Schema.String,
  updatedAt: Schema.String,
  models: Schema.Array(ModelRecord),
  sites: Schema.Array(Schema.String),
  sources: Schema.Array(Schema.Struct({ model: Schema.String, site: Schema.String })),
  numSources: Schema.Number,
  dim: Schema.Number,
  dtype: Schema.Literals(["f32", "f16", "bf16"]),
  shardRows: Schema.Number,
  /** The position policy as given (JSON). */
  policy: Schema.Unknown,
  /** Norm-outlier medians fixed by a warm-up (per source), once known. */
  medianNorms: Schema.NullOr(Schema.Array(Schema.Number)),
  padding: Schema.Literals(["left", "right"]),
  maxLength: Schema.NullOr(Schema.Number),
  addSpecialTokens: Schema.Boolean,
  storeText: Schema.Literals(["text", "tokens", "both", "none"]),
  /** The text source's name (a resumed harvest must use the same source). */
  textSource: Schema.String,
  datasets: Schema.Array(Schema.String),
  rows: Schema.Number,
  shards: Schema.Array(ShardRecord),
  stats: Schema.NullOr(FileRef),
  complete: Schema.Boolean,
  stopReason: Schema.NullOr(Schema.Literals(["maxRows", "sourceExhausted"]))
})
export type Manifest = typeof Manifest.Type

export const decodeManifest = Schema.decodeUnknownEffect(Schema.fromJsonString(Manifest))
