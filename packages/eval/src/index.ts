/**
 * @crosscode/eval — tool-call evaluation: parser, scorers (paper rubric, BFCL AST, ToolRL reward,
 * exact match, format), datasets (BFCL v4 non-live, ToolRL), prompt builders (including BFCL's
 * prompting prompt), statistics and the `EvalRunner` service. See README.md.
 */

export {
  BfclCategories,
  type BfclCategory,
  type BfclLoadOptions,
  bfclLanguageHint,
  bfclQuestionFile,
  isBfclCategory,
  loadBfcl,
  loadBfclCategory,
  withBfclLanguageHint
} from "./data/bfcl.js"
export {
  type EvalItem,
  type Expected,
  type ExpectedCall,
  expectedNames,
  expectsNoCall,
  type ToolSpec
} from "./data/EvalItem.js"
export { pythonSample } from "./data/pythonRandom.js"
export { loadToolRlJson, loadToolRlParquet, parseToolRlTools, type ToolRlRow, toolRlItem } from "./data/toolrl.js"
export {
  DatasetError,
  EvalIOError,
  EvalSettingsError,
  PromptBuildError,
  ResumeMismatchError,
  ScorerError
} from "./errors.js"
export {
  type JsonParse,
  type PyDict,
  type PyDumpsOptions,
  PyFloat,
  type PyList,
  PyOpaque,
  type PyValue,
  pyJsonDumps,
  pyJsonLoads,
  pyRepr,
  pyTuple
} from "./json/pyjson.js"
export {
  type BlockTrace,
  type CallFlag,
  type CallFormat,
  DISALLOWED_FLAGS,
  isStrictFormat,
  leniencies,
  type ParsedCall,
  type ParseIssue,
  type ParseIssueKind,
  type ParseResult,
  parseToolCalls,
  strictCalls,
  type ThinkTrace
} from "./parse/parseToolCalls.js"
export {
  decodePythonCalls,
  findPythonCallLists,
  type PythonCall,
  type PythonCallsDecode,
  type PythonCallsDecodeError,
  type PythonDecodeOptions,
  parsePythonCallList,
  pyLiteral,
  pythonCallsText
} from "./parse/pythonCalls.js"
export type { PythonDecodeErrorKind } from "./parse/pythonSyntax.js"
export { type BfclPromptVariant, bfclPromptingMessages, bfclSystemPrompt } from "./prompt/bfclPrompting.js"
export {
  buildPrompt,
  type ChatRenderer,
  describePromptStyle,
  itemToolRlSystem,
  type PromptStyle,
  PromptStyles,
  promptCallFormat,
  qwen25ChatRenderer,
  tokenizerRenderer
} from "./prompt/prompts.js"
export {
  defaultGenerationSettings,
  type EvalRunError,
  type EvalRunnerDeps,
  type EvalRunnerShape,
  type GenerationSettings,
  makeEvalRunner,
  type RunResult,
  type RunSpec,
  truncateIds
} from "./runner/EvalRunner.js"
export type { InterventionContext } from "./runner/Intervention.js"
export { appendRecord, type EvalRecord, type ItemFailure, type ParseTrace, readRecords } from "./runner/records.js"
export {
  comparePaired,
  formatSummaryTable,
  type MetricSummary,
  type PairedComparison,
  type RunSummary,
  type SummaryGroup,
  summarizeMetric,
  summarizeRun
} from "./runner/summary.js"
export { bfclTask, makeTask, paperTask, type Task, validateTask } from "./runner/Task.js"
export {
  type BfclCheck,
  type BfclCheckOptions,
  type BfclDecode,
  type BfclDecoded,
  bfclAstChecker,
  bfclPythonDecode,
  bfclQwenDecode,
  isEmptyOutput
} from "./scorers/bfclAst.js"
export { type BfclScorerOptions, bfclAstScorer } from "./scorers/bfclScorer.js"
export { type ExactMatchOptions, exactMatchScorer } from "./scorers/exactMatch.js"
export { type FormatScorerOptions, formatScorer } from "./scorers/formatScorer.js"
export {
  type PaperRubricOptions,
  type PaperRubricScore,
  paperRubric,
  paperRubricScorer
} from "./scorers/paperRubric.js"
export {
  type MetricInfo,
  type MetricValue,
  makeScorer,
  runScorers,
  type ScoredItem,
  type ScoreInput,
  type ScoreOutput,
  type Scorer,
  type ScorerFailure
} from "./scorers/Scorer.js"
export { builtinScorers, makeScorerRegistry, type ScorerRegistryShape } from "./scorers/ScorerRegistry.js"
export {
  ToolRlGroundTruthError,
  type ToolRlReward,
  type ToolRlRewardOptions,
  toolRlReward,
  toolRlRewardScorer
} from "./scorers/toolRlReward.js"
export {
  type McNemar,
  type MeanSd,
  mcnemarExact,
  meanSd,
  type PairedT,
  type Proportion,
  pairedT,
  StatsError,
  wilson
} from "./stats/stats.js"
