/**
 * @crosscode/steering — feature ranking from crosscoder codes and runtime interventions through
 * crosscoder features (reconstruction, feature steering, clamping, ablation, fixed directions,
 * projection ablation), applied through the model's hooks. The steering sweep, which needs the eval
 * package, lives in @crosscode/study. See README.md.
 */
export { InterventionError, RankingError, SteeringIOError } from "./errors.js"
export {
  ablateFeature,
  ablateFeatures,
  addDirection,
  addFeatureDirection,
  clampDelta,
  clampFeature,
  clampFeatures,
  type DirectionSpace,
  featureDirection,
  type PairOptions,
  type PairPositions,
  projectOut,
  reconstruct,
  steerFeatures,
  steeringDelta,
  tokenPatchHook
} from "./intervention/builtins.js"
export { codeAt, codesBytes, concatCodes, denseRows, type SparseCodes, sparseFromDense } from "./intervention/codes.js"
export {
  compose,
  type ForwardWithOptions,
  forwardWith,
  type GenerateWithOptions,
  generateWith,
  type InterventionContextOf,
  type InterventionErrorOf,
  makeIntervention,
  named,
  withIntervention
} from "./intervention/Intervention.js"
export { generateLockstep, type LockstepOptions, lockstepModel } from "./intervention/lockstep.js"
export {
  type BatchEncoding,
  type EncodeScope,
  makePairEncoder,
  PairEncoder,
  type PairEncoderConfig,
  type PairEncoderShape,
  type PromptEncoding
} from "./intervention/PairEncoder.js"
export { type PositionMode, PositionModes, realColumns, rowMask, selectedColumns, whenFor } from "./positions.js"
export {
  csvField,
  FeatureRankingSchema,
  RANKING_CSV_COLUMNS,
  rankingToCsv,
  readRanking,
  writeRanking,
  writeTextFile
} from "./ranking/io.js"
export {
  type CodeMatrix,
  codeMatrix,
  encodePromptSets,
  type FeatureRanking,
  type FeatureSign,
  type FeatureStat,
  type FeatureSubset,
  type FiringFilter,
  type GroupInfo,
  type PartitionChoice,
  partitionGroups,
  type RankOptions,
  rankFeatures,
  rankFeaturesSync,
  rankPromptSets,
  type SelectOptions,
  type SubsetPart,
  selectTopSubset,
  sortByD,
  subsetSize
} from "./ranking/rank.js"
export { auroc, cohensD, cohensDFromMoments, fireRate, type Moments, moments } from "./ranking/stats.js"
export type { Tensor, Tensor2D, Tensor3D, TF } from "./tf.js"
