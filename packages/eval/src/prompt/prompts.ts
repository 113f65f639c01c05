/**
 * Prompt builders: the two prompt styles the RL-vs-base comparison needs, and a custom escape hatch.
 *
 * - `ToolRlRaw` — the paper's harness: the ToolRL system prompt as plain text, NO chat template
 *   (the item's own `toolRlSystem`, else rebuilt from its tools with {@link toolRlSystemPrompt});
 *   `includeUserTurn` appends the ToolRL user turn after `separator` (default "\n", as
 *   `extract_prompt` joins system and user contents). The paper uses the system prompt only.
 * - `ToolRlChat` — ToolRL's training layout: chat template with system = ToolRL system prompt,
 *   user = ToolRL user turn, no `tools` argument, generation prompt.
 * - `QwenTools` — Qwen2.5's native tool prompt: chat template with `tools`, messages = the item's
 *   system message (if any, or `systemPrompt`) + its conversation, generation prompt. Tools are
 *   passed `bare` (`{name, description, parameters}`, as BFCL's Qwen handler does) or in the
 *   `openai` shape (`{type: "function", function: …}`), with Gorilla types kept (as BFCL does) or
 *   converted to JSON Schema (`dict`→`object`, `float`→`number`, `tuple`→`array`, `any`→`string`).
 * - `BfclPrompting` — BFCL's prompting ("non-FC") prompt ({@link bfclSystemPrompt}): BFCL's default
 *   system prompt asking for Python-call syntax `[f(a=1), …]` with the functions listed as JSON,
 *   then the item's conversation (see bfclPrompting.ts for the BFCL source). With `chatTemplate`
 *   (default true) rendered by the chat template (system message + user turns, generation prompt,
 *   as BFCL's Qwen prompting handler formats it); with `chatTemplate: false` as plain text
 *   ({@link bfclRawPrompt}: system prompt and user turns joined by blank lines), for tokenizers
 *   without a template. Responses are read with BFCL's prompting decoder (`format: "python"`).
 * - `Custom` — your own `(item) => string`.
 *
 * Chat templates are rendered by a {@link ChatRenderer}: normally the tokenizer's
 * `applyChatTemplate`; {@link qwen25ChatRenderer} is a pure re-implementation of Qwen2.5's template
 * (checked against transformers' renderings) for tokenizers without one.
 */
import type { ChatMessage, ChatTemplateError, ChatTemplateOptions, TokenizerShape } from "@crosscode/core"
import { Effect } from "effect"
import type { EvalItem, ToolSpec } from "../data/EvalItem.js"
import { toolRlSystemPrompt, toolRlUserTurn } from "../data/toolrl.js"
import { PromptBuildError } from "../errors.js"
import { isPyDict, type PyDict, type PyValue, pyJsonDumps } from "../json/pyjson.js"
import type { CallFormat } from "../parse/parseToolCalls.js"
import { type BfclPromptVariant, bfclPromptingMessages, bfclRawPrompt } from "./bfclPrompting.js"

export type PromptStyle =
  | { readonly _tag: "ToolRlRaw"; readonly includeUserTurn?: boolean; readonly separator?: string }
  | { readonly _tag: "ToolRlChat" }
  | {
      readonly _tag: "QwenTools"
      readonly toolShape?: "bare" | "openai"
      readonly schemaTypes?: "gorilla" | "json-schema"
      /** System message when the item has none (default: none, i.e. the template's default). */
      readonly systemPrompt?: string
    }
  | {
      readonly _tag: "BfclPrompting"
      /** BFCL's current default prompt (`v4`, default) or its former `DEFAULT_SYSTEM_PROMPT` (`legacy`). */
      readonly variant?: BfclPromptVariant
      /** Render with the chat template (default true); false: plain text, see {@link bfclRawPrompt}. */
      readonly chatTemplate?: boolean
    }
  | { readonly _tag: "Custom"; readonly name: string; readonly render: (item: EvalItem) => string }

export const PromptStyles = {
  /** The paper's harness: ToolRL system prompt only, no chat template. */
  paper: { _tag: "ToolRlRaw" } as PromptStyle,
  toolRlRaw: (options: { includeUserTurn?: boolean; separator?: string } = {}): PromptStyle => ({
    _tag: "ToolRlRaw",
    ...options
  }),
  toolRlChat: { _tag: "ToolRlChat" } as PromptStyle,
  /** Qwen2.5 native tool prompt as BFCL builds it (bare Gorilla-typed docs). */
  qwenTools: (
    options: { toolShape?: "bare" | "openai"; schemaTypes?: "gorilla" | "json-schema"; systemPrompt?: string } = {}
  ): PromptStyle => ({ _tag: "QwenTools", ...options }),
  /** BFCL's prompting (non-FC) prompt: Python-call syntax, functions as JSON in the system prompt. */
  bfclPrompting: (options: { variant?: BfclPromptVariant; chatTemplate?: boolean } = {}): PromptStyle => ({
    _tag: "BfclPrompting",
    ...options
  }),
  custom: (name: string, render: (item: EvalItem) => string): PromptStyle => ({ _tag: "Custom", name, render })
} as const

/**
 * The call format a style asks the model for (what its scorers should read): ToolRL styles →
 * `"toolrl"`, BFCL prompting → `"python"`, Qwen tools (and custom styles) → `"qwen"`.
 */
export const promptCallFormat = (style: PromptStyle): CallFormat => {
  switch (style._tag) {
    case "ToolRlRaw":
    case "ToolRlChat":
      return "toolrl"
    case "BfclPrompting":
      return "python"
    case "QwenTools":
    case "Custom":
      return "qwen"
  }
}

/** A JSON description of a style, for records (functions are replaced by their name). */
export const describePromptStyle = (style: PromptStyle): Record<string, unknown> =>
  style._tag === "Custom" ? { _tag: "Custom", name: style.name } : { ...style }

/** Renders a conversation with a chat template (`TokenizerShape.applyChatTemplate`'s signature). */
export type ChatRenderer = (
  messages: ReadonlyArray<ChatMessage>,
  options?: ChatTemplateOptions
) => Effect.Effect<string, ChatTemplateError>

export const tokenizerRenderer =
  (tokenizer: TokenizerShape): ChatRenderer =>
  (messages, options) =>
    tokenizer.applyChatTemplate(messages, options)

const GORILLA_TO_JSON_SCHEMA: Readonly<Record<string, string>> = {
  dict: "object",
  float: "number",
  tuple: "array",
  any: "string"
}

/** Converts Gorilla type names (`dict`, `float`, `tuple`, `any`) to JSON Schema ones, recursively. */
export const gorillaToJsonSchema = (v: PyValue): PyValue => {
  if (Array.isArray(v)) return v.map((x) => gorillaToJsonSchema(x as PyValue))
  if (!isPyDict(v)) return v
  const out: Record<string, PyValue> = {}
  for (const k of Object.keys(v)) {
    const x = v[k] as PyValue
    const value = k === "type" && typeof x === "string" ? (GORILLA_TO_JSON_SCHEMA[x] ?? x) : gorillaToJsonSchema(x)
    Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true })
  }
  return out
}

/** A tool as passed to a chat template's `tools`. */
export const toolForTemplate = (
  tool: ToolSpec,
  shape: "bare" | "openai" = "bare",
  types: "gorilla" | "json-schema" = "gorilla"
): PyDict => {
  const parameters = types === "json-schema" ? gorillaToJsonSchema(tool.parameters) : tool.parameters
  const fn: PyDict = { name: tool.name, description: tool.description, parameters }
  return shape === "openai" ? { type: "function", function: fn } : fn
}

/** The ToolRL user turn of an item (its own, else built from its user messages). */
export const itemToolRlInput = (item: EvalItem): string =>
  item.toolRlInput ??
  item.messages
    .filter((m) => m.role === "user")
    .map((m) => toolRlUserTurn(String(m.content ?? "")))
    .join("\n\n")

/** The ToolRL system prompt of an item (its own, else rebuilt from its tools). */
export const itemToolRlSystem = (item: EvalItem): string => item.toolRlSystem ?? toolRlSystemPrompt(item.tools)

/** Builds the prompt text for an item in a style. */
export const buildPrompt = (
  item: EvalItem,
  style: PromptStyle,
  render: ChatRenderer
): Effect.Effect<string, PromptBuildError> => {
  const wrap = (e: ChatTemplateError) => new PromptBuildError({ itemId: item.id, message: e.message })
  switch (style._tag) {
    case "ToolRlRaw": {
      const system = itemToolRlSystem(item)
      return Effect.succeed(
        style.includeUserTurn === true ? `${system}${style.separator ?? "\n"}${itemToolRlInput(item)}` : system
      )
    }
    case "ToolRlChat":
      return render(
        [
          { role: "system", content: itemToolRlSystem(item) },
          { role: "user", content: itemToolRlInput(item) }
        ],
        { addGenerationPrompt: true }
      ).pipe(Effect.mapError(wrap))
    case "QwenTools": {
      const system = item.system ?? style.systemPrompt
      const messages: Array<ChatMessage> = [
        ...(system !== undefined ? [{ role: "system", content: system }] : []),
        ...item.messages
      ]
      const tools = item.tools.map((t) => toolForTemplate(t, style.toolShape, style.schemaTypes))
      return render(messages, { tools, addGenerationPrompt: true }).pipe(Effect.mapError(wrap))
    }
    case "BfclPrompting": {
      const messages = bfclPromptingMessages(item, style.variant)
      return style.chatTemplate === false
        ? Effect.succeed(bfclRawPrompt(messages))
        : render(messages, { addGenerationPrompt: true }).pipe(Effect.mapError(wrap))
    }
    case "Custom":
      return Effect.try({
        try: () => style.render(item),
        catch: (e) => new PromptBuildError({ itemId: item.id, message: e instanceof Error ? e.message : String(e) })
      })
  }
}

// ---------------------------------------------------------------------------------------------
// Qwen2.5 chat template, in TypeScript
// ---------------------------------------------------------------------------------------------

const QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
const QWEN_TOOLS_HEAD =
  "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>"
const QWEN_TOOLS_TAIL =
  '\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'

/** transformers' `tojson`: Python `json.dumps(x, ensure_ascii=False)`. */
const tojson = (v: unknown): string => pyJsonDumps(v as PyValue, { ensureAscii: false })

const text = (v: unknown): string => (v === undefined || v === null ? "" : String(v))

/**
 * Qwen2.5-Instruct's chat template (`qwen2.5-chat-template.jinja`), rendered in TypeScript: the
 * tools system block (with the default system sentence when the conversation has no system turn),
 * user/system/assistant turns, assistant `tool_calls` as `<tool_call>` blocks, consecutive `tool`
 * messages merged into one user turn of `<tool_response>` blocks, and the generation prompt.
 * Values are serialised like transformers' `tojson` (pass `PyFloat`s to keep `1.0`).
 */
export const renderQwen25 = (messages: ReadonlyArray<ChatMessage>, options: ChatTemplateOptions = {}): string => {
  let out = ""
  const tools = options.tools ?? []
  const first = messages[0]
  if (tools.length > 0) {
    out += "<|im_start|>system\n"
    out += first?.role === "system" ? text(first.content) : QWEN_DEFAULT_SYSTEM
    out += QWEN_TOOLS_HEAD
    for (const t of tools) out += `\n${tojson(t)}`
    out += QWEN_TOOLS_TAIL
  } else if (first?.role === "system") {
    out += `<|im_start|>system\n${text(first.content)}<|im_end|>\n`
  } else {
    out += `<|im_start|>system\n${QWEN_DEFAULT_SYSTEM}<|im_end|>\n`
  }
  messages.forEach((m, i) => {
    const toolCalls = (m.tool_calls ?? []) as ReadonlyArray<Record<string, unknown>>
    if (m.role === "user" || (m.role === "system" && i !== 0) || (m.role === "assistant" && toolCalls.length === 0)) {
      out += `<|im_start|>${m.role}\n${text(m.content)}<|im_end|>\n`
    } else if (m.role === "assistant") {
      out += `<|im_start|>${m.role}`
      if (text(m.content) !== "") out += `\n${text(m.content)}`
      for (const tc of toolCalls) {
        const call = (tc.function !== undefined ? tc.function : tc) as Record<string, unknown>
        out += `\n<tool_call>\n{"name": "${text(call.name)}", "arguments": ${tojson(call.arguments)}}\n</tool_call>`
      }
      out += "<|im_end|>\n"
    } else if (m.role === "tool") {
      if (i === 0 || messages[i - 1]?.role !== "tool") out += "<|im_start|>user"
      out += `\n<tool_response>\n${text(m.content)}\n</tool_response>`
      if (i === messages.length - 1 || messages[i + 1]?.role !== "tool") out += "<|im_end|>\n"
    }
  })
  if (options.addGenerationPrompt === true) out += "<|im_start|>assistant\n"
  return out
}

/** {@link renderQwen25} as a {@link ChatRenderer}. */
export const qwen25ChatRenderer: ChatRenderer = (messages, options) =>
  Effect.sync(() => renderQwen25(messages, options))
