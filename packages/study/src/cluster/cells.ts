/**
 * The fanned-out stages as eval cells: every (run label, model, intervention) the single-process
 * stage would evaluate, with the stage's own prompts, task and generation settings. The labels,
 * interventions and files are the ones `runEvaluate` and `runSteer` (through `runSweep`) use, so
 * after the cells' records are written to the stage's files the ordinary stage finds every record
 * made and only summarises. (A label that drifted from the stage's would not corrupt anything: the
 * stage would generate the missing records itself; the cluster test checks it generated none.)
 */
import type { EvalItem, GenerationSettings, Task } from "@crosscode/eval"
import { readRanking, selectTopSubset } from "@crosscode/steering"
import { Effect, type FileSystem, Result } from "effect"
import type { RunContext } from "../recipe/context.js"
import { StageError } from "../recipe/errors.js"
import { samplePrompts, studyTask } from "../recipe/sources.js"
import { generationSettings } from "../recipe/stages/common.js"
import { chooseSingleFeatures, singleRunLabel } from "../recipe/stages/steer.js"
import { sweepReconLabel, sweepSteerLabel } from "../sweep/Sweep.js"
import type { EvalCell } from "./protocol.js"

export type FannedStage = "evaluate" | "steer"
export const FANNED_STAGES: ReadonlyArray<string> = ["evaluate", "steer"]

export interface StageTask {
  readonly items: ReadonlyArray<EvalItem>
  readonly task: Task
  readonly settings: Partial<GenerationSettings>
}

/** The stage's prompts, task and settings, exactly as the stage builds them. */
export const stageTask = (
  ctx: RunContext,
  stage: FannedStage
): Effect.Effect<StageTask, StageError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    if (stage === "evaluate") {
      const spec = ctx.recipe.evaluate
      const items = yield* samplePrompts(spec.prompts, spec.n, spec.seed ?? 42, "evaluate")
      return { items, task: studyTask(items, "study-eval"), settings: generationSettings(spec) }
    }
    const spec = ctx.recipe.steer
    const items = yield* samplePrompts(spec.prompts ?? ctx.recipe.evaluate.prompts, spec.n, spec.seed ?? 42, "steer")
    return { items, task: studyTask(items, "study-steer"), settings: generationSettings(spec) }
  })

const evaluateCells = (ctx: RunContext): Array<EvalCell> => {
  const names = ctx.recipe.evaluate.crosscoders ?? ctx.recipe.crosscoders.map((c) => c.name)
  return (["A", "B"] as const).flatMap((m) => [
    {
      stage: "evaluate" as const,
      model: m,
      run: "clean",
      output: `records-${m}.jsonl`,
      intervention: { kind: "none" }
    },
    ...names.map((name) => ({
      stage: "evaluate" as const,
      model: m,
      run: `recon:${name}`,
      output: `records-${m}.jsonl`,
      intervention: { kind: "recon" as const, crosscoder: name, target: m }
    }))
  ])
}

const steerCells = (ctx: RunContext) =>
  Effect.gen(function* () {
    const spec = ctx.recipe.steer
    const target = (spec.target ?? "A") as "A" | "B"
    const crosscoder = spec.crosscoder
    const ranking = yield* readRanking(ctx.dir("rank", spec.crosscoder, "ranking.json")).pipe(
      Effect.mapError((e) => new StageError({ stage: "steer", message: e.message }))
    )
    const base = { stage: "steer" as const, model: target, output: "records.jsonl" }
    const cells: Array<EvalCell> = [{ ...base, run: "clean", intervention: { kind: "clean" } }]
    if (spec.reconstruction ?? true) {
      cells.push({
        ...base,
        run: sweepReconLabel("", target, "lastPrompt"),
        intervention: { kind: "recon", crosscoder, target }
      })
    }
    const seen = new Set<string>()
    for (const partition of spec.partitions) {
      for (const k of spec.kPercents) {
        const s = selectTopSubset(ranking, partition, k, {
          ...(spec.useFilter !== undefined ? { useFilter: spec.useFilter } : {})
        })
        if (Result.isFailure(s)) return yield* new StageError({ stage: "steer", message: s.failure.message })
        const features = s.success.features
        if (features.length === 0) continue
        for (const alpha of spec.alphas) {
          const run = sweepSteerLabel("", target, "lastPrompt", alpha, features)
          if (seen.has(run)) continue
          seen.add(run)
          cells.push({ ...base, run, intervention: { kind: "steer", crosscoder, target, features, alpha } })
        }
      }
    }
    if (spec.singleFeatures !== undefined) {
      for (const c of chooseSingleFeatures(spec.singleFeatures, ranking)) {
        for (const alpha of spec.singleFeatures.alphas ?? spec.alphas) {
          cells.push({
            stage: "steer",
            model: target,
            output: "singles-records.jsonl",
            run: singleRunLabel(target, c.stat.feature, alpha),
            intervention: { kind: "steer", crosscoder, target, features: [c.stat.feature], alpha }
          })
        }
      }
    }
    return cells
  })

/** Every eval cell of a fanned-out stage. */
export const stageCells = (
  ctx: RunContext,
  stage: FannedStage
): Effect.Effect<Array<EvalCell>, StageError, FileSystem.FileSystem> =>
  stage === "evaluate" ? Effect.succeed(evaluateCells(ctx)) : steerCells(ctx)

/** [from, to) prompt ranges of `batch` prompts each. */
export const batchRanges = (n: number, batch: number): Array<readonly [number, number]> => {
  const out: Array<readonly [number, number]> = []
  for (let from = 0; from < n; from += batch) out.push([from, Math.min(n, from + batch)])
  return out
}
