/** Helpers shared by the model-running stages. */
import type { GenerationSettings, MetricSummary, PairedComparison, RunSummary } from "@crosscode/eval"
import { comparePaired, type EvalRecord, summarizeRun } from "@crosscode/eval"
import { FORMAT_METRIC, SCORE_METRIC, TOOL_METRIC } from "../sources.js"

export interface Rate {
  readonly n: number
  readonly k: number
  readonly pct: number
  readonly lo: number
  readonly hi: number
}

export interface ConditionStats {
  readonly run: string
  readonly n: number
  /** Tool correctness (paper rubric), % with Wilson 95% CI. */
  readonly tool: Rate
  readonly format: Rate
  /** Overall score (−1…+2), mean ± SD. */
  readonly score: { readonly mean: number; readonly sd: number }
}

export interface DeltaStats {
  readonly n: number
  readonly clean: number
  readonly treated: number
  /** Percentage points. */
  readonly delta: number
  /** Paired-t 95% CI of Δ (pp). */
  readonly ci?: { readonly lo: number; readonly hi: number; readonly p: number }
  readonly mcnemar?: { readonly rescued: number; readonly broken: number; readonly p: number }
  readonly formatDelta: number
  readonly scoreDelta: number
}

const rate = (m: MetricSummary | undefined, n: number): Rate =>
  m !== undefined && m.kind === "binary"
    ? { n: m.n, k: m.k, pct: m.pct, lo: m.lo, hi: m.hi }
    : { n, k: 0, pct: 0, lo: 0, hi: 0 }

export const conditionStats = (records: ReadonlyArray<EvalRecord>): ConditionStats => {
  const s: RunSummary = summarizeRun(records, false)
  const all = s.groups[0]
  const get = (name: string) => all?.metrics.find((m) => m.metric === name)
  const score = get(SCORE_METRIC)
  return {
    run: s.run,
    n: s.n,
    tool: rate(get(TOOL_METRIC), s.n),
    format: rate(get(FORMAT_METRIC), s.n),
    score: score !== undefined && score.kind === "score" ? { mean: score.mean, sd: score.sd } : { mean: 0, sd: 0 }
  }
}

const delta = (c: PairedComparison | undefined) => c?.delta ?? 0

export const deltaStats = (clean: ReadonlyArray<EvalRecord>, treated: ReadonlyArray<EvalRecord>): DeltaStats => {
  const t = comparePaired(clean, treated, TOOL_METRIC)
  return {
    n: t?.n ?? 0,
    clean: t?.baseline ?? 0,
    treated: t?.treatment ?? 0,
    delta: delta(t),
    ...(t?.pairedT !== undefined ? { ci: { lo: t.pairedT.lo, hi: t.pairedT.hi, p: t.pairedT.p } } : {}),
    ...(t?.mcnemar !== undefined ? { mcnemar: t.mcnemar } : {}),
    formatDelta: delta(comparePaired(clean, treated, FORMAT_METRIC)),
    scoreDelta: delta(comparePaired(clean, treated, SCORE_METRIC))
  }
}

export const generationSettings = (o: {
  readonly maxNewTokens?: number | undefined
  readonly maxPromptTokens?: number | undefined
  readonly batchSize?: number | undefined
}): Partial<GenerationSettings> => ({
  ...(o.maxNewTokens !== undefined ? { maxNewTokens: o.maxNewTokens } : {}),
  ...(o.maxPromptTokens !== undefined ? { maxPromptTokens: o.maxPromptTokens } : {}),
  ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {})
})
