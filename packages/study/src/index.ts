/**
 * @crosscode/study — the whole model-diffing study as a library and the `crosscode` CLI.
 *
 * A recipe (JSON, see `Recipe`) names two model directories, the harvest, the crosscoders to
 * train, the evaluation, ranking and steering grids and the report. `loadRecipe` validates it,
 * `planStages`/`runStages` run the stages into a resumable run directory, and `writeReport`
 * renders the report. The CLI (`crosscode run recipe.json`) is the same code.
 */

export type { BfclError } from "./bfcl/errors.js"
export { BfclDataError, BfclSettingsError, ModelDirError, UnknownCategoryError } from "./bfcl/errors.js"
export {
  BFCL_STYLES,
  type BfclOptions,
  type BfclPlan,
  type BfclStyle,
  type BfclSummary,
  prepareBfcl,
  runBfcl
} from "./bfcl/run.js"
export { crosscode, runCli, VERSION } from "./cli/commands.js"
export { cliLogger, makeTerminalProgress, type TerminalOptions, terminalProgressLayer } from "./cli/progress.js"
export {
  type PlannedRecipe,
  planRecipe,
  type RecipeRun,
  type RunRecipeOptions,
  runRecipe,
  toPromise
} from "./promise.js"
export { RecipeError, ReportError, StageError } from "./recipe/errors.js"
export { decodeRecipe, type LoadedRecipe, loadRecipe, type RecipeOverrides } from "./recipe/load.js"
export {
  formatPlan,
  type PlannedAction,
  type PlannedStage,
  planStages,
  type RunOptions,
  runStages,
  type StageOutcome
} from "./recipe/runner.js"
export { Recipe, STAGES, type Stage } from "./recipe/schema.js"
export { collectReportData, type ReportData, type ReportFiles, writeReport } from "./report/index.js"
export { SweepError } from "./sweep/errors.js"
export {
  BEST_OF_GRID_FLAG,
  type BestCell,
  type CellStats,
  PaperGrid,
  runSweep,
  SWEEP_CSV_COLUMNS,
  type SweepCell,
  type SweepResult,
  type SweepRunError,
  type SweepSpec,
  sweepToCsv
} from "./sweep/Sweep.js"
