/**
 * The scorer abstraction: anything that turns (item, prompt, response, parse) into named metrics.
 *
 * Built-in scorers: `paperRubricScorer`, `bfclAstScorer`, `toolRlRewardScorer`,
 * `exactMatchScorer`, `formatScorer`. Write your own with {@link makeScorer} (pure) or by
 * implementing {@link Scorer} (effectful); see docs/extending-task-scorer.md.
 *
 * Metric values: `true`/`false` for binary metrics (aggregated as percentages with Wilson
 * intervals), numbers for scores (aggregated as mean ± SD), `null` for "not applicable to this item"
 * (left out of the denominator).
 */
import { Effect } from "effect"
import type { EvalItem } from "../data/EvalItem.js"
import { ScorerError } from "../errors.js"
import type { ParseResult } from "../parse/parseToolCalls.js"

export type MetricValue = boolean | number | null

export interface MetricInfo {
  readonly name: string
  readonly kind: "binary" | "score"
  readonly description: string
}

export interface ScoreInput {
  readonly item: EvalItem
  /** The exact prompt text the model was given (after template rendering, before truncation). */
  readonly prompt: string
  /** The generated text (new tokens only, decoded). */
  readonly response: string
  /** `parseToolCalls(response)`, computed once per response and shared by all scorers. */
  readonly parse: ParseResult
}

export interface ScoreOutput {
  readonly metrics: Readonly<Record<string, MetricValue>>
  /** JSON-serialisable explanation (error types, matched calls…), stored in the record. */
  readonly detail?: unknown
}

export interface Scorer {
  /** Short identifier; metric keys in records are `${name}.${metric}`. */
  readonly name: string
  /** What the scorer checks and what it does not (shown in docs and summaries). */
  readonly description: string
  readonly metrics: ReadonlyArray<MetricInfo>
  readonly score: (input: ScoreInput) => Effect.Effect<ScoreOutput, ScorerError>
}

/**
 * Builds a {@link Scorer} from a pure function. A thrown exception becomes a `ScorerError` naming
 * the scorer and the item.
 */
export const makeScorer = (spec: {
  readonly name: string
  readonly description: string
  readonly metrics: ReadonlyArray<MetricInfo>
  readonly score: (input: ScoreInput) => ScoreOutput
}): Scorer => ({
  name: spec.name,
  description: spec.description,
  metrics: spec.metrics,
  score: (input) =>
    Effect.try({
      try: () => spec.score(input),
      catch: (e) =>
        new ScorerError({
          scorer: spec.name,
          itemId: input.item.id,
          message: e instanceof Error ? e.message : String(e)
        })
    })
})

export interface ScoredItem {
  /** Flat `${scorer}.${metric}` → value. */
  readonly metrics: Readonly<Record<string, MetricValue>>
  /** `scorer` → its detail. */
  readonly details: Readonly<Record<string, unknown>>
}

/** Runs every scorer on one input and merges their metrics under `${scorer.name}.` prefixes. */
export const runScorers = (scorers: ReadonlyArray<Scorer>, input: ScoreInput): Effect.Effect<ScoredItem, ScorerError> =>
  Effect.gen(function* () {
    const metrics: Record<string, MetricValue> = {}
    const details: Record<string, unknown> = {}
    for (const s of scorers) {
      const out = yield* s.score(input)
      for (const [k, v] of Object.entries(out.metrics)) metrics[`${s.name}.${k}`] = v
      if (out.detail !== undefined) details[s.name] = out.detail
    }
    return { metrics, details }
  })

/** A scorer that failed on one item (recorded on the item; the run goes on). */
export interface ScorerFailure {
  readonly scorer: string
  readonly message: string
}

/**
 * {@link runScorers} that never fails: a scorer's `ScorerError` or defect becomes a
 * {@link ScorerFailure} and its metrics are left out for this item; the other scorers still run.
 */
export const runScorersRecordingFailures = (
  scorers: ReadonlyArray<Scorer>,
  input: ScoreInput
): Effect.Effect<ScoredItem & { readonly failures: ReadonlyArray<ScorerFailure> }> =>
  Effect.gen(function* () {
    const metrics: Record<string, MetricValue> = {}
    const details: Record<string, unknown> = {}
    const failures: Array<ScorerFailure> = []
    for (const s of scorers) {
      // A failure becomes its message (a string); a score stays a ScoreOutput.
      const out = yield* s.score(input).pipe(
        Effect.catchTag("ScorerError", (e) => Effect.succeed(e.message)),
        Effect.catchDefect((d) => Effect.succeed(d instanceof Error ? d.message : String(d)))
      )
      if (typeof out === "string") {
        failures.push({ scorer: s.name, message: out })
        continue
      }
      for (const [k, v] of Object.entries(out.metrics)) metrics[`${s.name}.${k}`] = v
      if (out.detail !== undefined) details[s.name] = out.detail
    }
    return { metrics, details, failures }
  })
