/**
 * A runner's side of the study: the `StudyWorker` entity's handlers.
 *
 * - One `RunContext` per recipe per runner process, so the models, tokenizer, crosscoders and pair
 *   encoders are loaded once (the per-runner model cache) however many messages arrive.
 * - One message at a time per runner (a semaphore): the models share one accelerator; messages for
 *   other entities wait in their mailboxes (and move to another runner if this one dies).
 * - `HarvestRange` harvests its texts into the range's own store with the cached models.
 * - `EvalBatch` writes its records to a part file under `<runDir>/cluster/<stage>/` as it goes (the
 *   eval runner resumes from it, so a batch retried on the same filesystem after a crash keeps what
 *   was done), then inserts them, keyed, into PostgreSQL.
 */
import * as path from "node:path"
import { cleanIntervention, type Intervention } from "@crosscode/core"
import { type EvalRecord, makeEvalRunner } from "@crosscode/eval"
import { PairEncoder, reconstruct, steerFeatures } from "@crosscode/steering"
import { Effect, Layer, Scope, Semaphore } from "effect"
import { makeRunContext, type RunContext, recipeModels } from "../recipe/context.js"
import { errorMessage, StageError } from "../recipe/errors.js"
import { loadRecipe } from "../recipe/load.js"
import { runStages } from "../recipe/runner.js"
import { STAGES, type Stage } from "../recipe/schema.js"
import { stageTask } from "./cells.js"
import { harvestRange } from "./harvestRanges.js"
import type { CellIntervention, EvalCell, RecipeRef } from "./protocol.js"
import { StudyWorker } from "./protocol.js"
import { insertRecords } from "./records.js"

const toStageError = (stage: string) => (e: unknown) =>
  e instanceof StageError ? e : new StageError({ stage, message: errorMessage(e) })

/** The recipe as the coordinator loaded it (the same file and overrides, on the shared filesystem). */
export const loadRef = (ref: RecipeRef) =>
  loadRecipe(ref.file, {
    runDir: ref.runDir,
    set: ref.set,
    ...(ref.modelA !== undefined ? { modelA: ref.modelA } : {}),
    ...(ref.modelB !== undefined ? { modelB: ref.modelB } : {}),
    ...(ref.tokenizer !== undefined ? { tokenizer: ref.tokenizer } : {})
  }).pipe(Effect.mapError((e) => new StageError({ stage: "recipe", message: `${e.file}: ${e.message}` })))

const interventionFor = (ctx: RunContext, iv: CellIntervention) =>
  Effect.gen(function* () {
    switch (iv.kind) {
      case "none":
        return { intervention: cleanIntervention as Intervention<unknown, PairEncoder>, pe: undefined }
      case "clean":
        return { intervention: cleanIntervention as Intervention<unknown, PairEncoder>, pe: undefined }
      case "recon":
        return {
          intervention: reconstruct({ target: iv.target }) as Intervention<unknown, PairEncoder>,
          pe: yield* ctx.pairEncoder(iv.crosscoder)
        }
      case "steer":
        return {
          intervention: steerFeatures({
            target: iv.target,
            features: [...iv.features],
            alpha: iv.alpha
          }) as Intervention<unknown, PairEncoder>,
          pe: yield* ctx.pairEncoder(iv.crosscoder)
        }
    }
  })

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, "_")

/** Where a batch keeps its records while it runs. */
export const partFile = (runDir: string, cell: EvalCell, batch: number) =>
  path.join(runDir, "cluster", cell.stage, `${safeName(cell.output)}--${safeName(cell.run)}--${batch}.jsonl`)

/** The `StudyWorker` handlers of a runner called `runner` (its address). */
export const workerLayer = (runner: string) =>
  Layer.unwrap(
    Effect.gen(function* () {
      // per process, not per entity: the entity's builder runs once for every entity id
      const permit = yield* Semaphore.make(1)
      // models, tokenizer, crosscoders and pair encoders live as long as the runner
      const runnerScope = yield* Effect.scope
      const forRunner = Effect.provideService(Scope.Scope, runnerScope)
      const contexts = new Map<string, RunContext>()
      const contextFor = (ref: RecipeRef) =>
        Effect.gen(function* () {
          const key = JSON.stringify(ref)
          const have = contexts.get(key)
          if (have !== undefined) return have
          const loaded = yield* loadRef(ref)
          const ctx = makeRunContext(loaded, yield* recipeModels(loaded.recipe).pipe(forRunner))
          contexts.set(key, ctx)
          return ctx
        })
      const handlers = StudyWorker.of({
        EvalBatch: ({ payload }) =>
          Effect.gen(function* () {
            const ctx = yield* contextFor(payload.recipe)
            const cell = payload.cell
            const st = yield* stageTask(ctx, cell.stage)
            const models = yield* forRunner(ctx.models)
            const tokenizer = yield* ctx.tokenizer
            const { intervention, pe } = yield* forRunner(interventionFor(ctx, cell.intervention))
            const items = st.items.slice(payload.from, payload.to)
            const result = yield* makeEvalRunner({ model: models[cell.model], tokenizer })
              .run({
                run: cell.run,
                task: { ...st.task, items },
                intervention,
                output: partFile(ctx.runDir, cell, payload.batch),
                settings: st.settings
              })
              .pipe(Effect.provideService(PairEncoder, pe as PairEncoder["Service"]), Effect.scoped)
            // the stage's own record numbers its prompt by its place in the whole prompt list
            const records: Array<EvalRecord> = result.records.map((r, i) => ({ ...r, index: payload.from + i }))
            yield* insertRecords(
              payload.runKey,
              runner,
              records.map((record) => ({ stage: cell.stage, output: cell.output, record }))
            )
            return { records: records.length, generated: result.generated, runner }
          }).pipe(permit.withPermits(1), Effect.mapError(toStageError(payload.cell.stage))),
        HarvestRange: ({ payload }) =>
          Effect.gen(function* () {
            const ctx = yield* contextFor(payload.recipe)
            return yield* forRunner(harvestRange(ctx, payload.runKey, runner, payload.from, payload.to))
          }).pipe(permit.withPermits(1), Effect.mapError(toStageError("harvest"))),
        RunStage: ({ payload }) =>
          Effect.gen(function* () {
            const stage = payload.stage as Stage
            if (!STAGES.includes(stage)) return yield* new StageError({ stage, message: "unknown stage" })
            const loaded = yield* loadRef(payload.recipe)
            // core's Progress is silent unless provided: a runner shows no bars
            const [outcome] = yield* runStages(loaded, { stages: [stage] })
            return { action: outcome?.action ?? "skip", seconds: outcome?.seconds ?? 0, runner }
          }).pipe(Effect.scoped, permit.withPermits(1), Effect.mapError(toStageError(payload.stage)))
      })
      return StudyWorker.toLayer(handlers, { maxIdleTime: "10 minutes" })
    })
  )
