export {
  CHECKPOINT_FORMAT,
  loadCrosscoder,
  type SavedCrosscoderConfig,
  saveCrosscoder
} from "./checkpoint/checkpoint.js"
export {
  convertPaperCheckpoint,
  type PaperConfig,
  PaperConfigSchema,
  type PaperConversionOptions,
  type PaperConversionReport
} from "./checkpoint/paper.js"
export {
  type PlantedFeature,
  type PlantedFeatures,
  type PlantedFeaturesOptions,
  plantedFeatures
} from "./data/synthetic.js"
export { CheckpointError, CrosscoderConfigError, CrosscoderInputError, TrainError } from "./errors.js"
export {
  type DecoderMetrics,
  decoderMetrics,
  evaluateReconstruction,
  partitionIntegrity,
  type ReconstructionMetrics,
  type SourceReconstruction
} from "./metrics.js"
export {
  Crosscoder,
  type CrosscoderArchitecture,
  type CrosscoderConfig,
  type CrosscoderParts,
  type InitSpec,
  makeCrosscoder,
  type SourceLabel,
  sourcesFor
} from "./model/Crosscoder.js"
export { identityNormalization, type Normalization, normalizationFromStats } from "./model/Normalization.js"
export { ForbiddenSet, Param } from "./model/Param.js"
export {
  BuiltinPartitionKinds,
  DfcPartition,
  type DfcPartitionSpec,
  definePartitionKind,
  dfcSpec,
  type FeatureGroup,
  maskFromGroups,
  modelFeatures,
  NonePartition,
  type NonePartitionSpec,
  type Partition,
  type PartitionDims,
  type PartitionKind,
  type PartitionSpec,
  rangeGroup,
  sharedFeatures,
  validatePartition
} from "./partition/Partition.js"
export {
  makePartitionRegistry,
  makeSparsityRegistry,
  PartitionRegistry,
  type PartitionRegistryShape,
  Plugins,
  SparsityRegistry,
  type SparsityRegistryShape
} from "./registry.js"
export {
  BatchTopK,
  type BatchTopKSpec,
  BuiltinSparsityKinds,
  batchTopK,
  JumpReLU,
  type JumpReLUSpec,
  jumpReLU,
  ReluL1,
  type ReluL1Spec,
  reluL1,
  TopK,
  type TopKSpec,
  topK
} from "./sparsity/builtins.js"
export {
  batchTopKMask,
  defineSparsityKind,
  keepIndices,
  type LossCoefficient,
  type SchemeParam,
  type SchemeState,
  type SparsityContext,
  type SparsityDims,
  type SparsityForward,
  type SparsityKind,
  type SparsityScheme,
  type SparsitySpec,
  stopGradient,
  topKMask
} from "./sparsity/SparsityScheme.js"
export type { Scalar, Tensor, Tensor1D, Tensor2D, Tensor3D, TF } from "./tf.js"
export { Adam, type AdamOptions } from "./train/Adam.js"
export { denseStep } from "./train/denseStep.js"
export {
  type AuxKConfig,
  type LossConfig,
  type LrSchedule,
  type PartitionL1,
  paperLoss,
  type ReconstructionLoss,
  type ResolvedLoss,
  referenceLoss
} from "./train/loss.js"
export {
  makeSparseStep,
  type SparseKernels,
  type SparseStepOptions,
  sparseKernelsFor,
  sparseTopKStep
} from "./train/sparseStep.js"
export {
  type GradientProgram,
  type GradientResult,
  type HostValues,
  runGradientProgram,
  runGradientProgramAsync,
  runStep,
  runStepAsync,
  type StepInput,
  type StepOptions,
  type StepResult,
  type TrainStep
} from "./train/step.js"
export {
  type CheckpointOptions,
  type PeriodicHook,
  type TrainConfig,
  type TrainerState,
  type TrainOptions,
  type TrainProgress,
  type TrainResult,
  train
} from "./train/Trainer.js"
export { trimStepLog } from "./util/fs.js"
