/**
 * What an evaluation item is: a conversation, a tool menu and what the model should do.
 * Datasets (BFCL, ToolRL) load into this shape; prompt builders render it; scorers judge against it.
 */
import type { ChatMessage } from "@crosscode/core"
import type { PyDict } from "../json/pyjson.js"

/**
 * A function doc. BFCL docs keep their Gorilla-typed `parameters`
 * (`{type: "dict", properties, required}`); ToolRL tools use `{type: "dict", properties}` where
 * `properties` is the JSON shown after `Parameters:` in the ToolRL system prompt.
 * Values are Python-typed (see `PyFloat`) so prompts re-serialise byte-exactly.
 */
export interface ToolSpec {
  readonly name: string
  readonly description: string
  readonly parameters: PyDict
}

/** One expected call with exact argument values (ToolRL ground truth, hand-written fixtures). */
export interface ExpectedCall {
  readonly name: string
  readonly arguments: PyDict
}

export type Expected =
  /**
   * Exact expected calls, in order (`[]` = the model should not call a tool). `text` is the raw
   * ground-truth completion when the dataset has one (ToolRL's reward reads it for the format rule).
   */
  | { readonly _tag: "Calls"; readonly calls: ReadonlyArray<ExpectedCall>; readonly text?: string }
  /** BFCL possible answers: `[{func_name: {param: [acceptable values…]}}]` (`""` = may be omitted). */
  | { readonly _tag: "Bfcl"; readonly possibleAnswers: ReadonlyArray<PyDict> }
  /** Nothing known (only ground-truth-free metrics such as the paper rubric apply). */
  | { readonly _tag: "Unknown" }

export interface EvalItem {
  /** Unique within a task; the key for resuming and pairing. */
  readonly id: string
  /** Where the item comes from ("bfcl", "toolrl", or your own). */
  readonly source: string
  /** e.g. BFCL's "simple_python", "irrelevance"; ToolRL rows use "toolrl". */
  readonly category: string
  /** The conversation before the answer (no system turn; see `system`). */
  readonly messages: ReadonlyArray<ChatMessage>
  /** A plain system message that comes with the item (BFCL rows may have one); chat styles send it. */
  readonly system?: string
  /**
   * The item's own ToolRL system prompt (ToolRL rows: the `instruction` text, which embeds the tool
   * list), used verbatim by ToolRL prompt styles; built from `tools` when absent.
   */
  readonly toolRlSystem?: string
  /**
   * The item's own ToolRL-format user turn (`**Dialogue Records History**\n<user> … </user>`),
   * used verbatim by ToolRL prompt styles; built from `messages` when absent.
   */
  readonly toolRlInput?: string
  readonly tools: ReadonlyArray<ToolSpec>
  readonly expected: Expected
  /** Free-form extra fields, copied into every record. */
  readonly meta?: Readonly<Record<string, unknown>>
}

/** Whether the item expects no tool call (BFCL irrelevance, or a ToolRL response-only answer). */
export const expectsNoCall = (item: EvalItem): boolean =>
  (item.expected._tag === "Calls" && item.expected.calls.length === 0) ||
  (item.expected._tag === "Bfcl" && item.expected.possibleAnswers.length === 0) ||
  item.category.includes("irrelevance")

/** Names of the expected calls, in order (BFCL: the keys of the possible answers), if known. */
export const expectedNames = (item: EvalItem): ReadonlyArray<string> | undefined => {
  switch (item.expected._tag) {
    case "Calls":
      return item.expected.calls.map((c) => c.name)
    case "Bfcl":
      return item.expected.possibleAnswers.map((a) => Object.keys(a)[0] ?? "")
    case "Unknown":
      return item.category.includes("irrelevance") ? [] : undefined
  }
}
