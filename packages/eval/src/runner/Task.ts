/**
 * A task: items + the prompt style they are rendered in + the scorers that judge the responses.
 * Tasks are plain values; build them with {@link makeTask} or the presets below, and extend them by
 * adding your own scorers (see docs/extending-task-scorer.md).
 */
import type { EvalItem } from "../data/EvalItem.js"
import { EvalSettingsError } from "../errors.js"
import { type PromptStyle, PromptStyles, promptCallFormat } from "../prompt/prompts.js"
import { bfclAstScorer } from "../scorers/bfclScorer.js"
import { exactMatchScorer } from "../scorers/exactMatch.js"
import { formatScorer } from "../scorers/formatScorer.js"
import { paperRubricScorer } from "../scorers/paperRubric.js"
import type { Scorer } from "../scorers/Scorer.js"
import { toolRlRewardScorer } from "../scorers/toolRlReward.js"

export interface Task {
  readonly name: string
  readonly items: ReadonlyArray<EvalItem>
  readonly prompt: PromptStyle
  readonly scorers: ReadonlyArray<Scorer>
}

/** Checks ids are unique and scorer names distinct; returns the task or a typed error. */
export const validateTask = (task: Task): Task | EvalSettingsError => {
  const ids = new Set<string>()
  for (const item of task.items) {
    if (ids.has(item.id)) return new EvalSettingsError({ message: `task ${task.name}: duplicate item id ${item.id}` })
    ids.add(item.id)
  }
  const names = new Set<string>()
  for (const s of task.scorers) {
    if (names.has(s.name)) return new EvalSettingsError({ message: `task ${task.name}: two scorers named ${s.name}` })
    names.add(s.name)
  }
  return task
}

export const makeTask = (task: Task): Task => task

/**
 * The paper-replication task: ToolRL prompts in the paper's style (system prompt only, no chat
 * template), scored by the paper's rubric plus the strict metrics (format, exact match, ToolRL
 * reward), all read in ToolRL's format.
 */
export const paperTask = (items: ReadonlyArray<EvalItem>, name = "toolrl-paper"): Task => ({
  name,
  items,
  prompt: PromptStyles.paper,
  scorers: [
    paperRubricScorer(),
    formatScorer({ primary: "toolrl" }),
    exactMatchScorer({ format: "toolrl" }),
    toolRlRewardScorer()
  ]
})

/**
 * The BFCL task in a given prompt style: BFCL AST verdicts (BFCL's own decoder for the style's call
 * format, strict, lenient), format metrics and the paper rubric (with the item's tools, since Qwen
 * and BFCL prompts have no `N. Name:` list). The format is the one the style asks for
 * ({@link promptCallFormat}):
 *
 * - `PromptStyles.qwenTools()` (default) → `"qwen"`: `<tool_call>` blocks, `ast_official` = BFCL's
 *   Qwen FC decoder;
 * - `PromptStyles.bfclPrompting()` → `"python"`: Python-call syntax, `ast_official` = BFCL's
 *   prompting decoder (`bfclAstScorer({ format: "python" })`);
 * - ToolRL styles → `"toolrl"` (the strict reader is ToolRL's).
 *
 * The default name is `bfcl-<format>`.
 */
export const bfclTask = (
  items: ReadonlyArray<EvalItem>,
  prompt: PromptStyle = PromptStyles.qwenTools(),
  name?: string
): Task => {
  const format = promptCallFormat(prompt)
  return {
    name: name ?? `bfcl-${format}`,
    items,
    prompt,
    scorers: [
      bfclAstScorer({ format }),
      formatScorer({ primary: format }),
      paperRubricScorer(format === "toolrl" ? {} : { toolNames: "item" })
    ]
  }
}
