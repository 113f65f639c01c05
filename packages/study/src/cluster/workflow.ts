/**
 * The recipe as a durable workflow (effect/workflow on `ClusterWorkflowEngine`): one activity per
 * stage, in order. The workflow runs on the coordinator (shard group "coordinator"); its state and
 * every activity's result are in PostgreSQL, so a coordinator that dies and is started again
 * replays the finished activities from storage and re-runs the one that was under way, which is
 * safe because everything it does is idempotent:
 *
 * - harvest sends one `HarvestRange` per range of texts, then commits the store from the ranges'
 *   stores (harvestRanges.ts) and sends the stage's `RunStage`, which finds the store complete;
 * - a stage that is not fanned out is one `RunStage` message to a runner (the stage's own resume
 *   makes a rerun continue where it was; a completed stage is skipped);
 * - evaluate and steer send one `EvalBatch` per (cell, batch of prompts), spread over the runners by
 *   entity id; messages have primary keys, so re-sending joins the stored message and its reply;
 *   then the coordinator writes the stage's JSONL files from the records keyed in PostgreSQL and
 *   sends the stage's `RunStage`, which finds every record made and summarises.
 */
import * as path from "node:path"
import { appendRecord, type EvalRecord, readRecords } from "@crosscode/eval"
import { Effect, Ref, Schema } from "effect"
import { ClusterSchema } from "effect/cluster"
import { Activity, Workflow } from "effect/workflow"
import { makeRunContext } from "../recipe/context.js"
import { errorMessage, StageError, stageFs } from "../recipe/errors.js"
import { noModels } from "../recipe/models.js"
import { stageFingerprint, stageStatus } from "../recipe/runDir.js"
import type { Stage } from "../recipe/schema.js"
import { batchRanges, FANNED_STAGES, type FannedStage, stageCells, stageTask } from "./cells.js"
import { fanOutHarvest } from "./harvestRanges.js"
import { COORDINATOR_GROUP, RecipeRef, StudyWorker } from "./protocol.js"
import { readStoredRecords } from "./records.js"
import { loadRef } from "./worker.js"

export const StageOutcome = Schema.Struct({
  stage: Schema.String,
  action: Schema.String,
  seconds: Schema.Number,
  runner: Schema.String,
  batches: Schema.Number
})
export type StageOutcome = typeof StageOutcome.Type

export const StudyWorkflow = Workflow.make("CrosscodeStudy", {
  payload: {
    recipe: RecipeRef,
    stages: Schema.Array(Schema.String),
    /** Prompts per `EvalBatch` message. */
    batchPrompts: Schema.Number,
    /** Texts per `HarvestRange` message. */
    harvestRangeTexts: Schema.Number,
    /** Identity of the execution: the run directory and the recipe's fingerprint. */
    key: Schema.String
  },
  success: Schema.Array(StageOutcome),
  error: StageError,
  idempotencyKey: (p) => p.key
}).annotate(ClusterSchema.ShardGroup, () => COORDINATOR_GROUP)

/** Key of a stage's records and messages: its run directory and inputs (a changed recipe is a new key). */
export const stageRunKey = (runDir: string, recipe: Parameters<typeof stageFingerprint>[0], stage: Stage) =>
  `${runDir}#${stage}#${stageFingerprint(recipe, stage)}`

/** What the coordinator shows: per fanned-out stage, how many records there will be. */
export interface StageTotals {
  readonly runKey: string
  readonly total: number
}
export type Totals = Ref.Ref<Readonly<Record<string, StageTotals>>>

/** Appends, to each of the stage's files, the stored records it does not hold yet, in prompt order. */
const writeStageFiles = (runKey: string, stage: string, stageDir: string) =>
  Effect.gen(function* () {
    const rows = yield* readStoredRecords(runKey)
    const byOutput = new Map<string, Array<string>>()
    for (const r of rows) {
      let list = byOutput.get(r.output)
      if (list === undefined) byOutput.set(r.output, (list = []))
      list.push(r.record)
    }
    yield* stageFs(stage, stageDir, "create", (fs) => fs.makeDirectory(stageDir, { recursive: true }))
    for (const [output, lines] of byOutput) {
      const file = path.join(stageDir, output)
      const have = new Set((yield* readRecords(file)).map((r) => r.key)) // a missing file is empty
      for (const line of lines) {
        const record = JSON.parse(line) as EvalRecord
        if (!have.has(record.key)) yield* appendRecord(file, record)
      }
    }
    return rows.length
  })

const fanOut = (attempt: string, ref: RecipeRef, stage: FannedStage, batchPrompts: number, totals: Totals) =>
  Effect.gen(function* () {
    const loaded = yield* loadRef(ref)
    const ctx = makeRunContext(
      loaded,
      noModels(Object.keys(loaded.recipe.models), "the cluster coordinator loads no models; runners do")
    )
    const runKey = stageRunKey(ctx.runDir, loaded.recipe, stage)
    const cells = yield* stageCells(ctx, stage)
    const { items } = yield* stageTask(ctx, stage)
    yield* Ref.update(totals, (t) => ({ ...t, [stage]: { runKey, total: cells.length * items.length } }))
    const ranges = batchRanges(items.length, Math.max(1, batchPrompts))
    const client = yield* StudyWorker.client
    const jobs = cells.flatMap((cell) => ranges.map(([from, to], batch) => ({ cell, from, to, batch })))
    yield* Effect.logInfo(
      `${stage}: ${cells.length} cells × ${items.length} prompts in ${jobs.length} batches of ≤ ${batchPrompts}`
    )
    yield* Effect.forEach(
      jobs,
      (j) =>
        client(`${stage}/${j.cell.output}/${j.cell.run}/${j.batch}`).EvalBatch({
          runKey,
          attempt,
          recipe: ref,
          cell: j.cell,
          batch: j.batch,
          from: j.from,
          to: j.to
        }),
      { concurrency: "unbounded", discard: true }
    )
    const stored = yield* writeStageFiles(runKey, stage, ctx.dir(stage))
    yield* Effect.logInfo(`${stage}: ${stored} records in PostgreSQL written to ${ctx.dir(stage)}`)
    return jobs.length
  })

/** The harvest by text range, then the store committed (harvestRanges.ts). */
const fanOutHarvestStage = (attempt: string, ref: RecipeRef, rangeTexts: number, totals: Totals) =>
  Effect.gen(function* () {
    const loaded = yield* loadRef(ref)
    const ctx = makeRunContext(
      loaded,
      noModels(Object.keys(loaded.recipe.models), "the cluster coordinator loads no models; runners do")
    )
    return yield* fanOutHarvest(
      ctx,
      attempt,
      ref,
      stageRunKey(ctx.runDir, loaded.recipe, "harvest"),
      rangeTexts,
      totals
    )
  })

/**
 * One stage as an activity: fan out (harvest by text range; evaluate and steer by cell and batch),
 * then the stage itself on a runner (for a fanned-out stage it finds everything made and summarises).
 */
const stageActivity = (
  attempt: string,
  ref: RecipeRef,
  stage: string,
  o: { readonly batchPrompts: number; readonly harvestRangeTexts: number },
  totals: Totals
) =>
  Activity.make({
    name: `stage:${stage}`,
    success: StageOutcome,
    error: StageError,
    execute: Effect.gen(function* () {
      const loaded = yield* loadRef(ref)
      const complete = stageStatus(loaded.recipe.runDir, loaded.recipe, stage as Stage).kind === "complete"
      const batches = complete
        ? 0
        : stage === "harvest"
          ? yield* fanOutHarvestStage(attempt, ref, o.harvestRangeTexts, totals)
          : FANNED_STAGES.includes(stage)
            ? yield* fanOut(attempt, ref, stage as FannedStage, o.batchPrompts, totals)
            : 0
      const client = yield* StudyWorker.client
      const runKey = stageRunKey(loaded.recipe.runDir, loaded.recipe, stage as Stage)
      const done = yield* client(`stage/${stage}`).RunStage({ runKey, attempt, recipe: ref, stage })
      yield* Effect.logInfo(`${stage}: ${done.action} on runner ${done.runner} (${done.seconds.toFixed(1)} s)`)
      return { stage, action: done.action, seconds: done.seconds, runner: done.runner, batches }
    }).pipe(Effect.mapError((e) => (e instanceof StageError ? e : new StageError({ stage, message: errorMessage(e) }))))
  })

/** The workflow's implementation (registered on the coordinator). */
export const studyWorkflowLayer = (totals: Totals) =>
  StudyWorkflow.toLayer((payload) =>
    Effect.gen(function* () {
      const outcomes: Array<StageOutcome> = []
      for (const stage of payload.stages) {
        outcomes.push(yield* stageActivity(payload.key, payload.recipe, stage, payload, totals))
      }
      return outcomes
    })
  )
