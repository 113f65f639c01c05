/**
 * Exact match, Tool-N1 style: the multiset of `(name, json.dumps(arguments, sort_keys=True))` of the
 * predicted calls equals that of the expected calls (order of calls and of argument keys ignored;
 * `5` ≠ `5.0` and `"5"` ≠ `5`, as after Python's `json.dumps`; both empty = match).
 *
 * `exact_match` uses every leniently parsed call; `exact_match_strict` only the calls a strict
 * reader of `format` accepts (see `strictCalls`).
 *
 * Checks: names and argument values exactly. Does NOT check: `<think>` (Tool-N1's reward also
 * requires it; see `formatScorer`'s `has_think`), acceptable alternatives (use BFCL for that),
 * string normalisation. Items without exact expected calls (BFCL possible answers) get `null`.
 */
import type { EvalItem } from "../data/EvalItem.js"
import type { PyDict } from "../json/pyjson.js"
import { pyJsonDumps } from "../json/pyjson.js"
import { type CallFormat, strictCalls } from "../parse/parseToolCalls.js"
import { makeScorer, type Scorer } from "./Scorer.js"

const canonical = (calls: ReadonlyArray<{ readonly name: string; readonly arguments: PyDict }>): Array<string> =>
  calls.map((c) => `${pyJsonDumps(c.name)}\u0000${pyJsonDumps(c.arguments, { sortKeys: true })}`).sort()

/** Whether two call lists are equal as multisets of (name, canonical arguments). */
export const callsExactlyMatch = (
  predicted: ReadonlyArray<{ readonly name: string; readonly arguments: PyDict }>,
  expected: ReadonlyArray<{ readonly name: string; readonly arguments: PyDict }>
): boolean => {
  const a = canonical(predicted)
  const b = canonical(expected)
  return a.length === b.length && a.every((x, i) => x === b[i])
}

const expectedCalls = (item: EvalItem) => (item.expected._tag === "Calls" ? item.expected.calls : undefined)

export interface ExactMatchOptions {
  /** Format whose strict reader defines `exact_match_strict` (default "qwen"). */
  readonly format?: CallFormat
}

/** Scorer `exact`: metrics `exact_match`, `exact_match_strict` (binary). */
export const exactMatchScorer = (options: ExactMatchOptions = {}): Scorer => {
  const format = options.format ?? "qwen"
  return makeScorer({
    name: "exact",
    description:
      "Tool-N1-style exact match: multiset of (name, sorted-key JSON arguments) equals the expected calls. " +
      `Lenient (all parsed calls) and strict (${format} reader) variants. No alternatives, no normalisation.`,
    metrics: [
      { name: "exact_match", kind: "binary", description: "leniently parsed calls equal the expected calls" },
      {
        name: "exact_match_strict",
        kind: "binary",
        description: `strictly (${format}) parsed calls equal the expected calls`
      }
    ],
    score: ({ item, parse }) => {
      const expected = expectedCalls(item)
      if (expected === undefined) return { metrics: { exact_match: null, exact_match_strict: null } }
      return {
        metrics: {
          exact_match: callsExactlyMatch(parse.calls, expected),
          exact_match_strict: callsExactlyMatch(strictCalls(parse, format), expected)
        }
      }
    }
  })
}
