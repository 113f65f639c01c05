/**
 * Everything the report shows, read from a run directory as plain JSON (no model, no tensor
 * backend): the recipe, the harvest summary, each crosscoder's summary, evaluation curve and
 * trainer log, the evaluation summary, the rankings' top features and the steering sweep.
 */
import { Effect, type FileSystem, Path } from "effect"
import { ReportError } from "../recipe/errors.js"
import { byStep, readJsonIfExists, readLogLines } from "../recipe/runFiles.js"
import type { Recipe } from "../recipe/schema.js"
import type { EvalSummary } from "../recipe/stages/evaluate.js"
import type { HarvestSummary } from "../recipe/stages/harvest.js"
import type { RankSummary } from "../recipe/stages/rank.js"
import type { SingleFeatureCell } from "../recipe/stages/steer.js"
import type { CrosscoderSummary, CurvePoint } from "../recipe/stages/train.js"
import type { SweepResult } from "../sweep/Sweep.js"

/** One trainer log line (`train/<name>/metrics.jsonl`), reduced to what is plotted. */
export interface TrainLogPoint {
  readonly step: number
  readonly loss: number
  readonly mse: number
  readonly l0: number
  readonly l0PerGroup: Readonly<Record<string, number>>
}

export interface CrosscoderReport {
  readonly summary: CrosscoderSummary
  /** Reconstruction measured at each checkpoint. */
  readonly curve: ReadonlyArray<CurvePoint>
  readonly log: ReadonlyArray<TrainLogPoint>
}

export interface ReportData {
  readonly title: string
  readonly runDir: string
  readonly generatedAt: string
  readonly recipe: Recipe
  readonly harvest?: HarvestSummary
  readonly crosscoders: ReadonlyArray<CrosscoderReport>
  readonly evaluate?: EvalSummary
  readonly rank: ReadonlyArray<RankSummary>
  readonly sweep?: SweepResult
  /** Single-feature steering cells (`steer.singleFeatures`). */
  readonly singles?: ReadonlyArray<SingleFeatureCell>
}

const fail = (file: string) => (message: string) => new ReportError({ path: file, message })
const readJson = <A>(file: string) => readJsonIfExists<A, ReportError>(file, fail(file))
const readJsonl = <A>(file: string) => readLogLines<A, ReportError>(file, fail(file))

/** Reads everything the report shows from `runDir` (what is missing is left out). */
export const collectReportData = Effect.fn("collectReportData")(function* (
  runDir: string,
  recipe: Recipe
): Effect.fn.Return<ReportData, ReportError, FileSystem.FileSystem | Path.Path> {
  const path = yield* Path.Path
  const crosscoders: Array<CrosscoderReport> = []
  for (const spec of recipe.crosscoders) {
    const dir = path.join(runDir, "train", spec.name)
    const summary = yield* readJson<CrosscoderSummary>(path.join(dir, "summary.json"))
    if (summary === undefined) continue
    const log = byStep(
      yield* readJsonl<{
        step: number
        loss: number
        terms: Record<string, number>
        l0: number
        l0PerGroup: Record<string, number>
      }>(path.join(dir, "metrics.jsonl"))
    ).map((p) => ({ step: p.step, loss: p.loss, mse: p.terms.mse ?? Number.NaN, l0: p.l0, l0PerGroup: p.l0PerGroup }))
    crosscoders.push({ summary, curve: byStep(yield* readJsonl<CurvePoint>(path.join(dir, "curve.jsonl"))), log })
  }
  const rank: Array<RankSummary> = []
  for (const name of recipe.rank.crosscoders ?? recipe.crosscoders.map((c) => c.name)) {
    const r = yield* readJson<RankSummary>(path.join(runDir, "rank", name, "top-features.json"))
    if (r !== undefined) rank.push(r)
  }
  const harvest = yield* readJson<HarvestSummary>(path.join(runDir, "harvest", "summary.json"))
  const evaluate = yield* readJson<EvalSummary>(path.join(runDir, "evaluate", "summary.json"))
  const sweep = yield* readJson<SweepResult>(path.join(runDir, "steer", "sweep.json"))
  const singles = yield* readJson<Array<SingleFeatureCell>>(path.join(runDir, "steer", "singles.json"))
  return {
    title: recipe.report?.title ?? `crosscode study: ${recipe.name}`,
    runDir,
    generatedAt: new Date().toISOString(),
    recipe,
    ...(harvest !== undefined ? { harvest } : {}),
    crosscoders,
    ...(evaluate !== undefined ? { evaluate } : {}),
    rank,
    ...(sweep !== undefined ? { sweep } : {}),
    ...(singles !== undefined ? { singles } : {})
  }
})
