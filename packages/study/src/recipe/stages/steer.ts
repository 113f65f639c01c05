/**
 * Stage 5 — steer: the steering sweep (method.md §5.3) on the target model over partitions × k% × α:
 * h' = h + Σ_{i∈S} (α − 1) f_i W_dec[i, target] at the last prompt token, with S the top-k% of the
 * partition's tool-signed features by Cohen's d. Delegates to `runSweep` (@crosscode/steering),
 * which writes `steer/records.jsonl`, `cells.jsonl` (resume), `sweep.json` and `sweep.csv`.
 */
import { Progress } from "@crosscode/core"
import { type EvalRunnerShape, makeEvalRunner, readRecords, type Task } from "@crosscode/eval"
import {
  type FeatureRanking,
  PairEncoder,
  type PairEncoderShape,
  partitionGroups,
  readRanking,
  sortByD,
  steerFeatures
} from "@crosscode/steering"
import { Effect } from "effect"
import { runSweep, type SweepResult } from "../../sweep/Sweep.js"
import type { RunContext } from "../context.js"
import { stageFailure, writeStageJson } from "../errors.js"
import { positions } from "../positions.js"
import { samplePrompts, studyTask } from "../sources.js"
import { type DeltaStats, deltaStats, generationSettings } from "./common.js"

export const runSteer = Effect.fn("runSteer")(
  function* (ctx: RunContext) {
    const spec = ctx.recipe.steer
    const target = spec.target ?? "A"
    const items = yield* samplePrompts(spec.prompts ?? ctx.recipe.evaluate.prompts, spec.n, spec.seed ?? 42, "steer")
    const task = studyTask(items, "study-steer")
    const ranking = yield* readRanking(ctx.dir("rank", spec.crosscoder, "ranking.json"))
    const models = yield* ctx.models
    const tokenizer = yield* ctx.tokenizer
    const pe = yield* ctx.pairEncoder(spec.crosscoder)
    const outputDir = ctx.dir("steer")
    const records = ctx.dir("steer", "records.jsonl")
    const result: SweepResult = yield* runSweep({
      runner: makeEvalRunner({
        model: models[target as "A" | "B"],
        tokenizer,
        ...(yield* positions(ctx.recipe.models[target as "A" | "B"]))
      }),
      task,
      target,
      ranking,
      partitions: spec.partitions,
      kPercents: spec.kPercents,
      alphas: spec.alphas,
      outputDir,
      settings: generationSettings(spec),
      reconstruction: spec.reconstruction ?? true,
      ...(spec.useFilter !== undefined ? { useFilter: spec.useFilter } : {})
    }).pipe(Effect.provideService(PairEncoder, pe))
    const singles =
      spec.singleFeatures === undefined
        ? []
        : yield* runSingles(ctx, {
            runner: makeEvalRunner({
              model: models[target as "A" | "B"],
              tokenizer,
              ...(yield* positions(ctx.recipe.models[target as "A" | "B"]))
            }),
            task,
            ranking,
            records,
            target,
            pe
          })
    const best = result.best?.cell
    yield* Effect.logInfo(
      `steer: clean ${result.clean.value.toFixed(1)}%${result.reconstruction !== undefined ? `, recon ${result.reconstruction.stats.steered.toFixed(1)}%` : ""}${
        best?.stats !== undefined
          ? `; best cell ${best.partition} |S|=${best.features.length} α=${best.alpha}: ${best.stats.steered.toFixed(1)}% (Δ ${best.stats.delta >= 0 ? "+" : ""}${best.stats.delta.toFixed(1)} pp, best-of-grid)`
          : ""
      }`
    )
    const bestSingle = singles.reduce<SingleFeatureCell | undefined>(
      (b, c) => (b === undefined || c.stats.delta > b.stats.delta ? c : b),
      undefined
    )
    if (bestSingle !== undefined) {
      yield* Effect.logInfo(
        `steer: best single feature ${bestSingle.partition} #${bestSingle.feature} (d = ${bestSingle.cohenD.toFixed(2)}) α=${bestSingle.alpha}: ${bestSingle.stats.treated.toFixed(1)}% (Δ ${bestSingle.stats.delta >= 0 ? "+" : ""}${bestSingle.stats.delta.toFixed(1)} pp)`
      )
    }
    return { cells: result.cells.length, best: best?.id, singles: singles.length }
  },
  Effect.mapError(stageFailure("steer"))
)

export interface SingleFeatureCell {
  readonly partition: string
  readonly feature: number
  /** Rank of the feature by Cohen's d within the partition (1 = top). */
  readonly rank: number
  readonly cohenD: number
  readonly alpha: number
  readonly run: string
  readonly stats: DeltaStats
}

/** The features steered one at a time: the top tool-signed features of each listed partition. */
export const chooseSingleFeatures = (
  sf: { readonly partitions: ReadonlyArray<string>; readonly top: number },
  ranking: FeatureRanking
) =>
  sf.partitions.flatMap((p) => {
    const groups = partitionGroups(p)
    return sortByD(
      ranking.features.filter((f) => f.sign === "tool" && (groups.includes("all") || groups.includes(f.partition)))
    )
      .slice(0, sf.top)
      .map((f, i) => ({ partition: p, stat: f, rank: i + 1 }))
  })

/** The run label of one single-feature steering run. */
export const singleRunLabel = (target: string, feature: number, alpha: number) =>
  `single|${target}|f${feature}|a${alpha}`

/** Single-feature steering: the top tool-signed features of each partition, one at a time. */
const runSingles = (
  ctx: RunContext,
  o: {
    readonly runner: EvalRunnerShape
    readonly task: Task
    readonly ranking: FeatureRanking
    readonly records: string
    readonly target: string
    readonly pe: PairEncoderShape
  }
) =>
  Effect.gen(function* () {
    const progress = yield* Progress
    const spec = ctx.recipe.steer
    const sf = spec.singleFeatures!
    const alphas = sf.alphas ?? spec.alphas
    const settings = generationSettings(spec)
    const chosen = chooseSingleFeatures(sf, o.ranking)
    const file = ctx.dir("steer", "singles-records.jsonl")
    const bar = progress.start("steer singles", chosen.length * alphas.length, "cells")
    // the sweep's clean run on the same prompts
    const clean = (yield* readRecords(o.records)).filter((r) => r.run === "clean")
    const cells: Array<SingleFeatureCell> = []
    for (const c of chosen) {
      for (const alpha of alphas) {
        const run = singleRunLabel(o.target, c.stat.feature, alpha)
        const r = yield* o.runner
          .run({
            run,
            task: o.task,
            intervention: steerFeatures({ target: o.target, features: [c.stat.feature], alpha }),
            output: file,
            settings
          })
          .pipe(Effect.provideService(PairEncoder, o.pe))
        cells.push({
          partition: c.partition,
          feature: c.stat.feature,
          rank: c.rank,
          cohenD: c.stat.cohenD,
          alpha,
          run,
          stats: deltaStats(clean, r.records)
        })
        bar.update(cells.length)
      }
    }
    bar.finish()
    yield* writeStageJson("steer", ctx.dir("steer", "singles.json"), cells, 1)
    return cells
  })
