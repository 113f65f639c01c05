/**
 * BFCL's prompting ("non-FC") prompt: the system prompt BFCL gives every model that is evaluated in
 * prompting mode, asking for Python-call syntax (`[f(a=1), g(b='x')]`) and listing the functions.
 *
 * Ported from the gorilla repository (ShishirPatil/gorilla, Apache-2.0),
 * `berkeley-function-call-leaderboard/`:
 *
 * - `bfcl_eval/constants/default_prompts.py`: `PROMPT_STYLE_TEMPLATES["classic"]`,
 *   `OUTPUT_FORMAT_MAPPING["python"]`, `PARAM_TYPE_MAPPING["python"]`,
 *   `_PLAINTEXT_SYSTEM_PROMPT_TEMPLATE` and `DEFAULT_SYSTEM_PROMPT_FORMAT`
 *   (`ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=plaintext&style=classic`);
 *   older releases had the same prompt as one constant, `DEFAULT_SYSTEM_PROMPT` (kept there as
 *   `_DEFAULT_SYSTEM_PROMPT`, "NOT USED, just for reference"), ported here as the `legacy` variant;
 * - `bfcl_eval/model_handler/utils.py`: `formulate_system_prompt` (fills the template; the function
 *   docs as `json.dumps(functions, indent=4)`) and `system_prompt_pre_processing_chat_model` (the
 *   system prompt becomes the first message, or is put in front of the item's own system message
 *   with a blank line between);
 * - `convert_system_prompt_into_user_prompt` + `combine_consecutive_user_prompts` (same file): what
 *   BFCL does for models without a system role, used here for tokenizers without a chat template.
 *
 * The `v4` text is what BFCL v4 sends, byte for byte, including its quirks: no space between the
 * first two sentences (`functions.You are given`, the template is `{persona}{task}`), two spaces
 * after the output format (the empty `param_types` slot) and `json` in lower case. The function docs
 * are the item's `tools` as given: BFCL v4 appends its language hint to every description when it
 * loads the data (`loadBfcl(dir, categories, { languageHint: true })` does the same).
 */
import type { ChatMessage } from "@crosscode/core"
import type { EvalItem, ToolSpec } from "../data/EvalItem.js"
import { type PyDict, pyJsonDumps, pyRepr } from "../json/pyjson.js"

/** Which BFCL release's default prompt: `v4` (current) or `legacy` (the former `DEFAULT_SYSTEM_PROMPT`). */
export type BfclPromptVariant = "v4" | "legacy"

/** `PROMPT_STYLE_TEMPLATES["classic"]` with `OUTPUT_FORMAT_MAPPING["python"]` (default_prompts.py). */
export const BFCL_PROMPT_CLASSIC = {
  persona: "You are an expert in composing functions.",
  task: "You are given a question and a set of possible functions. Based on the question, you will need to make one or more function/tool calls to achieve the purpose. If none of the functions can be used, point it out. If the given question lacks the parameters required by the function, also point it out.",
  toolCallNoTag:
    "You should only return the function calls in your response.\n\nIf you decide to invoke any of the function(s), you MUST put it in the format of {output_format}. {param_types} You SHOULD NOT include any other text in the response.",
  multiturnBehavior:
    "At each turn, you should try your best to complete the tasks requested by the user within the current turn. Continue to output functions to call until you have fulfilled the user's request to the best of your ability. Once you have no more functions to call, the system will consider the current turn complete and proceed to the next turn or task.",
  availableTools: "Here is a list of functions in {format} format that you can invoke.\n{functions}\n",
  outputFormatPython: "[func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]",
  paramTypesPython: ""
} as const

/** The former `DEFAULT_SYSTEM_PROMPT` (default_prompts.py before the format-sensitivity rework). */
export const BFCL_LEGACY_SYSTEM_PROMPT =
  "You are an expert in composing functions. You are given a question and a set of possible functions. Based on the question, you will need to make one or more function/tool calls to achieve the purpose.\n" +
  "If none of the functions can be used, point it out. If the given question lacks the parameters required by the function, also point it out.\n" +
  "You should only return the function calls in your response.\n\n" +
  "If you decide to invoke any of the function(s), you MUST put it in the format of [func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]\n" +
  "You SHOULD NOT include any other text in the response.\n\n" +
  "At each turn, you should try your best to complete the tasks requested by the user within the current turn. Continue to output functions to call until you have fulfilled the user's request to the best of your ability. Once you have no more functions to call, the system will consider the current turn complete and proceed to the next turn or task.\n" +
  "\nHere is a list of functions in JSON format that you can invoke.\n{functions}\n\n"

/** A function doc as BFCL holds it (`{name, description, parameters}`, in that order). */
const doc = (t: ToolSpec): PyDict => ({ name: t.name, description: t.description, parameters: t.parameters })

/**
 * BFCL's default system prompt for prompting models over `tools`.
 *
 * - `v4`: `formulate_system_prompt(DEFAULT_SYSTEM_PROMPT_FORMAT, functions)`: the docs as
 *   `json.dumps(functions, indent=4)` (ASCII-escaped, 4-space indent).
 * - `legacy`: `DEFAULT_SYSTEM_PROMPT.format(functions=functions)`: the docs as Python's `str()` of
 *   the list of dicts (single quotes, `True`/`None`), which is what `str.format` printed there.
 */
export const bfclSystemPrompt = (tools: ReadonlyArray<ToolSpec>, variant: BfclPromptVariant = "v4"): string => {
  const docs = tools.map(doc)
  if (variant === "legacy") return BFCL_LEGACY_SYSTEM_PROMPT.replace("{functions}", () => pyRepr(docs))
  const c = BFCL_PROMPT_CLASSIC
  const toolCallFormat = c.toolCallNoTag
    .replace("{output_format}", () => c.outputFormatPython)
    .replace("{param_types}", () => c.paramTypesPython)
  const availableTools = c.availableTools
    .replace("{format}", "json")
    .replace("{functions}", () => pyJsonDumps(docs, { indent: 4 }))
  return `${c.persona}${c.task}\n\n${toolCallFormat}\n\n${c.multiturnBehavior}\n\n${availableTools}`
}

/**
 * The conversation BFCL sends a prompting model for `item` (`system_prompt_pre_processing_chat_model`):
 * the system prompt first, followed by `"\n\n"` and the item's own system message when it has one,
 * then the item's messages.
 */
export const bfclPromptingMessages = (item: EvalItem, variant: BfclPromptVariant = "v4"): Array<ChatMessage> => {
  const system = bfclSystemPrompt(item.tools, variant)
  return [
    { role: "system", content: item.system !== undefined ? `${system}\n\n${item.system}` : system },
    ...item.messages
  ]
}

/**
 * A conversation as one plain text, for tokenizers without a chat template: BFCL's treatment of
 * models without a system role (`convert_system_prompt_into_user_prompt`, then
 * `combine_consecutive_user_prompts`): every message's content in order, consecutive user (and
 * former system) messages joined by a blank line (`"\n\n"`); nothing is added after the last one.
 * Other roles' contents are joined the same way (non-live BFCL items have only system and user
 * messages).
 */
export const bfclRawPrompt = (messages: ReadonlyArray<ChatMessage>): string =>
  messages.map((m) => (m.content === undefined || m.content === null ? "" : String(m.content))).join("\n\n")
