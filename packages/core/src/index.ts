export { activeNativeKernels, NATIVE_BACKEND } from "./backend/native.js"
export {
  type BackendAttempt,
  type BackendChoice,
  BackendError,
  type BackendName,
  BackendNames,
  backendSummary,
  type InitOptions,
  initTensorBackend,
  TensorBackend,
  type TensorBackendShape,
  type WebgpuOptions,
  wasmXnnFailureCount
} from "./backend/TensorBackend.js"
export type { DecoderConfigBase } from "./config/decoderConfig.js"
export { ConfigError, readJsonFile, schemaErrorToConfigError } from "./config/errors.js"
export {
  type Gemma2Config,
  Gemma2ConfigJson,
  gemma2Arch,
  parseGemma2Config,
  readGemma2Config
} from "./config/gemma2Config.js"
export {
  type GenerationConfig,
  GenerationConfigJson,
  parseGenerationConfig,
  readGenerationConfig
} from "./config/generationConfig.js"
export {
  type LlamaConfig,
  LlamaConfigJson,
  llamaArch,
  parseLlamaConfig,
  readLlamaConfig
} from "./config/llamaConfig.js"
export { readModelType } from "./config/modelType.js"
export {
  makeQwen2Config,
  parseQwen2Config,
  type Qwen2Config,
  Qwen2ConfigJson,
  qwen2Arch,
  qwen2ConfigToJson,
  readQwen2Config
} from "./config/qwen2Config.js"
export { type DecoderArch, decoderWeightShapes, EMBED, type LayerParts, LM_HEAD } from "./decoder/arch.js"
export { type AttentionOptions, groupedAttention } from "./decoder/attention.js"
export {
  type DecoderConfigParser,
  type DecoderSpec,
  decoderFamily,
  decoderSpec,
  loadDecoderDir
} from "./decoder/family.js"
export {
  type DecoderForwardOptions,
  type DecoderForwardResult,
  type DecoderLayerParams,
  type DecoderParams,
  type DecoderWeights,
  decoderForward,
  type EmbeddingLookup
} from "./decoder/forward.js"
export { disposeDecoderWeights, type InitDecoderOptions, initDecoderWeights } from "./decoder/init.js"
export { gatherRows, geluTanh, type Linear, linear, rmsNorm, silu, softcap, sparseCrossEntropy } from "./decoder/ops.js"
export { applyRope, type RopeScaling, ropeInvFreq } from "./decoder/rope.js"
export { ModelSaveError, type SaveDecoderOptions, saveDecoder } from "./decoder/save.js"
export { gemma2Family, loadGemma2 } from "./gemma2/family.js"
export { llamaFamily, loadLlama } from "./llama/family.js"
export { type DecoderModelOptions, makeDecoderLanguageModel } from "./model/decoderModel.js"
export {
  type DecoderEngine,
  disposeKVCache,
  type EnginePass,
  type EngineResult,
  emptyKVCache,
  type KVCache
} from "./model/engine.js"
export {
  addVectorHook,
  type CapturedActivations,
  captureHook,
  replaceHook,
  type VectorLike
} from "./model/hookHelpers.js"
export {
  blockInput,
  blockOutput,
  type Hook,
  type HookContext,
  type HookPoint,
  type HookSite,
  type HookWhen,
  type PositionSelector,
  Positions,
  parseSite,
  siteKey,
  transformerLensName
} from "./model/hooks.js"
export { cleanIntervention, type HookRequest, type Intervention, staticIntervention } from "./model/Intervention.js"
export {
  type ForwardRequest,
  type GenerateRequest,
  Greedy,
  type LanguageModelShape,
  type ModelInfo,
  ModelInputError,
  ModelLoadError,
  type Padding,
  type Sampling,
  type SequenceForward,
  type SequenceGeneration,
  UnsupportedConfigError
} from "./model/LanguageModel.js"
export { loadModel } from "./model/loadModel.js"
export type { LoadModelOptions, ModelFamily } from "./model/ModelFamily.js"
export {
  defaultModelFamilies,
  ModelFamilies,
  modelFamiliesLayer,
  supportedModelTypes,
  withModelFamilies
} from "./model/registry.js"
export { argmax, sampleToken, validateSampling } from "./model/sampling.js"
export {
  type BarUpdate,
  collectProgress,
  Progress,
  type ProgressBar,
  type ProgressEvent,
  type ProgressShape
} from "./progress/Progress.js"
export { loadQwen2, loadQwen2WithConfig, makeQwen2LanguageModel, qwen2Family } from "./qwen2/family.js"
export { type Qwen2ForwardOptions, type Qwen2ForwardResult, qwen2Forward } from "./qwen2/forward.js"
export { disposeQwen2Weights, type InitQwen2Options, initQwen2Weights } from "./qwen2/init.js"
export { type SaveQwen2Options, saveQwen2 } from "./qwen2/save.js"
export { type Qwen2Weights, qwen2ParameterCount, qwen2WeightShapes } from "./qwen2/weights.js"
export { type Checkpoint, type OpenCheckpointOptions, openCheckpoint } from "./safetensors/checkpoint.js"
export {
  type DecodedArray,
  decodeBF16,
  decodeF16,
  decodeFloat32Into,
  dtypeBytes,
  encodeBF16,
  encodeF16,
  type FloatDtype,
  FloatDtypes,
  floatToBF16Bits,
  floatToHalfBits,
  type SafetensorsDtype,
  SafetensorsDtypes,
  type WritableDtype,
  WritableDtypes
} from "./safetensors/dtypes.js"
export {
  SafetensorsDtypeError,
  type SafetensorsError,
  SafetensorsHeaderError,
  SafetensorsIOError,
  SafetensorsMissingTensorError,
  SafetensorsShapeError,
  SafetensorsTruncatedError
} from "./safetensors/errors.js"
export type { SafetensorsHeader, TensorInfo } from "./safetensors/header.js"
export {
  openSafetensors,
  parseSafetensors,
  readSafetensors,
  type SafetensorsFile,
  type SafetensorsTensor
} from "./safetensors/reader.js"
export {
  type EncodedTensor,
  encodeSafetensors,
  type SafetensorsWriteError,
  safetensorsChunks,
  type TensorData,
  type TensorToWrite,
  writeSafetensors
} from "./safetensors/writer.js"
export { type ChatTemplate, compileChatTemplate } from "./tokenizer/chatTemplate.js"
export {
  loadTokenizer,
  makeTokenizer,
  type TokenizerFromJsonOptions
} from "./tokenizer/loadTokenizer.js"
export { type PyJsonOptions, pyJsonFloat, pyJsonString, pythonJsonDumps } from "./tokenizer/pyjson.js"
export {
  type ChatMessage,
  ChatTemplateError,
  type ChatTemplateOptions,
  TokenizerLoadError,
  type TokenizerShape
} from "./tokenizer/Tokenizer.js"
export { type BenchRecord, syntheticQwen2Weight, trackPeakRss, writeBenchRecords } from "./util/bench.js"
export {
  isNotFound,
  platformErrorMessage,
  readTextFile,
  readTextFileIfExists,
  writeTextFileAtomic
} from "./util/files.js"
export { describeNonFinite, firstNonFinite } from "./util/finite.js"
export { fingerprint, fnv1a64, sha256, stableStringify } from "./util/hash.js"
export { appendJsonLine, JsonLinesError, readJsonLines } from "./util/jsonl.js"
export { makeRegistry, type Registry } from "./util/registry.js"
export { deriveSeed, Rng, type RngState, shuffleInPlace } from "./util/rng.js"
export { findSharedDir, sharedMissingMessage } from "./util/sharedDir.js"
export { memoryFileSystem, recordingFileSystem } from "./util/testFileSystems.js"
