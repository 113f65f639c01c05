export * from "./ActivationSource.js"
export * from "./errors.js"
export * from "./harvest/fromDirs.js"
export * from "./harvest/harvest.js"
export { type NormOutlierFilter, Policy, type PositionPolicy } from "./harvest/policy.js"
export * from "./memory.js"
export * from "./normalization.js"
export * as ActivationStore from "./store/ActivationStore.js"
export { type EpochPlan, planEpoch } from "./store/batches.js"
export type { FileRef, Manifest, ModelRecord, ShardRecord } from "./store/format.js"
export {
  type HarvestCursor,
  type ResumeInfo,
  type RowsToAppend,
  type StoreConfig,
  type StoreText,
  StoreWriter,
  type TextRecord
} from "./store/writer.js"
export * from "./text/recipe.js"
export * from "./text/sources.js"
export * from "./text/TextSource.js"
export * from "./text/transforms.js"
export { type StoreDtype, StoreDtypes } from "./util/dtype.js"
export { Welford } from "./util/welford.js"
