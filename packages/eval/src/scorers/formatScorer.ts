/**
 * Scorer `format`: parse-level and selection metrics that need no argument ground truth — the
 * strict metrics to report alongside the paper's lenient rubric.
 *
 * Metrics:
 * - `call_emitted`: at least one call was read (leniently);
 * - `strict_format_<fmt>` for each requested format: `isStrictFormat(parse, fmt)`;
 * - `leniency_used`: some call needed a leniency that `primary` disallows (null without calls);
 * - `n_calls`: number of calls read leniently;
 * - `in_menu`: every called name is one of the item's tools, exactly (null without calls);
 * - `hallucinated_tool`: some called name is not in the menu (null without calls);
 * - `name_jaccard`: multiset Jaccard of called names vs expected names (null when unknown;
 *   1 when both are empty);
 * - `names_match`: called names equal expected names as multisets (null when unknown);
 * - `no_call_correct`: for items that expect no call, true iff no call was read — a malformed call
 *   counts as a call here, unlike BFCL's official rule (null for other items);
 * - `has_think`: `<think>` and `</think>` present.
 *
 * Does NOT check argument values (see `bfcl`, `exact`, `toolrl`).
 */
import { expectedNames, expectsNoCall } from "../data/EvalItem.js"
import { type CallFormat, isStrictFormat, leniencies } from "../parse/parseToolCalls.js"
import { type MetricInfo, type MetricValue, makeScorer, type Scorer } from "./Scorer.js"

export interface FormatScorerOptions {
  /** Formats to report `strict_format_<fmt>` for (default qwen, toolrl, tooln1, plus `primary` if another). */
  readonly formats?: ReadonlyArray<CallFormat>
  /** Format against which `leniency_used` is judged (default "qwen"). */
  readonly primary?: CallFormat
}

const multisetJaccard = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): number => {
  if (a.length === 0 && b.length === 0) return 1
  const count = (xs: ReadonlyArray<string>) => {
    const m = new Map<string, number>()
    for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1)
    return m
  }
  const ca = count(a)
  const cb = count(b)
  let inter = 0
  for (const [k, n] of ca) inter += Math.min(n, cb.get(k) ?? 0)
  return inter / (a.length + b.length - inter)
}

export const formatScorer = (options: FormatScorerOptions = {}): Scorer => {
  const primary = options.primary ?? "qwen"
  const defaults: ReadonlyArray<CallFormat> = ["qwen", "toolrl", "tooln1"]
  const formats = options.formats ?? (defaults.includes(primary) ? defaults : [...defaults, primary])
  const metrics: Array<MetricInfo> = [
    { name: "call_emitted", kind: "binary", description: "at least one call read (lenient)" },
    ...formats.map(
      (f): MetricInfo => ({
        name: `strict_format_${f}`,
        kind: "binary",
        description: `output is well-formed ${f} with ≥ 1 call`
      })
    ),
    { name: "leniency_used", kind: "binary", description: `some call needed a leniency (vs ${primary})` },
    { name: "n_calls", kind: "score", description: "number of calls read (lenient)" },
    { name: "in_menu", kind: "binary", description: "every called name is an offered tool" },
    { name: "hallucinated_tool", kind: "binary", description: "some called name is not an offered tool" },
    { name: "name_jaccard", kind: "score", description: "multiset Jaccard of called vs expected names" },
    { name: "names_match", kind: "binary", description: "called names = expected names (multiset)" },
    { name: "no_call_correct", kind: "binary", description: "no call read, for items expecting none" },
    { name: "has_think", kind: "binary", description: "<think> and </think> present" }
  ]
  return makeScorer({
    name: "format",
    description:
      "Parse-level and tool-selection metrics (strict formats, leniencies, menu membership, name agreement, abstention). " +
      "No argument checks.",
    metrics,
    score: ({ item, parse }) => {
      const names = parse.calls.map((c) => c.name)
      const menu = new Set(item.tools.map((t) => t.name))
      const expected = expectedNames(item)
      const hasCalls = names.length > 0
      const m: Record<string, MetricValue> = { call_emitted: hasCalls }
      for (const f of formats) m[`strict_format_${f}`] = isStrictFormat(parse, f)
      m.leniency_used = hasCalls ? parse.calls.some((c) => leniencies(c, primary).length > 0) : null
      m.n_calls = names.length
      m.in_menu = hasCalls ? names.every((n) => menu.has(n)) : null
      m.hallucinated_tool = hasCalls ? names.some((n) => !menu.has(n)) : null
      m.name_jaccard = expected === undefined ? null : multisetJaccard(names, expected)
      m.names_match = expected === undefined ? null : multisetJaccard(names, expected) === 1
      m.no_call_correct = expectsNoCall(item) ? !hasCalls : null
      m.has_think = parse.text.includes("<think>") && parse.text.includes("</think>")
      return {
        metrics: m,
        detail: {
          called: names,
          leniencies: parse.calls.map((c) => leniencies(c, primary)),
          issues: parse.issues.map((i) => `${i.kind}: ${i.message}`)
        }
      }
    }
  })
}
