/**
 * @crosscode/eval — tool-call evaluation: parser, scorers (paper rubric, BFCL AST, ToolRL reward,
 * exact match, format), datasets (BFCL v4 non-live, ToolRL), prompt builders (including BFCL's
 * prompting prompt), statistics and the `EvalRunner` service. See README.md.
 */
export * from "./data/bfcl.js"
export * from "./data/EvalItem.js"
export * from "./data/pythonRandom.js"
export * from "./data/toolrl.js"
export * from "./errors.js"
export * from "./json/pyjson.js"
export * from "./parse/parseToolCalls.js"
export * from "./parse/pythonCalls.js"
export * from "./prompt/bfclPrompting.js"
export * from "./prompt/prompts.js"
export * from "./runner/EvalRunner.js"
export * from "./runner/Intervention.js"
export * from "./runner/records.js"
export * from "./runner/summary.js"
export * from "./runner/Task.js"
export * from "./scorers/bfclAst.js"
export * from "./scorers/bfclScorer.js"
export * from "./scorers/exactMatch.js"
export * from "./scorers/formatScorer.js"
export * from "./scorers/paperRubric.js"
export * from "./scorers/Scorer.js"
export * from "./scorers/ScorerRegistry.js"
export * from "./scorers/toolRlReward.js"
export * from "./stats/stats.js"
