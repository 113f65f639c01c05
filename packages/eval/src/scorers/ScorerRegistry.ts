/**
 * Scorers by name, for programs (e.g. a CLI) that pick scorers from configuration. The built-ins
 * are always present; `makeScorerRegistry(extra)` adds your own. A name clash follows core's
 * registry rule (`makeRegistry`): your scorer replaces the built-in of that name.
 */
import { makeRegistry } from "@crosscode/core"
import { Effect } from "effect"
import { EvalSettingsError } from "../errors.js"
import { bfclAstScorer } from "./bfclScorer.js"
import { exactMatchScorer } from "./exactMatch.js"
import { formatScorer } from "./formatScorer.js"
import { paperRubricScorer } from "./paperRubric.js"
import type { Scorer } from "./Scorer.js"
import { toolRlRewardScorer } from "./toolRlReward.js"

/** Built-in scorers under stable names (each entry builds the scorer with the options shown). */
export const builtinScorers: Readonly<Record<string, () => Scorer>> = {
  /** The paper's rubric, tool names from the prompt's `N. Name:` list. */
  paper: () => paperRubricScorer(),
  /** The paper's rubric with the item's tool names (for prompts without a numbered list). */
  "paper-item-tools": () => paperRubricScorer({ toolNames: "item" }),
  /** BFCL AST, strict reader = Qwen native. */
  bfcl: () => bfclAstScorer(),
  /** BFCL AST, strict reader = ToolRL. */
  "bfcl-toolrl": () => bfclAstScorer({ format: "toolrl" }),
  /** BFCL AST for prompting models: BFCL's Python-call decoder (`[f(a=1)]`), strict reader = Python calls. */
  "bfcl-python": () => bfclAstScorer({ format: "python" }),
  toolrl: () => toolRlRewardScorer(),
  exact: () => exactMatchScorer(),
  "exact-toolrl": () => exactMatchScorer({ format: "toolrl" }),
  "exact-python": () => exactMatchScorer({ format: "python" }),
  format: () => formatScorer(),
  "format-toolrl": () => formatScorer({ primary: "toolrl" }),
  /** Format metrics judged against BFCL's Python-call syntax (adds `strict_format_python`). */
  "format-python": () => formatScorer({ primary: "python" })
}

export interface ScorerRegistryShape {
  readonly names: ReadonlyArray<string>
  /** The scorer registered under `name`; an unknown name fails with the list of known ones. */
  get(name: string): Effect.Effect<Scorer, EvalSettingsError>
  /** Several scorers, in order. */
  getAll(names: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<Scorer>, EvalSettingsError>
}

/** A registry of the built-ins plus `extra` (registered under their `name`, replacing a built-in of that name). */
export const makeScorerRegistry = (extra: ReadonlyArray<Scorer> = []): ScorerRegistryShape => {
  const table = makeRegistry<readonly [string, () => Scorer]>(
    [...Object.entries(builtinScorers), ...extra.map((s) => [s.name, () => s] as const)],
    ([name]) => name
  )
  const get = (name: string): Effect.Effect<Scorer, EvalSettingsError> => {
    const entry = table.get(name)
    return entry !== undefined
      ? Effect.sync(entry[1])
      : Effect.fail(new EvalSettingsError({ message: `unknown scorer "${name}" (known: ${table.names.join(", ")})` }))
  }
  return { names: table.names, get, getAll: (ns) => Effect.forEach(ns, get) }
}
