/**
 * Stage 5 — steer: the steering sweep (method.md §5.3) on the target model over partitions × k% × α:
 * h' = h + Σ_{i∈S} (α − 1) f_i W_dec[i, target] at the last prompt token, with S the top-k% of the
 * partition's tool-signed features by Cohen's d. Delegates to `runSweep` (@crosscode/steering),
 * which writes `steer/records.jsonl`, `cells.jsonl` (resume), `sweep.json` and `sweep.csv`.
 */
import { existsSync, readFileSync } from "node:fs"
import { makeEvalRunner } from "@crosscode/eval"
import { PairEncoder, readRanking, runSweep, type SweepResult, selectTopSubset } from "@crosscode/steering"
import { Effect, Result } from "effect"
import { Progress } from "../../cli/progress.js"
import type { RunContext } from "../context.js"
import { errorMessage, StageError } from "../errors.js"
import { samplePrompts, studyTask } from "../sources.js"
import { countLines, generationSettings, watchLines } from "./common.js"

export const runSteer = (ctx: RunContext) =>
  Effect.gen(function* () {
    const progress = yield* Progress
    const spec = ctx.recipe.steer
    const target = spec.target ?? "A"
    const items = yield* samplePrompts(spec.prompts ?? ctx.recipe.evaluate.prompts, spec.n, spec.seed ?? 42, "steer")
    const task = studyTask(items, "study-steer")
    const ranking = yield* readRanking(ctx.dir("rank", spec.crosscoder, "ranking.json"))
    // the eval runs the sweep will make: clean, reconstruction, one per distinct (features, α)
    const runs = new Set<string>(["clean"])
    if (spec.reconstruction ?? true) runs.add("recon")
    for (const p of spec.partitions) {
      for (const k of spec.kPercents) {
        const s = selectTopSubset(ranking, p, k)
        if (Result.isFailure(s)) return yield* new StageError({ stage: "steer", message: s.failure.message })
        if (s.success.features.length === 0) continue
        for (const a of spec.alphas) runs.add(`${s.success.features.join(".")}|${a}`)
      }
    }
    const models = yield* ctx.models
    const tokenizer = yield* ctx.tokenizer
    const pe = yield* ctx.pairEncoder(spec.crosscoder)
    const outputDir = ctx.dir("steer")
    const records = ctx.dir("steer", "records.jsonl")
    const bar = progress.start("steer", runs.size * items.length, "prompts", countLines(records))
    const result: SweepResult = yield* Effect.scoped(
      Effect.gen(function* () {
        yield* watchLines(records, (n) => bar.update(n))
        return yield* runSweep({
          runner: makeEvalRunner({ model: models[target as "A" | "B"], tokenizer }),
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
      })
    )
    bar.update(countLines(records))
    bar.finish()
    const best = result.best?.cell
    yield* Effect.logInfo(
      `steer: clean ${result.clean.value.toFixed(1)}%${result.reconstruction !== undefined ? `, recon ${result.reconstruction.stats.steered.toFixed(1)}%` : ""}${
        best?.stats !== undefined
          ? `; best cell ${best.partition} |S|=${best.features.length} α=${best.alpha}: ${best.stats.steered.toFixed(1)}% (Δ ${best.stats.delta >= 0 ? "+" : ""}${best.stats.delta.toFixed(1)} pp, best-of-grid)`
          : ""
      }`
    )
    return { cells: result.cells.length, best: best?.id }
  }).pipe(
    Effect.mapError((e) => (e instanceof StageError ? e : new StageError({ stage: "steer", message: errorMessage(e) })))
  )

export const readSweep = (ctx: RunContext): SweepResult | undefined => {
  const f = ctx.dir("steer", "sweep.json")
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as SweepResult) : undefined
}
