/**
 * BFCL results from eval records: per-category accuracy (BFCL's AST verdict, `bfcl.ast_official`)
 * with Wilson 95% intervals, BFCL's aggregates, and the table the `crosscode bfcl` command prints.
 *
 * BFCL's aggregation (gorilla `bfcl_eval/eval_checker/eval_runner_helper.py`): per-category
 * accuracy = correct / total; non-live overall = the unweighted mean of simple, multiple, parallel
 * and parallel_multiple, where BFCL's "simple" is itself the unweighted mean of the Python, Java and
 * JavaScript simple categories. Only the Python categories are evaluated here, so simple =
 * simple_python. Irrelevance is reported on its own (BFCL's irrelevance summary also averages in
 * live irrelevance, which is not part of this data).
 */
import type { EvalRecord } from "@crosscode/eval"
import { wilson } from "@crosscode/eval"

/** BFCL's verdict: the AST checker on BFCL's own decoding of the response for the style's format. */
export const OFFICIAL_METRIC = "bfcl.ast_official"
export const STRICT_METRIC = "bfcl.ast_strict"
export const LENIENT_METRIC = "bfcl.ast_lenient"

/** The categories averaged into BFCL's non-live overall (simple = simple_python here). */
export const NON_LIVE_OVERALL = ["simple_python", "multiple", "parallel", "parallel_multiple"] as const

export interface Rate {
  readonly correct: number
  readonly n: number
  /** Percentages (0–100); `lo`/`hi` = Wilson 95% interval. */
  readonly accuracy: number
  readonly lo: number
  readonly hi: number
}

export interface CategoryResult extends Rate {
  readonly category: string
  /** Items of the category in the data file. */
  readonly available: number
  /** BFCL verdict on the calls a strict reader of the style's format accepts. */
  readonly strict: Rate
  /** BFCL verdict on every leniently parsed call (format mistakes forgiven). */
  readonly lenient: Rate
  /** Prompts cut to `maxPromptTokens`. */
  readonly truncatedPrompts: number
  /** The records file (JSONL), relative to the output directory. */
  readonly records: string
}

export interface BfclAggregate {
  /** Unweighted mean of the NON_LIVE_OVERALL categories that were evaluated (%). */
  readonly nonLiveOverall?: {
    readonly accuracy: number
    readonly categories: ReadonlyArray<string>
    /** False when some of the four categories were not evaluated. */
    readonly complete: boolean
  }
  readonly irrelevance?: Rate
}

export const rateOf = (records: ReadonlyArray<EvalRecord>, metric: string): Rate => {
  const values = records.map((r) => r.metrics[metric])
  const n = values.length
  const correct = values.filter((v) => v === true).length
  if (n === 0) return { correct: 0, n: 0, accuracy: 0, lo: 0, hi: 0 }
  const w = wilson(correct, n)
  return { correct, n, accuracy: 100 * w.p, lo: 100 * w.lo, hi: 100 * w.hi }
}

export const categoryResult = (
  category: string,
  records: ReadonlyArray<EvalRecord>,
  available: number,
  file: string
): CategoryResult => ({
  category,
  available,
  ...rateOf(records, OFFICIAL_METRIC),
  strict: rateOf(records, STRICT_METRIC),
  lenient: rateOf(records, LENIENT_METRIC),
  truncatedPrompts: records.filter((r) => r.prompt.truncated).length,
  records: file
})

export const bfclAggregate = (results: ReadonlyArray<CategoryResult>): BfclAggregate => {
  const overall = results.filter((r) => (NON_LIVE_OVERALL as ReadonlyArray<string>).includes(r.category))
  const irrelevance = results.find((r) => r.category === "irrelevance")
  return {
    ...(overall.length > 0
      ? {
          nonLiveOverall: {
            accuracy: overall.reduce((s, r) => s + r.accuracy, 0) / overall.length,
            categories: overall.map((r) => r.category),
            complete: overall.length === NON_LIVE_OVERALL.length
          }
        }
      : {}),
    ...(irrelevance !== undefined
      ? {
          irrelevance: {
            correct: irrelevance.correct,
            n: irrelevance.n,
            accuracy: irrelevance.accuracy,
            lo: irrelevance.lo,
            hi: irrelevance.hi
          }
        }
      : {})
  }
}

const pct = (x: number) => `${x.toFixed(1)}%`
const ci = (r: Rate) => `[${r.lo.toFixed(1)}, ${r.hi.toFixed(1)}]`

/** The per-category table (Markdown) and the aggregate lines. */
export const formatBfclTable = (results: ReadonlyArray<CategoryResult>, aggregate: BfclAggregate): string => {
  const lines = [
    "| category | n | correct | accuracy | 95% CI (Wilson) | strict | lenient |",
    "|---|---:|---:|---:|---|---:|---:|"
  ]
  for (const r of results) {
    lines.push(
      `| ${r.category} | ${r.n} | ${r.correct} | ${pct(r.accuracy)} | ${ci(r)} | ${pct(r.strict.accuracy)} | ${pct(r.lenient.accuracy)} |`
    )
  }
  lines.push("")
  const o = aggregate.nonLiveOverall
  if (o !== undefined) {
    lines.push(
      `non-live overall (unweighted mean of simple, multiple, parallel, parallel_multiple; simple = simple_python): ${pct(o.accuracy)}${
        o.complete ? "" : ` (partial: ${o.categories.length} of 4 categories: ${o.categories.join(", ")})`
      }`
    )
  } else lines.push("non-live overall: n/a (none of simple_python, multiple, parallel, parallel_multiple evaluated)")
  const irr = aggregate.irrelevance
  lines.push(
    irr !== undefined
      ? `irrelevance: ${pct(irr.accuracy)} (${irr.correct}/${irr.n}) ${ci(irr)}`
      : "irrelevance: n/a (not evaluated)"
  )
  return lines.join("\n")
}
