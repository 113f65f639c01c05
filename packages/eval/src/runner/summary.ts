/**
 * Aggregation of records: per-cell percentages with Wilson intervals for binary metrics, mean ± SD
 * for scores, per category; paired comparisons of two runs over the same items; mean ± SD across
 * runs; and a Markdown table.
 */
import type { MetricValue } from "../scorers/Scorer.js"
import { mcnemarExact, meanSd, type PairedT, pairedT, wilson } from "../stats/stats.js"
import type { EvalRecord } from "./records.js"

export type MetricSummary =
  | {
      readonly metric: string
      readonly kind: "binary"
      /** Items where the metric applies (non-null). */
      readonly n: number
      readonly k: number
      /** Percentages (0–100). */
      readonly pct: number
      readonly lo: number
      readonly hi: number
    }
  | {
      readonly metric: string
      readonly kind: "score"
      readonly n: number
      readonly mean: number
      /** Sample SD (ddof = 1); 0 for a single value. */
      readonly sd: number
      readonly min: number
      readonly max: number
    }

export interface SummaryGroup {
  /** "all" or a category name. */
  readonly group: string
  readonly n: number
  readonly metrics: ReadonlyArray<MetricSummary>
}

export interface RunSummary {
  readonly run: string
  readonly task: string
  readonly model: string
  readonly intervention: string
  readonly n: number
  /** Items recorded with a parse, scorer or serialization failure (see `EvalRecord.failures`). */
  readonly failed: number
  readonly groups: ReadonlyArray<SummaryGroup>
}

const metricNames = (records: ReadonlyArray<{ metrics: Readonly<Record<string, MetricValue>> }>): Array<string> => {
  const seen = new Set<string>()
  for (const r of records) for (const k of Object.keys(r.metrics)) seen.add(k)
  return [...seen]
}

/** Summarises one metric over values (`null` = not applicable, left out). */
export const summarizeMetric = (
  metric: string,
  values: ReadonlyArray<MetricValue | undefined>
): MetricSummary | undefined => {
  const present = values.filter((v): v is boolean | number => v !== null && v !== undefined)
  if (present.length === 0) return undefined
  if (present.every((v) => typeof v === "boolean")) {
    const k = present.filter((v) => v === true).length
    const w = wilson(k, present.length)
    return { metric, kind: "binary", n: present.length, k, pct: 100 * w.p, lo: 100 * w.lo, hi: 100 * w.hi }
  }
  const xs = present.map((v) => (typeof v === "boolean" ? (v ? 1 : 0) : v))
  const s =
    xs.length >= 2 ? meanSd(xs, 1) : { n: 1, mean: xs[0] as number, sd: 0, min: xs[0] as number, max: xs[0] as number }
  return { metric, kind: "score", n: s.n, mean: s.mean, sd: s.sd, min: s.min, max: s.max }
}

const group = (name: string, records: ReadonlyArray<EvalRecord>, metrics: ReadonlyArray<string>): SummaryGroup => ({
  group: name,
  n: records.length,
  metrics: metrics.flatMap(
    (m) =>
      summarizeMetric(
        m,
        records.map((r) => r.metrics[m])
      ) ?? []
  )
})

/** Summary of the records of one run: "all" and, when there are several, one group per category. */
export const summarizeRun = (records: ReadonlyArray<EvalRecord>, byCategory = true): RunSummary => {
  const first = records[0]
  const metrics = metricNames(records)
  const groups: Array<SummaryGroup> = [group("all", records, metrics)]
  const categories = [...new Set(records.map((r) => r.category))]
  if (byCategory && categories.length > 1) {
    for (const c of categories)
      groups.push(
        group(
          c,
          records.filter((r) => r.category === c),
          metrics
        )
      )
  }
  return {
    run: first?.run ?? "",
    task: first?.task ?? "",
    model: first?.model.name ?? "",
    intervention: first?.intervention.name ?? "",
    n: records.length,
    failed: records.filter((r) => r.failures !== undefined && r.failures.length > 0).length,
    groups
  }
}

const f1 = (x: number) => x.toFixed(1)
const f3 = (x: number) => x.toFixed(3)

/** A Markdown table: one row per (group, metric). */
export const formatSummaryTable = (summary: RunSummary): string => {
  const lines = [
    `### ${summary.run} — task ${summary.task}, model ${summary.model}, intervention ${summary.intervention} (n = ${summary.n})`,
    "",
    ...(summary.failed > 0
      ? [
          `**${summary.failed} item(s) recorded with failures** (parse, scorer or serialization; see the records' \`failures\`): failed scorers' metrics are absent for them.`,
          ""
        ]
      : []),
    "| group | metric | n | value | 95% CI / SD |",
    "|---|---|---:|---:|---|"
  ]
  for (const g of summary.groups) {
    for (const m of g.metrics) {
      lines.push(
        m.kind === "binary"
          ? `| ${g.group} | ${m.metric} | ${m.n} | ${f1(m.pct)}% (${m.k}/${m.n}) | [${f1(m.lo)}, ${f1(m.hi)}] |`
          : `| ${g.group} | ${m.metric} | ${m.n} | ${f3(m.mean)} | ± ${f3(m.sd)} (min ${f3(m.min)}, max ${f3(m.max)}) |`
      )
    }
  }
  return lines.join("\n")
}

export interface PairedComparison {
  readonly metric: string
  readonly kind: "binary" | "score"
  /** Items present in both runs with a non-null value in both. */
  readonly n: number
  /** Items of either run that had no partner. */
  readonly unpaired: number
  /** Binary: percentages; score: means. */
  readonly baseline: number
  readonly treatment: number
  /** treatment − baseline (percentage points for binary metrics). */
  readonly delta: number
  /** Paired-t CI of the difference (percentage points for binary metrics); undefined when n < 2. */
  readonly pairedT: PairedT | undefined
  /** Binary metrics: exact McNemar on rescued (0→1) vs broken (1→0) items. */
  readonly mcnemar?: { readonly rescued: number; readonly broken: number; readonly p: number }
}

/** Compares a metric between two runs over the same items (paired by item id). */
export const comparePaired = (
  baseline: ReadonlyArray<EvalRecord>,
  treatment: ReadonlyArray<EvalRecord>,
  metric: string,
  level = 0.95
): PairedComparison | undefined => {
  const b = new Map(baseline.map((r) => [r.itemId, r.metrics[metric]]))
  const t = new Map(treatment.map((r) => [r.itemId, r.metrics[metric]]))
  const pairs: Array<[boolean | number, boolean | number]> = []
  for (const [id, bv] of b) {
    const tv = t.get(id)
    if (bv !== null && bv !== undefined && tv !== null && tv !== undefined) pairs.push([bv, tv])
  }
  const unpaired = [...b.keys()].filter((id) => !t.has(id)).length + [...t.keys()].filter((id) => !b.has(id)).length
  if (pairs.length === 0) return undefined
  const binary = pairs.every(([x, y]) => typeof x === "boolean" && typeof y === "boolean")
  const scale = binary ? 100 : 1
  const xs = pairs.map(([x]) => (typeof x === "boolean" ? (x ? 1 : 0) : x) * scale)
  const ys = pairs.map(([, y]) => (typeof y === "boolean" ? (y ? 1 : 0) : y) * scale)
  const mean = (v: ReadonlyArray<number>) => v.reduce((a, c) => a + c, 0) / v.length
  const base = mean(xs)
  const treat = mean(ys)
  return {
    metric,
    kind: binary ? "binary" : "score",
    n: pairs.length,
    unpaired,
    baseline: base,
    treatment: treat,
    delta: treat - base,
    pairedT: pairs.length >= 2 ? pairedT(xs, ys, level) : undefined,
    ...(binary
      ? {
          mcnemar: mcnemarExact(
            pairs.map(([x]) => x as boolean),
            pairs.map(([, y]) => y as boolean)
          )
        }
      : {})
  }
}

/** Mean ± sample SD of one number per run (e.g. the cell percentage of each crosscoder). */
export const acrossRuns = (values: ReadonlyArray<number>) => meanSd(values, 1)
