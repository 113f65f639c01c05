/**
 * ToolRL's reward (qiancheng0/ToolRL `verl/utils/reward_score/rlla.py`, default settings), an exact
 * replica: `R = R_format + R_correct`, `R_format ∈ {0, 1}`, `R_correct ∈ [−3, 3]`.
 *
 * - The completion is cut like `compute_score` does (`split("<|im_start|>assistant")[-1]`,
 *   `split("<|im_end|>")[0]`, `strip()`).
 * - Format (1 or 0): the ground truth decides the required shape; the whole completion must match
 *   `^<think>.*?</think>\n<response>.*?</response>$` (GT response-only),
 *   `^<think>.*?</think>\n<tool_call>\n.*?\n</tool_call>$` (GT call-only),
 *   `…</tool_call>\n<response>.*?</response>$` (both) — with each of those tags exactly once — or
 *   `^<think>.*?</think>$` (neither).
 * - Correctness (only when the GT contains `<tool_call>`, else 0): the text between the first
 *   `<tool_call>` and the next `</tool_call>`, stripped, split on `\n`, each line `json.loads`-ed;
 *   any failure (missing tag, blank or pretty-printed line, invalid JSON, a call without
 *   `name`/`parameters`) → −3. Exact list equality with the GT → +3. Else
 *   `6·S/S_max − 3` with `S = Jaccard(names multiset) + Σ_gt best[Jaccard(param names) + #equal values]`
 *   over unused same-name predictions (greedy), `S_max = 1 + Σ_gt (1 + |params|)`.
 *   Value equality is Python `==` (`5 == 5.0`, `True == 1`, `"5" != 5`).
 * - Variants (the repo's env vars): `coarse` (COARSEREWARD: exact or −3), `refined`
 *   (REFINEDREWARD: Jaccard terms all-or-nothing), `intermediate` (INTERMEDIATEREWARD: per-call
 *   all-or-nothing), `correctMax1` (CORRECTMAX1: ±1 instead of ±3). The schedule and length
 *   variants are not implemented.
 *
 * Does NOT check: arguments against the tool schema, the `<think>` content, the `<response>` text.
 * Needs a ground truth in ToolRL's text format (`Expected.Calls.text`, or one is rendered from the
 * expected calls); items without one get `null` metrics.
 */
import type { EvalItem } from "../data/EvalItem.js"
import {
  hasOwn,
  isPyDict,
  type PyDict,
  PyFloat,
  type PyValue,
  pyEquals,
  pyJsonDumps,
  pyJsonLoads,
  pyStrip
} from "../json/pyjson.js"
import { makeScorer, type Scorer } from "./Scorer.js"

export interface ToolRlRewardOptions {
  readonly coarse?: boolean
  readonly refined?: boolean
  readonly intermediate?: boolean
  readonly correctMax1?: boolean
}

export interface ToolRlReward {
  readonly format: number
  readonly correctness: number
  readonly total: number
  /** Why correctness is what it is: "no_gt_call", "exact", "partial", "parse_failure: …". */
  readonly reason: string
}

class PyException extends Error {}

const hashKey = (v: PyValue): string => {
  if (typeof v === "number" || typeof v === "boolean" || v instanceof PyFloat) {
    const n = typeof v === "boolean" ? (v ? 1 : 0) : v instanceof PyFloat ? v.value : v
    return `n:${n}`
  }
  if (typeof v === "string") return `s:${v}`
  if (v === null) return "none"
  throw new PyException(`TypeError: unhashable type: '${Array.isArray(v) ? "list" : "dict"}'`)
}

/** ToolRL's `match_score`: multiset Jaccard (1.0 when the lists are equal). */
export const matchScore = (a: ReadonlyArray<PyValue>, b: ReadonlyArray<PyValue>, refined = false): number => {
  if (pyEquals(a as Array<PyValue>, b as Array<PyValue>)) return 1
  if (refined) return 0
  if (a.length === 0 || b.length === 0) return 0
  const count = (xs: ReadonlyArray<PyValue>) => {
    const m = new Map<string, number>()
    for (const x of xs) {
      const k = hashKey(x)
      m.set(k, (m.get(k) ?? 0) + 1)
    }
    return m
  }
  const ca = count(a)
  const cb = count(b)
  let inter = 0
  for (const [k, n] of ca) inter += Math.min(n, cb.get(k) ?? 0)
  const maxPossible = a.length + b.length - inter
  return maxPossible > 0 ? inter / maxPossible : 0
}

const getItem = (tool: PyValue, key: string): PyValue => {
  if (isPyDict(tool)) {
    if (!hasOwn(tool, key)) throw new PyException(`KeyError: '${key}'`)
    return tool[key] as PyValue
  }
  throw new PyException(`TypeError: ${Array.isArray(tool) ? "list" : typeof tool} indices must be integers`)
}

const keysOf = (v: PyValue): Array<string> => {
  if (!isPyDict(v)) throw new PyException(`AttributeError: object has no attribute 'keys'`)
  return Object.keys(v)
}

const computeToolCallReward = (
  gt: ReadonlyArray<PyValue>,
  pd: ReadonlyArray<PyValue>,
  max: number,
  min: number,
  o: ToolRlRewardOptions
): { value: number; exact: boolean } => {
  if (pyEquals(gt as Array<PyValue>, pd as Array<PyValue>)) return { value: max, exact: true }
  if (o.coarse === true) return { value: min, exact: false }
  const gtNames = gt.map((t) => getItem(t, "name"))
  const pdNames = pd.map((t) => getItem(t, "name"))
  let score = matchScore(gtNames, pdNames, o.refined)
  let localMax = 1
  const used = new Set<number>()
  for (const g of gt) {
    const gName = getItem(g, "name")
    const gParams = getItem(g, "parameters")
    const gKeys = keysOf(gParams)
    localMax += o.intermediate === true ? 1 : 1 + gKeys.length
    let bestScore = 0
    let bestIndex = -1
    for (let i = 0; i < pd.length; i++) {
      const p = pd[i] as PyValue
      if (used.has(i) || !pyEquals(getItem(p, "name"), gName)) continue
      if (o.intermediate === true) {
        if (pyEquals(g, p)) {
          bestIndex = i
          bestScore = 1
          break
        }
        continue
      }
      const pParams = getItem(p, "parameters")
      const paramScore = matchScore(gKeys, keysOf(pParams), o.refined)
      const pd2 = pParams as PyDict
      let correct = 0
      for (const k of gKeys)
        if (hasOwn(pd2, k) && pyEquals(pd2[k] as PyValue, (gParams as PyDict)[k] as PyValue)) correct++
      const total = paramScore + correct
      if (total > bestScore) {
        bestScore = total
        bestIndex = i
      }
    }
    if (bestIndex >= 0) {
      used.add(bestIndex)
      score += bestScore
    }
  }
  return { value: ((max - min) * score) / localMax + min, exact: false }
}

const between = (s: string, open: string, close: string): string => (s.split(open)[1] ?? "").split(close)[0] ?? ""

const count = (s: string, needle: string): number => s.split(needle).length - 1

const FORMAT_RESPONSE = /^<think>[\s\S]*?<\/think>\n<response>[\s\S]*?<\/response>$/
const FORMAT_CALL = /^<think>[\s\S]*?<\/think>\n<tool_call>\n[\s\S]*?\n<\/tool_call>$/
const FORMAT_BOTH = /^<think>[\s\S]*?<\/think>\n<tool_call>\n[\s\S]*?\n<\/tool_call>\n<response>[\s\S]*?<\/response>$/
const FORMAT_THINK = /^<think>[\s\S]*?<\/think>$/

/** ToolRL's format reward (1 or 0) for a cut completion against the ground-truth text. */
export const toolRlFormatReward = (response: string, groundTruth: string): number => {
  const gtResponse = groundTruth.includes("<response>")
  const gtCall = groundTruth.includes("<tool_call>")
  const once = (...tags: Array<string>) => tags.every((t) => count(response, t) === 1)
  if (gtResponse && !gtCall) return FORMAT_RESPONSE.test(response) && once("<response>", "</response>") ? 1 : 0
  if (!gtResponse && gtCall) return FORMAT_CALL.test(response) && once("<tool_call>", "</tool_call>") ? 1 : 0
  if (gtResponse && gtCall) {
    return FORMAT_BOTH.test(response) && once("<tool_call>", "</tool_call>", "<response>", "</response>") ? 1 : 0
  }
  return FORMAT_THINK.test(response) ? 1 : 0
}

/** Error in the ground truth itself (ToolRL would crash on it). */
export class ToolRlGroundTruthError extends Error {}

const parseLines = (block: string): Array<PyValue> =>
  pyStrip(block)
    .split("\n")
    .map((line) => {
      const r = pyJsonLoads(line)
      if (!r.ok) throw new PyException(`JSONDecodeError: ${r.message}`)
      return r.value
    })

/** ToolRL's `compute_score` for one completion (`response`) and its ground-truth text. */
export const toolRlReward = (
  completion: string,
  groundTruth: string,
  options: ToolRlRewardOptions = {}
): ToolRlReward => {
  const response = pyStrip((completion.split("<|im_start|>assistant").at(-1) ?? "").split("<|im_end|>")[0] ?? "")
  const max = options.correctMax1 === true ? 1 : 3
  const min = -max
  const format = toolRlFormatReward(response, groundTruth)
  if (!groundTruth.includes("<tool_call>")) return { format, correctness: 0, total: format, reason: "no_gt_call" }
  let gt: Array<PyValue>
  try {
    gt = parseLines(between(groundTruth, "<tool_call>", "</tool_call>"))
  } catch (e) {
    throw new ToolRlGroundTruthError(`ground truth tool call does not parse: ${(e as Error).message}`)
  }
  let correctness: number
  let reason: string
  try {
    if (!response.includes("<tool_call>")) throw new PyException("AssertionError: no <tool_call>")
    if (!response.includes("</tool_call>")) throw new PyException("AssertionError: no </tool_call>")
    const pd = parseLines(between(response, "<tool_call>", "</tool_call>"))
    const r = computeToolCallReward(gt, pd, max, min, options)
    correctness = r.value
    reason = r.exact ? "exact" : "partial"
  } catch (e) {
    if (!(e instanceof PyException)) throw e
    correctness = min
    reason = `parse_failure: ${e.message}`
  }
  return { format, correctness, total: format + correctness, reason }
}

/** ToolRL's ground-truth text for expected calls (`<tool_call>` block, one JSON object per line). */
export const toolRlGroundTruthFromCalls = (
  calls: ReadonlyArray<{ readonly name: string; readonly arguments: PyDict }>
): string =>
  calls.length === 0
    ? "<think> </think>\n<response> </response>"
    : `<think> </think>\n<tool_call>\n${calls.map((c) => pyJsonDumps({ name: c.name, parameters: c.arguments })).join("\n")}\n</tool_call>`

const groundTruthOf = (item: EvalItem): string | undefined => {
  if (item.expected._tag !== "Calls") return undefined
  return item.expected.text ?? toolRlGroundTruthFromCalls(item.expected.calls)
}

/** Scorer `toolrl`: metrics `format` (0/1), `correctness` (−3…3), `total` (−3…4), `exact` (binary). */
export const toolRlRewardScorer = (options: ToolRlRewardOptions = {}): Scorer =>
  makeScorer({
    name: "toolrl",
    description:
      "Exact replica of ToolRL's rlla.py reward: format (anchored <think>/<tool_call>/<response> layout chosen by the GT) " +
      "+ correctness (first block, one JSON per line, name/param Jaccard + equal values, ±3). Needs an exact GT.",
    metrics: [
      { name: "format", kind: "score", description: "R_format ∈ {0, 1}" },
      { name: "correctness", kind: "score", description: "R_correct ∈ [−3, 3] (0 when the GT has no call)" },
      { name: "total", kind: "score", description: "R_format + R_correct" },
      { name: "exact", kind: "binary", description: "predicted call list equals the GT list (R_correct = max)" }
    ],
    score: ({ item, response }) => {
      const gt = groundTruthOf(item)
      if (gt === undefined) {
        return {
          metrics: { format: null, correctness: null, total: null, exact: null },
          detail: { reason: "no ground truth" }
        }
      }
      const r = toolRlReward(response, gt, options)
      return {
        metrics: {
          format: r.format,
          correctness: r.correctness,
          total: r.total,
          exact: gt.includes("<tool_call>") ? r.reason === "exact" : null
        },
        detail: { reason: r.reason }
      }
    }
  })
