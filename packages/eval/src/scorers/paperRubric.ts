/**
 * The rubric of arXiv 2606.26474 ("Localizing RL-Induced Tool Use to a Single Crosscoder
 * Feature"), an exact replica of `score_response(response, prompt)` in the authors' `sweep_eval.py`
 * (method.md §4.2):
 *
 * ```
 * format_accuracy  = "<tool_call>" in response.lower() and re.search(r'"name"\s*:\s*"[^"]+"', response)
 * tools_in_prompt  = re.findall(r'(?:^|\n)\d+\.\s*Name:\s*(.+?)(?:\n|$)', prompt) → strip, lower
 * called_name      = first re.search(r'"name"\s*:\s*"([^"]+)"', response) → lower ("" if none)
 * tool_correctness = called_name and tools_in_prompt and any(c == t or c in t or t in c)
 * overall_score    = +2 format&tool, 0 format only, +1 tool only, -1 neither
 * ```
 *
 * Python regex semantics are reproduced: `\s` = Python's Unicode whitespace, `\d` = any Unicode
 * decimal digit, `.` = anything but `\n`.
 *
 * Checks: that SOME `<tool_call>` tag and SOME `"name": "…"` string occur, and that the first such
 * name fuzzy-matches (equality or substring either way, case-insensitive) ANY tool listed in the
 * prompt as `N. Name: …`.
 * Does NOT check: the ground truth (a call when none is warranted counts as correct), arguments,
 * JSON validity, that the name is inside the tags, or which of the listed tools was meant. Prompts
 * without a numbered `N. Name:` list (e.g. Qwen chat-template prompts) always score
 * tool_correctness = false unless `toolNames: "item"` is set (not the paper's rule).
 */
import { PY_WHITESPACE_CLASS, pyStrip } from "../json/pyjson.js"
import { makeScorer, type Scorer } from "./Scorer.js"

const S = `[${PY_WHITESPACE_CLASS}]`
const NAME_FIELD = new RegExp(`"name"${S}*:${S}*"[^"]+"`, "u")
const NAME_CAPTURE = new RegExp(`"name"${S}*:${S}*"([^"]+)"`, "u")
const TOOL_LIST = new RegExp(`(?:^|\\n)\\p{Nd}+\\.${S}*Name:${S}*([^\\n]+?)(?:\\n|$)`, "gu")

export interface PaperRubricScore {
  readonly formatAccuracy: boolean
  readonly toolCorrectness: boolean
  readonly overallScore: -1 | 0 | 1 | 2
  /** The first `"name": "…"` value in the response, lower-cased ("" if none). */
  readonly calledName: string
  /** Tool names the rubric found in the prompt (stripped, lower-cased). */
  readonly toolsInPrompt: ReadonlyArray<string>
}

/** Tool names listed in a prompt as `N. Name: …` lines, as the paper's rubric finds them. */
export const paperToolsInPrompt = (prompt: string): Array<string> =>
  [...prompt.matchAll(TOOL_LIST)].map((m) => pyStrip(m[1] ?? "").toLowerCase())

/**
 * The paper's `score_response`. `toolNames` overrides the names found in the prompt (an extension;
 * the paper always reads the prompt).
 */
export const paperRubric = (response: string, prompt: string, toolNames?: ReadonlyArray<string>): PaperRubricScore => {
  const hasToolCall = response.toLowerCase().includes("<tool_call>")
  const hasJsonName = NAME_FIELD.test(response)
  const formatAccuracy = hasToolCall && hasJsonName
  const toolsInPrompt = toolNames?.map((t) => pyStrip(t).toLowerCase()) ?? paperToolsInPrompt(prompt)
  const called = NAME_CAPTURE.exec(response)
  const calledName = called !== null ? (called[1] ?? "").toLowerCase() : ""
  const toolCorrectness =
    toolsInPrompt.length > 0 && calledName !== ""
      ? toolsInPrompt.some((t) => calledName === t || t.includes(calledName) || calledName.includes(t))
      : false
  const overallScore = formatAccuracy && toolCorrectness ? 2 : formatAccuracy ? 0 : toolCorrectness ? 1 : -1
  return { formatAccuracy, toolCorrectness, overallScore, calledName, toolsInPrompt }
}

export interface PaperRubricOptions {
  /**
   * Where the tool list comes from: "prompt" (the paper: `N. Name:` lines of the prompt text) or
   * "item" (the item's tool names; use for prompts without such a list). Default "prompt".
   */
  readonly toolNames?: "prompt" | "item"
}

/** Scorer `paper`: metrics `format_accuracy`, `tool_correctness` (binary), `overall_score` (−1…+2). */
export const paperRubricScorer = (options: PaperRubricOptions = {}): Scorer =>
  makeScorer({
    name: "paper",
    description:
      "Exact replica of the 2606.26474 rubric: format = '<tool_call>' and a '\"name\": \"…\"' string anywhere; " +
      "tool = the first '\"name\"' fuzzy-matches (substring either way) any 'N. Name:' tool of the prompt. " +
      "No ground truth, no arguments, no JSON parsing.",
    metrics: [
      { name: "format_accuracy", kind: "binary", description: '<tool_call> and a JSON "name" field present' },
      { name: "tool_correctness", kind: "binary", description: 'first "name" fuzzy-matches a listed tool' },
      { name: "overall_score", kind: "score", description: "+2 both, 0 format only, +1 tool only, −1 neither" }
    ],
    score: ({ item, prompt, response }) => {
      const r = paperRubric(response, prompt, options.toolNames === "item" ? item.tools.map((t) => t.name) : undefined)
      return {
        metrics: {
          format_accuracy: r.formatAccuracy,
          tool_correctness: r.toolCorrectness,
          overall_score: r.overallScore
        },
        detail: { calledName: r.calledName, toolsInPrompt: r.toolsInPrompt }
      }
    }
  })
