export {
  type ActivationBatch,
  ActivationSource,
  type ActivationSourceShape,
  ActivationStoreError,
  type BatchOptions,
  type NormalizationStats,
  type ReaderCursor,
  type SourceInfo
} from "./ActivationSource.js"
export { HarvestError, TextSourceError } from "./errors.js"
export {
  type HarvestFromDirsOptions,
  type HarvestModelDir,
  harvestFromDirs,
  harvestLoadOptions,
  loadHarvestModels
} from "./harvest/fromDirs.js"
export {
  type HarvestModel,
  type HarvestOptions,
  type HarvestProgress,
  type HarvestResult,
  harvest
} from "./harvest/harvest.js"
export { type NormOutlierFilter, Policy, type PositionPolicy } from "./harvest/policy.js"
export { type InMemoryOptions, inMemoryLayer, makeInMemorySource } from "./memory.js"
export { type NormalizationMode, normalizationDivisor, normalizeRowsInPlace, STD_FLOOR } from "./normalization.js"
export * as ActivationStore from "./store/ActivationStore.js"
export { type FileRef, Manifest, type ModelRecord, type ShardRecord } from "./store/format.js"
export {
  type HarvestCursor,
  type ResumeInfo,
  type RowsToAppend,
  type StoreConfig,
  type StoreText,
  StoreWriter,
  type TextRecord
} from "./store/writer.js"
export { type PaperRecipeOptions, paperRecipe } from "./text/recipe.js"
export {
  formatToolRLRow,
  fromAsyncGenerator,
  fromSamples,
  fromTexts,
  type JsonlSourceOptions,
  jsonlSource,
  type ParquetSourceOptions,
  type PlainTextSourceOptions,
  parquetSource,
  plainTextSource,
  type ToolRLSourceOptions,
  toolrlSource
} from "./text/sources.js"
export { makeTextSource, type TextSample, type TextSourceShape } from "./text/TextSource.js"
export {
  type ChunkOptions,
  type ChunkSourceOptions,
  chunkSentences,
  chunkText,
  cycleSource,
  filterMinChars,
  type MixOptions,
  mixSources,
  takeSamples,
  withDataset
} from "./text/transforms.js"
export { type StoreDtype, StoreDtypes } from "./util/dtype.js"
export { Welford } from "./util/welford.js"
