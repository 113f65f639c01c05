/**
 * `crosscode run --cluster`: the coordinator. Runs the recipe's stages as the cluster's workflow,
 * waits for it, and shows progress per stage and per runner from the records keyed in PostgreSQL.
 */
import * as path from "node:path"
import { Console, type Duration, Effect, Exit, Layer, Option, Ref } from "effect"
import { ClusterWorkflowEngine } from "effect/cluster"
import { stageFs, writeStageJson } from "../recipe/errors.js"
import type { LoadedRecipe } from "../recipe/load.js"
import { stageFingerprint } from "../recipe/runDir.js"
import { clusterLayer, freePort } from "./node.js"
import type { DistributedRunOptions, RecipeRef } from "./protocol.js"
import { countRecords, ensureRecordsTable } from "./records.js"
import { type StageOutcome, StudyWorkflow, studyWorkflowLayer, type Totals } from "./workflow.js"

const progressLine = (
  totals: Readonly<Record<string, { total: number }>>,
  rows: ReadonlyArray<{ stage: string; runner: string; n: number }>
) =>
  Object.entries(totals)
    .map(([stage, t]) => {
      const mine = rows.filter((r) => r.stage === stage)
      const done = mine.reduce((s, r) => s + r.n, 0)
      return `${stage} ${done}/${t.total} ${stage === "harvest" ? "text ranges" : "records"} (${mine.map((r) => `${r.runner}: ${r.n}`).join(", ") || "none yet"})`
    })
    .join("; ")

/** Logs progress per fanned-out stage and per runner whenever it changes. */
const reportProgress = (totals: Totals, every: Duration.Input) =>
  Effect.gen(function* () {
    let last = ""
    for (;;) {
      yield* Effect.sleep(every)
      const t = yield* Ref.get(totals)
      const keys = Object.values(t).map((s) => s.runKey)
      const rows = yield* countRecords(keys).pipe(Effect.orElseSucceed(() => []))
      const line = progressLine(t, rows)
      if (line !== "" && line !== last) {
        last = line
        yield* Effect.logInfo(`progress: ${line}`)
      }
    }
  })

/**
 * The workflow execution to join: the first attempt of this run (directory, recipe, stages) that
 * has not failed. A failed execution stays failed in storage, so after fixing the cause a new
 * attempt starts; its finished stages are complete in the run directory and are skipped.
 */
const executionKey = (base: string) =>
  Effect.gen(function* () {
    for (let attempt = 0; ; attempt++) {
      const key = attempt === 0 ? base : `${base}#retry${attempt}`
      const id = yield* StudyWorkflow.executionId({
        recipe: EMPTY_REF,
        stages: [],
        batchPrompts: 0,
        harvestRangeTexts: 0,
        key
      })
      const result = yield* StudyWorkflow.poll(id)
      const failed = Option.isSome(result) && result.value._tag === "Complete" && Exit.isFailure(result.value.exit)
      if (!failed) return key
      yield* Effect.logInfo(`workflow attempt ${attempt} failed earlier: starting a new attempt`)
    }
  })

const EMPTY_REF: RecipeRef = { file: "", runDir: "", set: [] }

/** Runs the recipe's stages as the cluster's workflow and waits for it (the coordinator). */
export const runDistributed = (loaded: LoadedRecipe, ref: RecipeRef, o: DistributedRunOptions) =>
  Effect.gen(function* () {
    const r = loaded.recipe
    const first = o.stages[0] ?? "run"
    yield* stageFs(first, r.runDir, "create the run directory", (fs) => fs.makeDirectory(r.runDir, { recursive: true }))
    yield* writeStageJson(first, path.join(r.runDir, "recipe.json"), { file: loaded.file, recipe: r })
    const port = Option.isSome(o.port) ? o.port.value : yield* freePort(o.host)
    const totals: Totals = yield* Ref.make({})
    const layer = studyWorkflowLayer(totals).pipe(
      Layer.provideMerge(ClusterWorkflowEngine.layer),
      Layer.provideMerge(clusterLayer({ url: o.url, role: "coordinator", host: o.host, port }))
    )
    const base = `${r.runDir}#${stageFingerprint(r, "report")}#${o.stages.join(",")}`
    return yield* Effect.gen(function* () {
      yield* ensureRecordsTable
      const key = yield* executionKey(base)
      yield* Effect.logInfo(`coordinator ${o.host}:${port}: workflow ${key}`)
      yield* Effect.forkScoped(reportProgress(totals, "2 seconds"))
      const outcomes: ReadonlyArray<StageOutcome> = yield* StudyWorkflow.execute({
        recipe: ref,
        stages: [...o.stages],
        batchPrompts: o.batchPrompts,
        harvestRangeTexts: o.harvestRangeTexts,
        key
      })
      for (const s of outcomes) {
        yield* Console.log(
          `${s.stage.padEnd(8)} ${s.action.padEnd(6)} on ${s.runner} (${s.seconds.toFixed(1)} s${s.batches > 0 ? `, ${s.batches} batches` : ""})`
        )
      }
      return outcomes
    }).pipe(Effect.provide(layer), Effect.scoped)
  })
