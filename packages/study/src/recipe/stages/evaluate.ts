/**
 * Stage 3 — evaluate: clean vs encode–decode reconstruction, for model A and model B, for every
 * evaluated crosscoder (method.md §5.1): the last prompt token's activation at the site is replaced
 * by its reconstruction from encoding the pair [h_A, h_B], during prefill only; greedy generation;
 * the paper's rubric. Records go to `evaluate/records-<model>.jsonl` (the eval runner resumes from
 * them), the comparison to `evaluate/summary.json`.
 */
import { cleanIntervention } from "@crosscode/core"
import { type EvalRecord, makeEvalRunner } from "@crosscode/eval"
import { PairEncoder, reconstruct } from "@crosscode/steering"
import { Effect } from "effect"
import type { RunContext } from "../context.js"
import { stageFailure, writeStageJson } from "../errors.js"
import { positions } from "../positions.js"
import { samplePrompts, studyTask } from "../sources.js"
import { type ConditionStats, conditionStats, type DeltaStats, deltaStats, generationSettings } from "./common.js"

export interface EvalSummary {
  readonly n: number
  readonly promptSet: string
  readonly clean: { readonly A: ConditionStats; readonly B: ConditionStats }
  readonly crosscoders: ReadonlyArray<{
    readonly name: string
    readonly recon: { readonly A: ConditionStats; readonly B: ConditionStats }
    readonly delta: { readonly A: DeltaStats; readonly B: DeltaStats }
  }>
}

export const runEvaluate = Effect.fn("runEvaluate")(
  function* (ctx: RunContext) {
    const spec = ctx.recipe.evaluate
    const names = spec.crosscoders ?? ctx.recipe.crosscoders.map((c) => c.name)
    const items = yield* samplePrompts(spec.prompts, spec.n, spec.seed ?? 42, "evaluate")
    const task = studyTask(items, "study-eval")
    const settings = generationSettings(spec)
    const models = yield* ctx.models
    const tokenizer = yield* ctx.tokenizer
    const files = { A: ctx.dir("evaluate", "records-A.jsonl"), B: ctx.dir("evaluate", "records-B.jsonl") }
    const cleanRecords: Partial<Record<"A" | "B", ReadonlyArray<EvalRecord>>> = {}
    const recon: Record<string, Partial<Record<"A" | "B", ReadonlyArray<EvalRecord>>>> = {}
    for (const m of ["A", "B"] as const) {
      const runner = makeEvalRunner({ model: models[m], tokenizer, ...(yield* positions(ctx.recipe.models[m])) })
      const c = yield* runner.run({
        run: "clean",
        task,
        intervention: cleanIntervention,
        output: files[m],
        settings
      })
      cleanRecords[m] = c.records
      for (const name of names) {
        const pe = yield* ctx.pairEncoder(name)
        const r = yield* runner
          .run({
            run: `recon:${name}`,
            task,
            intervention: reconstruct({ target: m }),
            output: files[m],
            settings
          })
          .pipe(Effect.provideService(PairEncoder, pe))
        ;(recon[name] ??= {})[m] = r.records
      }
    }
    const summary: EvalSummary = {
      n: items.length,
      promptSet: spec.prompts.path,
      clean: { A: conditionStats(cleanRecords.A!), B: conditionStats(cleanRecords.B!) },
      crosscoders: names.map((name) => ({
        name,
        recon: { A: conditionStats(recon[name]!.A!), B: conditionStats(recon[name]!.B!) },
        delta: { A: deltaStats(cleanRecords.A!, recon[name]!.A!), B: deltaStats(cleanRecords.B!, recon[name]!.B!) }
      }))
    }
    yield* writeStageJson("evaluate", ctx.dir("evaluate", "summary.json"), summary)
    yield* Effect.logInfo(
      `evaluate: tool correctness clean A ${summary.clean.A.tool.pct.toFixed(1)}%, B ${summary.clean.B.tool.pct.toFixed(1)}%; ${summary.crosscoders
        .map(
          (c) =>
            `${c.name} recon A ${c.recon.A.tool.pct.toFixed(1)}% (Δ ${c.delta.A.delta.toFixed(1)}), B ${c.recon.B.tool.pct.toFixed(1)}% (Δ ${c.delta.B.delta.toFixed(1)})`
        )
        .join("; ")}`
    )
    return summary
  },
  Effect.mapError(stageFailure("evaluate"))
)
