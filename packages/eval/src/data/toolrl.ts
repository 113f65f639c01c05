/**
 * ToolRL data (qiancheng0/ToolRL, "rlla" format): loaders for `rlla_sft.json` (a JSON array of
 * `{instruction, input, output}`) and the processed `test.parquet` (`prompt` messages,
 * `reward_model.ground_truth`, `extra_info.{index, instruction, input}`), plus the ToolRL system
 * prompt: parsing its numbered tool list and rebuilding it byte-exactly from tools.
 *
 * Each row becomes an {@link EvalItem} with `toolRlSystem` = the instruction (the ToolRL system
 * prompt, which is the whole prompt of the paper's harness), `toolRlInput` = the user turn
 * (`**Dialogue Records History**\n<user> … </user>`, possibly multi-turn with `<obs>`), `messages` =
 * one user message (the question of a single-turn input, else the whole input), `tools`
 * parsed from the instruction, and `expected` = the ground-truth calls (from the first
 * `<tool_call>` block after `</think>`; `[]` for response-only answers) with `text` = the ground
 * truth with its `<think>` content emptied (SFT thoughts mention `<tool_call>`, which would derail
 * ToolRL's reward that reads the first `<tool_call>` of the ground truth).
 *
 * Data files are never part of the repository: pass their path (e.g. `../shared/data/toolrl/`).
 */
import * as path from "node:path"
import { platformErrorMessage, readTextFile } from "@crosscode/core"
import { Effect, type FileSystem } from "effect"
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet"
import { DatasetError } from "../errors.js"
import { isPyDict, type PyDict, type PyValue, parseJsonPrefix, pyJsonDumps, pyJsonLoads } from "../json/pyjson.js"
import { parseToolCalls } from "../parse/parseToolCalls.js"
import type { EvalItem, ExpectedCall, ToolSpec } from "./EvalItem.js"

/** Text of the ToolRL system prompt before the numbered tool list. */
export const TOOLRL_PROMPT_HEAD =
  "You are a helpful multi-turn dialogue assistant capable of leveraging tool calls to solve user tasks and provide structured chat responses.\n\n**Available Tools**\nIn your response, you can use the following tools:\n"

/** Text of the ToolRL system prompt after the numbered tool list. */
export const TOOLRL_PROMPT_TAIL =
  '\n\n**Steps for Each Turn**\n1. **Think:** Recall relevant context and analyze the current user goal.\n2. **Decide on Tool Usage:** If a tool is needed, specify the tool and its parameters.\n3. **Respond Appropriately:** If a response is needed, generate one while maintaining consistency across user queries.\n\n**Output Format**\n```plaintext\n<think> Your thoughts and reasoning </think>\n<tool_call>\n{"name": "Tool name", "parameters": {"Parameter name": "Parameter content", "... ...": "... ..."}}\n{"name": "... ...", "parameters": {"... ...": "... ...", "... ...": "... ..."}}\n...\n</tool_call>\n<response> AI\'s final response </response>\n```\n\n**Important Notes**\n1. You must always include the `<think>` field to outline your reasoning. Provide at least one of `<tool_call>` or `<response>`. Decide whether to use `<tool_call>` (possibly multiple times), `<response>`, or both.\n2. You can invoke multiple tool calls simultaneously in the `<tool_call>` fields. Each tool call should be a JSON object with a "name" field and an "parameters" field containing a dictionary of parameters. If no parameters are needed, leave the "parameters" field an empty dictionary.\n3. Refer to the previous dialogue records in the history, including the user\'s queries, previous `<tool_call>`, `<response>`, and any tool feedback noted as `<obs>` (if exists).'

/** The properties map shown after `Parameters:` for a tool (`parameters.properties`, or `{}`). */
const propertiesOf = (tool: ToolSpec): PyValue => {
  const p = tool.parameters.properties
  return p === undefined ? {} : p
}

/**
 * The ToolRL system prompt for a tool list: `N. Name: …\nDescription: …\nParameters: {json}` per
 * tool (JSON = Python `json.dumps` of the properties map, ASCII-escaped), between the fixed head
 * and tail. Rebuilds the rows of `rlla_sft.json` byte-exactly.
 */
export const toolRlSystemPrompt = (tools: ReadonlyArray<ToolSpec>): string =>
  TOOLRL_PROMPT_HEAD +
  tools
    .map(
      (t, i) => `${i + 1}. Name: ${t.name}\nDescription: ${t.description}\nParameters: ${pyJsonDumps(propertiesOf(t))}`
    )
    .join("\n") +
  TOOLRL_PROMPT_TAIL

/** The ToolRL user turn for a plain question. */
export const toolRlUserTurn = (question: string): string => `**Dialogue Records History**\n<user> ${question} </user>`

/**
 * Parses the numbered tool list of a ToolRL system prompt. Returns `undefined` when the text does
 * not contain a well-formed list.
 */
export const parseToolRlTools = (instruction: string): Array<ToolSpec> | undefined => {
  const marker = "In your response, you can use the following tools:\n"
  const start = instruction.indexOf(marker)
  if (start < 0) return undefined
  let i = start + marker.length
  const tools: Array<ToolSpec> = []
  for (let n = 1; ; n++) {
    const head = `${n}. Name: `
    if (!instruction.startsWith(head, i)) break
    i += head.length
    const d = instruction.indexOf("\nDescription: ", i)
    if (d < 0) return undefined
    const name = instruction.slice(i, d)
    i = d + "\nDescription: ".length
    const p = instruction.indexOf("\nParameters: ", i)
    if (p < 0) return undefined
    const description = instruction.slice(i, p)
    i = p + "\nParameters: ".length
    const r = parseJsonPrefix(instruction, i)
    if (!r.ok || !isPyDict(r.value)) return undefined
    tools.push({ name, description, parameters: { type: "dict", properties: r.value } })
    i = r.end
    if (instruction[i] === "\n" && instruction.startsWith(`${n + 1}. Name: `, i + 1)) i += 1
  }
  return tools.length > 0 ? tools : undefined
}

/** The expected calls of a ToolRL ground-truth completion (`[]` when it only responds). */
export const toolRlExpectedCalls = (output: string): Array<ExpectedCall> | undefined => {
  const parsed = parseToolCalls(output)
  if (parsed.blocks.length === 0) return []
  if (parsed.issues.length > 0) return undefined
  const first = parsed.blocks[0]
  return parsed.calls.filter((c) => c.block === first?.index).map((c) => ({ name: c.name, arguments: c.arguments }))
}

/** The ground truth with the `<think>` content emptied (see the module doc). */
export const toolRlGroundTruthText = (output: string): string => {
  const open = output.indexOf("<think>")
  const close = output.indexOf("</think>", open)
  return open >= 0 && close > open ? `${output.slice(0, open)}<think> </think>${output.slice(close + 8)}` : output
}

export interface ToolRlRow {
  readonly instruction: string
  readonly input: string
  readonly output: string
}

/** The question of a single-turn ToolRL input (`**Dialogue Records History**\n<user> Q </user>`), else undefined. */
export const singleUserTurn = (input: string): string | undefined => {
  const m = /^\*\*Dialogue Records History\*\*\n<user> ([\s\S]*) <\/user>$/.exec(input)
  return m !== null && !(m[1] ?? "").includes("</user>") ? m[1] : undefined
}

/** One ToolRL row as an {@link EvalItem}; fails when the tool list or the ground truth do not parse. */
export const toolRlItem = (
  row: ToolRlRow,
  id: string,
  where: string,
  category = "toolrl"
): Effect.Effect<EvalItem, DatasetError> =>
  Effect.gen(function* () {
    const tools = parseToolRlTools(row.instruction)
    if (tools === undefined) {
      return yield* new DatasetError({
        path: where,
        message: `${id}: the instruction has no parseable "N. Name:" tool list`
      })
    }
    const calls = toolRlExpectedCalls(row.output)
    if (calls === undefined) {
      return yield* new DatasetError({
        path: where,
        message: `${id}: the ground-truth <tool_call> block does not parse`
      })
    }
    return {
      id,
      source: "toolrl",
      category,
      messages: [{ role: "user", content: singleUserTurn(row.input) ?? row.input }],
      toolRlSystem: row.instruction,
      toolRlInput: row.input,
      tools,
      expected: { _tag: "Calls", calls, text: toolRlGroundTruthText(row.output) }
    } satisfies EvalItem
  })

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined)

/** Loads `rlla_sft.json` (a JSON array of `{instruction, input, output}`). Ids: `toolrl_sft_<index>`. */
export const loadToolRlJson = Effect.fn("loadToolRlJson")(function* (
  file: string
): Effect.fn.Return<Array<EvalItem>, DatasetError, FileSystem.FileSystem> {
  const text = yield* readTextFile(file).pipe(
    Effect.mapError((e) => new DatasetError({ path: file, message: `cannot read: ${platformErrorMessage(e)}` }))
  )
  const parsed = pyJsonLoads(text)
  if (!parsed.ok || !Array.isArray(parsed.value)) {
    return yield* new DatasetError({ path: file, message: parsed.ok ? "not a JSON array" : parsed.message })
  }
  const items: Array<EvalItem> = []
  const rows = parsed.value as ReadonlyArray<PyValue>
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as PyValue
    const instruction = isPyDict(row) ? str(row.instruction) : undefined
    const input = isPyDict(row) ? str(row.input) : undefined
    const output = isPyDict(row) ? str(row.output) : undefined
    if (instruction === undefined || input === undefined || output === undefined) {
      return yield* new DatasetError({ path: file, message: `row ${i}: expected string instruction, input, output` })
    }
    items.push(yield* toolRlItem({ instruction, input, output }, `toolrl_sft_${i}`, file))
  }
  return items
})

const getPath = (row: unknown, ...keys: Array<string>): unknown => {
  let v: unknown = row
  for (const k of keys) {
    if (v === null || typeof v !== "object") return undefined
    v = (v as Record<string, unknown>)[k]
  }
  return v
}

/**
 * Loads ToolRL's processed parquet split (`rlla_4k/test.parquet`: `prompt`, `reward_model`,
 * `extra_info`). The instruction/input come from `extra_info` (else the system/user messages of
 * `prompt`), the ground truth from `reward_model.ground_truth`. Ids: `toolrl_<split>_<extra_info.index>`.
 */
export const loadToolRlParquet = Effect.fn("loadToolRlParquet")(function* (
  file: string,
  split = path.basename(file, ".parquet")
): Effect.fn.Return<Array<EvalItem>, DatasetError> {
  const rows = yield* Effect.tryPromise({
    try: async () =>
      (await parquetReadObjects({ file: await asyncBufferFromFile(file) })) as Array<Record<string, unknown>>,
    catch: (e) => new DatasetError({ path: file, message: `cannot read parquet: ${(e as Error).message}` })
  })
  const items: Array<EvalItem> = []
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]
    const prompt = getPath(row, "prompt")
    const messages = Array.isArray(prompt) ? (prompt as Array<Record<string, unknown>>) : []
    const instruction =
      str(getPath(row, "extra_info", "instruction")) ?? str(messages.find((m) => m.role === "system")?.content)
    const input = str(getPath(row, "extra_info", "input")) ?? str(messages.find((m) => m.role === "user")?.content)
    const output = str(getPath(row, "reward_model", "ground_truth"))
    if (instruction === undefined || input === undefined || output === undefined) {
      return yield* new DatasetError({
        path: file,
        message: `row ${i}: missing instruction, input or reward_model.ground_truth`
      })
    }
    const index = getPath(row, "extra_info", "index")
    const id = `toolrl_${split}_${typeof index === "number" || typeof index === "bigint" ? String(index) : i}`
    items.push(yield* toolRlItem({ instruction, input, output }, id, file))
  }
  return items
})

/** Expected calls as a ToolRL completion (for fixtures and synthetic ground truths). */
export const toolRlCompletion = (calls: ReadonlyArray<{ name: string; arguments: PyDict }>, think = "ok"): string =>
  `<think> ${think} </think>\n<tool_call>\n${calls.map((c) => pyJsonDumps({ name: c.name, parameters: c.arguments })).join("\n")}\n</tool_call>`
