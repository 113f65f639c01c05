/**
 * From generated text to tool calls: one pure function, {@link parseToolCalls}.
 *
 * It understands the three formats in use for Qwen2.5 tool calling, plus BFCL's prompting format:
 *
 * - **Qwen2.5 native (Hermes)**: one `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>` block
 *   per call;
 * - **ToolRL**: `<think>…</think>`, then ONE `<tool_call>` block with one JSON object per line, keys
 *   `name` + `parameters`, optionally followed by `<response>…</response>`;
 * - **Tool-N1**: one `<tool_call>` block holding a JSON array of `{name, arguments}` objects;
 * - **BFCL Python-call syntax** (prompting, non-FC models): `[f(a=1), g(b='x')]`, decoded by
 *   {@link decodePythonCalls} exactly as BFCL's `default_decode_ast_prompting` does (keyword
 *   arguments only; see pythonCalls.ts), read only when the text has no `<tool_call>` block.
 *
 * It is lenient on purpose and records every leniency as a {@link CallFlag} on the calls it
 * produces, so that strict metrics can ignore what a strict reader would not have accepted:
 * {@link strictCalls} and {@link isStrictFormat} apply the rules of one target format.
 *
 * Layers (each recorded in the trace): cut at the first `<|im_end|>`/`<|endoftext|>`; split off
 * `<think>…</think>` (an unclosed think ends at the first `<tool_call>`); find `<tool_call>` blocks
 * with a JSON-aware scanner (so `</tool_call>` inside a JSON string does not end a block; missing
 * newlines and an unclosed final block are accepted and flagged); inside a block accept one object,
 * several objects (one per line or not), or an array; accept `arguments` or `parameters`, and
 * arguments given as a JSON-encoded string; repair invalid JSON with `jsonrepair` (flagged); and,
 * only when the text has no `<tool_call>` block at all, fall back, in this order, to
 * 1. BFCL's Python-call syntax: the whole text after the think as BFCL's decoder reads it (flag
 *    `python_call_syntax`; strict for the `python` format), else the content of
 *    `<TOOLCALL>…</TOOLCALL>` (`python_toolcall_tag`), else ```python / ``` fences
 *    (`python_fenced`), else bracketed call lists `[f(…)]` amid other text (`python_in_text`); a
 *    text that looks like a failed attempt gets an `invalid_python_calls` issue naming the position
 *    and the reason;
 * 2. if no Python call was read: call-shaped JSON in a ```json fence or bare in the text (flagged).
 * (Python first: a valid Python call list is never call-shaped JSON, but a dict argument with a
 * `"name"` key inside Python calls would look like a JSON call.)
 *
 * Not handled: XML-ish formats of other model families, and calls described in prose (those are,
 * correctly, "no call").
 */
import { jsonrepair } from "jsonrepair"
import {
  hasOwn,
  isPyDict,
  type JsonParse,
  MAX_JSON_DEPTH,
  type PyDict,
  type PyValue,
  parseJsonPrefix,
  pyJsonLoads
} from "../json/pyjson.js"
import { decodePythonCalls, findPythonCallLists, type PythonCall, type PythonCallsDecodeError } from "./pythonCalls.js"

export const TOOL_CALL_OPEN = "<tool_call>"
export const TOOL_CALL_CLOSE = "</tool_call>"
export const STOP_MARKERS = ["<|im_end|>", "<|endoftext|>"] as const

/**
 * The call formats a strict reader can be asked to enforce: Qwen2.5 native, ToolRL, Tool-N1, and
 * `python` = BFCL's Python-call syntax for prompting models (`[f(a=1)]` without a `<TOOLCALL>`
 * tag, as BFCL's default prompt asks).
 */
export type CallFormat = "qwen" | "toolrl" | "tooln1" | "python"
export const CallFormats: ReadonlyArray<CallFormat> = ["qwen", "toolrl", "tooln1", "python"]

/**
 * Facts about how a call was read. Some are leniencies for one format and the norm for another
 * (e.g. `parameters_key` is ToolRL's format and a leniency for Qwen's); see {@link DISALLOWED_FLAGS}.
 */
export type CallFlag =
  /** `<tool_call>` not followed by a newline. */
  | "no_newline_after_open"
  /** `</tool_call>` not preceded by a newline. */
  | "no_newline_before_close"
  /** The block has no `</tool_call>` (text ended, or the next `<tool_call>` began). */
  | "unclosed_block"
  /** The block holds more than one JSON value (ToolRL's one-object-per-line layout). */
  | "several_values_in_block"
  /** Two values of one block share a line (ToolRL's reader splits on newlines and fails). */
  | "values_on_same_line"
  /** Values of one block were separated by commas. */
  | "comma_between_values"
  /** The block holds a JSON array (Tool-N1 layout). */
  | "array_in_block"
  /** The call's JSON spans several lines (pretty-printed). */
  | "multiline_json"
  /** Arguments came from the key `arguments`. */
  | "arguments_key"
  /** Arguments came from the key `parameters`. */
  | "parameters_key"
  /** Neither key: arguments taken as `{}`. */
  | "missing_arguments"
  /** Arguments were a JSON-encoded string, decoded once. */
  | "arguments_as_string"
  /** OpenAI shape `{"type": "function", "function": {name, arguments}}`. */
  | "openai_function_shape"
  /** The call object has keys other than name / arguments / parameters. */
  | "extra_keys"
  /** The JSON was invalid and `jsonrepair` fixed it. */
  | "repaired_json"
  /** Non-JSON text inside the block was skipped to find the call. */
  | "text_in_block"
  /** A JSON string in the call contains `</tool_call>` (a regex reader would cut the block there). */
  | "close_tag_in_string"
  /** Found as call-shaped JSON in a ```json fence, with no `<tool_call>` block in the text. */
  | "outside_block_fenced_json"
  /** Found as bare call-shaped JSON in the text, with no `<tool_call>` block in the text. */
  | "outside_block_bare_json"
  /**
   * Read from BFCL's Python-call syntax (`[f(a=1)]`), with no `<tool_call>` block in the text. Alone,
   * it means the whole text after the think decoded as BFCL's prompting decoder reads it.
   */
  | "python_call_syntax"
  /** Python calls taken from `<TOOLCALL>…</TOOLCALL>` (BFCL's tag variant; its default prompt has none). */
  | "python_toolcall_tag"
  /** Python calls taken from a ```python / ``` fence amid other text (BFCL's decoder fails on those). */
  | "python_fenced"
  /** A bracketed Python call list found amid other text (BFCL's decoder fails on those). */
  | "python_in_text"
  /** Positional arguments were ignored (BFCL keeps keyword arguments only). */
  | "python_positional_args"
  /** A tuple was read (kept as a tuple-marked array, see `pyTuple`: BFCL's type check fails it for `array` parameters). */
  | "python_tuple_as_list"

export interface ParsedCall {
  readonly name: string
  /** Python-typed arguments (float literals are `PyFloat`s); `{}` when missing. */
  readonly arguments: PyDict
  /** Index into `ParseResult.blocks`; -1 for calls found outside any block (fallbacks). */
  readonly block: number
  readonly flags: ReadonlyArray<CallFlag>
  /** The JSON text the call was read from (after repair, if any). */
  readonly raw: string
}

export type ParseIssueKind =
  /** Block content is not valid JSON (even after repair no call could be read). */
  | "invalid_json"
  /** A JSON value in a block is not a call (no string `name`). */
  | "not_a_call"
  /** A call's arguments are not an object (nor a JSON string holding one). */
  | "bad_arguments"
  /** The block is empty. */
  | "empty_block"
  /** Text without `<tool_call>` that looks like Python calls but does not decode (block -1). */
  | "invalid_python_calls"
  /** The parser itself failed on this text (see {@link parseToolCallsSafely}); no calls were read. */
  | "parser_failure"

export interface ParseIssue {
  readonly kind: ParseIssueKind
  readonly block: number
  readonly message: string
}

export interface BlockTrace {
  readonly index: number
  /** Offset of `<tool_call>` in `ParseResult.text`. */
  readonly start: number
  /** Offset just after `</tool_call>`, or after the content when unclosed. */
  readonly end: number
  readonly closed: boolean
  readonly content: string
  /** Block-level flags (also copied onto each of the block's calls). */
  readonly flags: ReadonlyArray<CallFlag>
  readonly callCount: number
  readonly issues: ReadonlyArray<ParseIssue>
}

export interface ThinkTrace {
  /** `<think>` present. */
  readonly opened: boolean
  /** `</think>` present. */
  readonly closed: boolean
  readonly content: string
}

export interface ParseResult {
  /** The input, cut at the first stop marker. */
  readonly text: string
  /** Which stop marker the input was cut at, if any. */
  readonly cutAt: string | undefined
  /** Every call read, leniently; filter with {@link strictCalls}. */
  readonly calls: ReadonlyArray<ParsedCall>
  readonly blocks: ReadonlyArray<BlockTrace>
  readonly think: ThinkTrace | undefined
  /** Content of the first `<response>…</response>` (an unclosed one runs to the end). */
  readonly response: string | undefined
  /** Text outside think, blocks and response, trimmed. */
  readonly textOutside: string
  readonly issues: ReadonlyArray<ParseIssue>
  /** Union of all flags. */
  readonly flags: ReadonlyArray<CallFlag>
}

interface Region {
  readonly start: number
  readonly end: number
}

interface Value {
  readonly value: PyValue
  readonly raw: string
  readonly flags: ReadonlyArray<CallFlag>
}

const WS = /\s/

const skipWs = (s: string, i: number, end = s.length): number => {
  while (i < end && WS.test(s[i] as string)) i++
  return i
}

const indexOutside = (text: string, needle: string, from: number, avoid: Region | undefined): number => {
  let i = text.indexOf(needle, from)
  while (i >= 0 && avoid !== undefined && i >= avoid.start && i < avoid.end) i = text.indexOf(needle, avoid.end)
  return i
}

const tryRepair = (text: string): JsonParse & { readonly repaired?: string } => {
  try {
    const repaired = jsonrepair(text)
    const r = pyJsonLoads(repaired)
    return r.ok ? { ...r, repaired } : r
  } catch (e) {
    return { ok: false, pos: 0, message: e instanceof Error ? e.message : String(e) }
  }
}

const stringContains = (v: PyValue, needle: string): boolean => {
  if (typeof v === "string") return v.includes(needle)
  if (Array.isArray(v)) return v.some((x) => stringContains(x as PyValue, needle))
  if (isPyDict(v)) return Object.keys(v).some((k) => k.includes(needle) || stringContains(v[k] as PyValue, needle))
  return false
}

const looksLikeCall = (v: PyValue): boolean => {
  if (isPyDict(v)) {
    if (typeof v.name === "string") return true
    return isPyDict(v.function as PyValue) && typeof (v.function as PyDict).name === "string"
  }
  return Array.isArray(v) && v.length > 0 && v.every((x) => looksLikeCall(x as PyValue))
}

const CALL_KEYS = new Set(["name", "arguments", "parameters"])

type CallOrIssue =
  | { readonly _tag: "call"; readonly call: Omit<ParsedCall, "block"> }
  | { readonly _tag: "issue"; readonly kind: ParseIssueKind; readonly message: string }

const objectToCall = (obj: PyDict, raw: string, baseFlags: ReadonlyArray<CallFlag>): CallOrIssue => {
  const flags: Array<CallFlag> = [...baseFlags]
  let o = obj
  if (typeof o.name !== "string" && isPyDict(o.function as PyValue)) {
    o = o.function as PyDict
    flags.push("openai_function_shape")
  }
  if (typeof o.name !== "string") {
    return { _tag: "issue", kind: "not_a_call", message: `object without a string "name": ${raw.slice(0, 120)}` }
  }
  if (Object.keys(o).some((k) => !CALL_KEYS.has(k)) || (hasOwn(o, "arguments") && hasOwn(o, "parameters"))) {
    flags.push("extra_keys")
  }
  let args: PyValue
  if (hasOwn(o, "arguments")) {
    flags.push("arguments_key")
    args = o.arguments as PyValue
  } else if (hasOwn(o, "parameters")) {
    flags.push("parameters_key")
    args = o.parameters as PyValue
  } else {
    flags.push("missing_arguments")
    args = {}
  }
  if (typeof args === "string") {
    const decoded = pyJsonLoads(args)
    const attempt = decoded.ok ? decoded : tryRepair(args)
    const v = attempt.ok ? attempt.value : undefined
    if (v !== undefined && isPyDict(v)) {
      flags.push("arguments_as_string")
      if (!decoded.ok) flags.push("repaired_json")
      args = v
    }
  }
  if (!isPyDict(args)) {
    return {
      _tag: "issue",
      kind: "bad_arguments",
      message: `arguments of "${o.name}" are not an object: ${JSON.stringify(args)?.slice(0, 120)}`
    }
  }
  if (stringContains(args, TOOL_CALL_CLOSE)) flags.push("close_tag_in_string")
  return { _tag: "call", call: { name: o.name, arguments: args, flags: dedupe(flags), raw } }
}

const valueToCalls = (v: Value): Array<CallOrIssue> => {
  if (Array.isArray(v.value)) {
    return (v.value as ReadonlyArray<PyValue>).map((el) =>
      isPyDict(el)
        ? objectToCall(el, JSON.stringify(el), [...v.flags, "array_in_block"])
        : { _tag: "issue", kind: "not_a_call", message: `array element is not an object: ${JSON.stringify(el)}` }
    )
  }
  if (isPyDict(v.value)) return [objectToCall(v.value, v.raw, v.flags)]
  return [{ _tag: "issue", kind: "not_a_call", message: `JSON value is not a call object: ${v.raw.slice(0, 120)}` }]
}

const dedupe = <A>(xs: ReadonlyArray<A>): Array<A> => [...new Set(xs)]

interface ScannedBlock {
  readonly closed: boolean
  readonly contentEnd: number
  readonly end: number
  readonly values: ReadonlyArray<Value>
  readonly flags: ReadonlyArray<CallFlag>
  readonly issues: ReadonlyArray<{ kind: ParseIssueKind; message: string }>
}

/** Values found inside `segment` when strict scanning failed: repair, then embedded objects. */
/**
 * The "{" positions whose value never closes or nests deeper than the JSON parser's limit (brackets
 * counted outside strings, in one pass): a strict parse from them can only fail, and trying each of
 * them would cost O(n · limit) — 5,000 nested objects took seconds.
 */
const tooDeepStarts = (s: string): Set<number> => {
  const out = new Set<number>()
  const open: Array<{ readonly at: number; readonly depth: number; max: number }> = []
  const close = (o: { readonly at: number; readonly depth: number; max: number }) => {
    if (s[o.at] === "{" && o.max - o.depth > MAX_JSON_DEPTH) out.add(o.at)
    const parent = open[open.length - 1]
    if (parent !== undefined && o.max > parent.max) parent.max = o.max
  }
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (c === '"') {
      for (i++; i < s.length && s[i] !== '"'; i++) if (s[i] === "\\") i++
    } else if (c === "{" || c === "[") {
      open.push({ at: i, depth: open.length, max: open.length + 1 })
    } else if ((c === "}" || c === "]") && open.length > 0) {
      close(open.pop()!)
    }
  }
  // Never closed: a strict parse runs off the end.
  for (const o of open) if (s[o.at] === "{") out.add(o.at)
  return out
}

const fallbackValues = (
  segment: string,
  strictError: string
): { values: Array<Value>; issues: Array<{ kind: ParseIssueKind; message: string }> } => {
  const trimmed = segment.trim()
  const repaired = tryRepair(trimmed)
  if (repaired.ok && looksLikeCall(repaired.value)) {
    return {
      values: [{ value: repaired.value, raw: repaired.repaired ?? trimmed, flags: ["repaired_json"] }],
      issues: []
    }
  }
  // Embedded call objects among other text: strict parse at each "{", else repair from the first one.
  const values: Array<Value> = []
  const tooDeep = tooDeepStarts(segment)
  let i = segment.indexOf("{")
  while (i >= 0) {
    const r = tooDeep.has(i) ? ({ ok: false } as const) : parseJsonPrefix(segment, i)
    if (r.ok && looksLikeCall(r.value)) {
      const raw = segment.slice(i, r.end)
      values.push({
        value: r.value,
        raw,
        flags: ["text_in_block", ...(raw.includes("\n") ? (["multiline_json"] as const) : [])]
      })
      i = segment.indexOf("{", r.end)
    } else {
      i = segment.indexOf("{", i + 1)
    }
  }
  if (values.length > 0) return { values, issues: [] }
  const first = segment.indexOf("{")
  if (first > 0) {
    const r = tryRepair(segment.slice(first).trim())
    if (r.ok && looksLikeCall(r.value)) {
      return {
        values: [
          { value: r.value, raw: r.repaired ?? segment.slice(first), flags: ["repaired_json", "text_in_block"] }
        ],
        issues: []
      }
    }
  }
  return { values: [], issues: [{ kind: "invalid_json", message: strictError }] }
}

const scanBlock = (text: string, contentStart: number): ScannedBlock => {
  const flags: Array<CallFlag> = []
  if (text[contentStart] !== "\n") flags.push("no_newline_after_open")
  const values: Array<Value> = []
  let p = contentStart
  let lastEnd = -1
  let failure: string | undefined
  let closed = false
  let contentEnd = text.length
  for (;;) {
    p = skipWs(text, p)
    if (text.startsWith(TOOL_CALL_CLOSE, p)) {
      closed = true
      contentEnd = p
      break
    }
    if (p >= text.length || text.startsWith(TOOL_CALL_OPEN, p)) {
      contentEnd = p
      break
    }
    if (values.length > 0 && text[p] === ",") {
      flags.push("comma_between_values")
      p++
      continue
    }
    const r = parseJsonPrefix(text, p)
    if (!r.ok) {
      failure = r.message
      break
    }
    if (lastEnd >= 0 && !text.slice(lastEnd, p).includes("\n")) flags.push("values_on_same_line")
    const raw = text.slice(p, r.end)
    values.push({ value: r.value, raw, flags: raw.includes("\n") ? ["multiline_json"] : [] })
    lastEnd = r.end
    p = r.end
  }
  if (failure !== undefined) {
    // Delimit the block the simple way and retry leniently on that segment.
    const close = text.indexOf(TOOL_CALL_CLOSE, contentStart)
    const nextOpen = text.indexOf(TOOL_CALL_OPEN, contentStart)
    closed = close >= 0 && (nextOpen < 0 || close < nextOpen)
    contentEnd = closed ? close : nextOpen >= 0 ? nextOpen : text.length
    const fb = fallbackValues(text.slice(contentStart, contentEnd), failure)
    const end = closed ? contentEnd + TOOL_CALL_CLOSE.length : contentEnd
    if (!closed) flags.push("unclosed_block")
    if (closed && text[contentEnd - 1] !== "\n") flags.push("no_newline_before_close")
    return { closed, contentEnd, end, values: fb.values, flags: dedupe(flags), issues: fb.issues }
  }
  if (!closed) flags.push("unclosed_block")
  if (closed && text[contentEnd - 1] !== "\n") flags.push("no_newline_before_close")
  if (values.length > 1) flags.push("several_values_in_block")
  const issues = values.length === 0 ? [{ kind: "empty_block" as const, message: "empty <tool_call> block" }] : []
  return {
    closed,
    contentEnd,
    end: closed ? contentEnd + TOOL_CALL_CLOSE.length : contentEnd,
    values,
    flags: dedupe(flags),
    issues
  }
}

const FENCE_RE = /```[ \t]*(?:json|JSON)?[ \t]*\n?([\s\S]*?)```/g
const BARE_START_RE = /[[{]\s*(?:\{\s*)?"(?:name|function)"\s*:/y

/** Call-shaped JSON outside any block (used only when the text has no `<tool_call>` at all). */
const outsideBlockValues = (text: string, avoid: Region | undefined): Array<{ value: Value; region: Region }> => {
  const out: Array<{ value: Value; region: Region }> = []
  const inAvoid = (i: number) => avoid !== undefined && i >= avoid.start && i < avoid.end
  const covered: Array<Region> = []
  for (const m of text.matchAll(FENCE_RE)) {
    const start = m.index ?? 0
    if (inAvoid(start)) continue
    const body = m[1] ?? ""
    let r: JsonParse & { repaired?: string } = pyJsonLoads(body)
    let flags: Array<CallFlag> = ["outside_block_fenced_json"]
    if (!r.ok) {
      r = tryRepair(body.trim())
      flags = [...flags, "repaired_json"]
    }
    if (r.ok && looksLikeCall(r.value)) {
      const raw = r.repaired ?? body.trim()
      if (raw.includes("\n")) flags.push("multiline_json")
      out.push({ value: { value: r.value, raw, flags }, region: { start, end: start + m[0].length } })
      covered.push({ start, end: start + m[0].length })
    }
  }
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (ch !== "{" && ch !== "[") continue
    if (inAvoid(i) || covered.some((c) => i >= c.start && i < c.end)) continue
    BARE_START_RE.lastIndex = i
    if (!BARE_START_RE.test(text)) continue
    const r = parseJsonPrefix(text, i)
    let value: Value | undefined
    let end = i + 1
    if (r.ok) {
      const raw = text.slice(i, r.end)
      end = r.end
      if (looksLikeCall(r.value)) {
        value = {
          value: r.value,
          raw,
          flags: ["outside_block_bare_json", ...(raw.includes("\n") ? (["multiline_json"] as const) : [])]
        }
      }
    } else {
      const rest = text.slice(i)
      const rep = tryRepair(rest)
      if (rep.ok && looksLikeCall(rep.value)) {
        value = { value: rep.value, raw: rep.repaired ?? rest, flags: ["outside_block_bare_json", "repaired_json"] }
        end = text.length
      }
    }
    if (value !== undefined) {
      out.push({ value, region: { start: i, end } })
      i = end - 1
    }
  }
  return out.sort((a, b) => a.region.start - b.region.start)
}

const findThink = (text: string): { trace: ThinkTrace; region: Region } | undefined => {
  const open = text.indexOf("<think>")
  const close = text.indexOf("</think>", Math.max(open, 0))
  if (open < 0 && close < 0) return undefined
  if (open >= 0 && close >= 0) {
    return {
      trace: { opened: true, closed: true, content: text.slice(open + 7, close) },
      region: { start: open, end: close + 8 }
    }
  }
  if (open >= 0) {
    // Unclosed think: it ends where the first tool call begins (or at the end of the text).
    const call = text.indexOf(TOOL_CALL_OPEN, open)
    const end = call >= 0 ? call : text.length
    return { trace: { opened: true, closed: false, content: text.slice(open + 7, end) }, region: { start: open, end } }
  }
  // "</think>" without "<think>": the text began inside a think (e.g. the prompt opened it).
  return { trace: { opened: false, closed: true, content: text.slice(0, close) }, region: { start: 0, end: close + 8 } }
}

const TOOLCALL_TAG_RE = /<TOOLCALL>[\s\S]*?<\/TOOLCALL>/
const PY_FENCE_RE = /```[ \t]*(python3?|py|tool_code)?[ \t]*\r?\n([\s\S]*?)```/g
const LOOKS_LIKE_PYTHON_CALL =
  /^[\s`]*\[?\s*[\p{XID_Start}_][\p{XID_Continue}]*(?:\.[\p{XID_Start}_][\p{XID_Continue}]*)*\s*\(/u

const pythonCallToParsed = (c: PythonCall, flags: ReadonlyArray<CallFlag>): ParsedCall => ({
  name: c.name,
  arguments: c.arguments,
  block: -1,
  flags: [
    "python_call_syntax",
    ...flags,
    ...(c.positional.length > 0 ? (["python_positional_args"] as const) : []),
    ...(c.tupleAsList ? (["python_tuple_as_list"] as const) : [])
  ],
  raw: c.raw
})

const pythonIssue = (e: PythonCallsDecodeError): ParseIssue => {
  const source = e.source.length > 200 ? `${e.source.slice(0, 200)}…` : e.source
  return {
    kind: "invalid_python_calls",
    block: -1,
    message: `${e.kind} at ${e.pos} of ${JSON.stringify(source)}: ${e.message}`
  }
}

/**
 * Python-call fallbacks on `text.slice(from)` (the text after the think): the whole of it as BFCL
 * reads it, else `<TOOLCALL>`, else fences, else call lists amid text. `issue` when nothing was read
 * from a text that looks like an attempt.
 */
const pythonFallback = (
  text: string,
  from: number
): { calls: Array<ParsedCall>; regions: Array<Region>; issue: ParseIssue | undefined } => {
  const rest = text.slice(from)
  const exact = decodePythonCalls(rest)
  if (exact.ok && exact.calls.length > 0) {
    return {
      calls: exact.calls.map((c) => pythonCallToParsed(c, [])),
      regions: [{ start: from, end: text.length }],
      issue: undefined
    }
  }
  let error = exact.ok ? undefined : exact.error
  const tag = TOOLCALL_TAG_RE.exec(rest)
  if (tag !== null) {
    const d = decodePythonCalls(rest, { toolCallTag: true })
    if (d.ok) {
      return {
        calls: d.calls.map((c) => pythonCallToParsed(c, ["python_toolcall_tag"])),
        regions: [{ start: from + tag.index, end: from + tag.index + tag[0].length }],
        issue: undefined
      }
    }
    error = d.error
  }
  const calls: Array<ParsedCall> = []
  const regions: Array<Region> = []
  let pythonFence = false
  for (const m of rest.matchAll(PY_FENCE_RE)) {
    const start = from + (m.index ?? 0)
    pythonFence ||= m[1] !== undefined
    const d = decodePythonCalls(m[2] ?? "")
    if (d.ok && d.calls.length > 0) {
      calls.push(...d.calls.map((c) => pythonCallToParsed(c, ["python_fenced"])))
      regions.push({ start, end: start + m[0].length })
    } else if (!d.ok && m[1] !== undefined) {
      error = d.error
    }
  }
  if (calls.length === 0) {
    for (const l of findPythonCallLists(rest)) {
      calls.push(...l.calls.map((c) => pythonCallToParsed(c, ["python_in_text"])))
      regions.push({ start: from + l.start, end: from + l.end })
    }
  }
  const attempted = tag !== null || pythonFence || LOOKS_LIKE_PYTHON_CALL.test(rest)
  const issue = calls.length === 0 && attempted && error !== undefined ? pythonIssue(error) : undefined
  return { calls, regions, issue }
}

/** Parses generated text into tool calls, with a full trace. Pure; never throws. */
export const parseToolCalls = (input: string): ParseResult => {
  let text = input
  let cutAt: string | undefined
  let cut = input.length
  for (const m of STOP_MARKERS) {
    const i = input.indexOf(m)
    if (i >= 0 && i < cut) {
      cut = i
      cutAt = m
    }
  }
  text = input.slice(0, cut)

  const think = findThink(text)
  const avoid = think?.region
  const blocks: Array<BlockTrace> = []
  const calls: Array<ParsedCall> = []
  const issues: Array<ParseIssue> = []
  const removed: Array<Region> = avoid !== undefined ? [avoid] : []

  let from = 0
  for (;;) {
    const open = indexOutside(text, TOOL_CALL_OPEN, from, avoid)
    if (open < 0) break
    const index = blocks.length
    const scanned = scanBlock(text, open + TOOL_CALL_OPEN.length)
    const blockIssues: Array<ParseIssue> = scanned.issues.map((x) => ({ ...x, block: index }))
    let callCount = 0
    for (const v of scanned.values) {
      for (const r of valueToCalls({ ...v, flags: [...scanned.flags, ...v.flags] })) {
        if (r._tag === "call") {
          calls.push({ ...r.call, block: index })
          callCount++
        } else {
          blockIssues.push({ kind: r.kind, block: index, message: r.message })
        }
      }
    }
    blocks.push({
      index,
      start: open,
      end: scanned.end,
      closed: scanned.closed,
      content: text.slice(open + TOOL_CALL_OPEN.length, scanned.contentEnd),
      flags: scanned.flags,
      callCount,
      issues: blockIssues
    })
    issues.push(...blockIssues)
    removed.push({ start: open, end: scanned.end })
    from = Math.max(scanned.end, open + 1)
  }

  if (blocks.length === 0) {
    const py = pythonFallback(text, avoid?.end ?? 0)
    calls.push(...py.calls)
    removed.push(...py.regions)
    if (py.calls.length === 0) {
      for (const { value, region } of outsideBlockValues(text, avoid)) {
        for (const r of valueToCalls(value)) {
          if (r._tag === "call") {
            calls.push({ ...r.call, block: -1, flags: r.call.flags.filter((f) => f !== "array_in_block") })
          }
        }
        removed.push(region)
      }
      if (calls.length === 0 && py.issue !== undefined) issues.push(py.issue)
    }
  }

  let response: string | undefined
  const rOpen = indexOutside(text, "<response>", 0, avoid)
  if (rOpen >= 0) {
    const rClose = text.indexOf("</response>", rOpen)
    const end = rClose >= 0 ? rClose : text.length
    response = text.slice(rOpen + 10, end).trim()
    removed.push({ start: rOpen, end: rClose >= 0 ? rClose + 11 : text.length })
  }

  removed.sort((a, b) => a.start - b.start)
  const segments: Array<string> = []
  let pos = 0
  for (const r of removed) {
    if (r.start > pos) segments.push(text.slice(pos, r.start).trim())
    pos = Math.max(pos, r.end)
  }
  segments.push(text.slice(pos).trim())
  const outside = segments.filter((x) => x !== "").join("\n")

  return {
    text,
    cutAt,
    calls,
    blocks,
    think: think?.trace,
    response,
    textOutside: outside.trim(),
    issues,
    flags: dedupe(calls.flatMap((c) => c.flags).concat(blocks.flatMap((b) => b.flags)))
  }
}

/**
 * {@link parseToolCalls} for runners, which must not stop on one item: should the parser throw
 * (a bug, or input beyond a limit it failed to guard), the result has no calls and one
 * `parser_failure` issue, and `failure` holds the message.
 */
export const parseToolCallsSafely = (input: string): { readonly parse: ParseResult; readonly failure?: string } => {
  try {
    return { parse: parseToolCalls(input) }
  } catch (e) {
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e)
    const parse: ParseResult = {
      text: input,
      cutAt: undefined,
      calls: [],
      blocks: [],
      think: undefined,
      response: undefined,
      textOutside: input.trim(),
      issues: [{ kind: "parser_failure", block: -1, message }],
      flags: []
    }
    return { parse, failure: message }
  }
}

// ---------------------------------------------------------------------------------------------
// Strictness
// ---------------------------------------------------------------------------------------------

const OUTSIDE: ReadonlyArray<CallFlag> = ["outside_block_fenced_json", "outside_block_bare_json"]
const PYTHON: ReadonlyArray<CallFlag> = [
  "python_call_syntax",
  "python_toolcall_tag",
  "python_fenced",
  "python_in_text",
  "python_positional_args",
  "python_tuple_as_list"
]

/**
 * Flags a strict reader of each format does not accept. A call carrying one of them is dropped by
 * {@link strictCalls}. Derived from the readers in docs (BFCL's Qwen FC handler for `qwen`, ToolRL's
 * reward for `toolrl`, Tool-N1's reward for `tooln1`, BFCL's prompting decoder for `python`, which
 * reads no JSON and fails on text around the calls; positional arguments and tuples are how BFCL
 * itself reads Python calls, so `python` allows them).
 */
export const DISALLOWED_FLAGS: Readonly<Record<CallFormat, ReadonlySet<CallFlag>>> = {
  qwen: new Set<CallFlag>([
    "no_newline_after_open",
    "no_newline_before_close",
    "unclosed_block",
    "several_values_in_block",
    "values_on_same_line",
    "comma_between_values",
    "array_in_block",
    "parameters_key",
    "missing_arguments",
    "arguments_as_string",
    "openai_function_shape",
    "repaired_json",
    "text_in_block",
    ...OUTSIDE,
    ...PYTHON
  ]),
  toolrl: new Set<CallFlag>([
    "no_newline_after_open",
    "no_newline_before_close",
    "unclosed_block",
    "values_on_same_line",
    "comma_between_values",
    "array_in_block",
    "multiline_json",
    "arguments_key",
    "missing_arguments",
    "arguments_as_string",
    "openai_function_shape",
    "repaired_json",
    "text_in_block",
    ...OUTSIDE,
    ...PYTHON
  ]),
  tooln1: new Set<CallFlag>([
    "unclosed_block",
    "several_values_in_block",
    "values_on_same_line",
    "comma_between_values",
    "parameters_key",
    "missing_arguments",
    "arguments_as_string",
    "openai_function_shape",
    "repaired_json",
    "text_in_block",
    ...OUTSIDE,
    ...PYTHON
  ]),
  python: new Set<CallFlag>([
    "no_newline_after_open",
    "no_newline_before_close",
    "unclosed_block",
    "several_values_in_block",
    "values_on_same_line",
    "comma_between_values",
    "array_in_block",
    "multiline_json",
    "arguments_key",
    "parameters_key",
    "missing_arguments",
    "arguments_as_string",
    "openai_function_shape",
    "extra_keys",
    "repaired_json",
    "text_in_block",
    "close_tag_in_string",
    ...OUTSIDE,
    "python_toolcall_tag",
    "python_fenced",
    "python_in_text"
  ])
}

/** The leniencies (flags disallowed by `format`) that this call needed. */
export const leniencies = (call: ParsedCall, format: CallFormat): ReadonlyArray<CallFlag> =>
  call.flags.filter((f) => DISALLOWED_FLAGS[format].has(f))

const blockIsStrict = (r: ParseResult, block: BlockTrace, format: CallFormat): boolean =>
  block.issues.length === 0 &&
  block.flags.every((f) => !DISALLOWED_FLAGS[format].has(f)) &&
  r.calls.filter((c) => c.block === block.index).every((c) => leniencies(c, format).length === 0)

/**
 * The calls a strict reader of `format` would have read:
 * - `qwen`: calls of every block that is strictly well-formed (a bad block is dropped, others kept,
 *   as BFCL's Qwen handler does);
 * - `toolrl`: the calls of the FIRST block, all or nothing (ToolRL's reward reads the first block);
 * - `tooln1`: the calls of the LAST block, all or nothing (Tool-N1's reward reads the last block);
 * - `python`: the calls read from the whole text after the think by BFCL's prompting decoder (flag
 *   `python_call_syntax` without `python_toolcall_tag` / `python_fenced` / `python_in_text`).
 * For the JSON formats, calls found outside blocks are never strict.
 */
export const strictCalls = (r: ParseResult, format: CallFormat): ReadonlyArray<ParsedCall> => {
  if (format === "python") {
    return r.calls.filter((c) => c.flags.includes("python_call_syntax") && leniencies(c, format).length === 0)
  }
  if (r.blocks.length === 0) return []
  if (format === "qwen") {
    const ok = new Set(r.blocks.filter((b) => blockIsStrict(r, b, format)).map((b) => b.index))
    return r.calls.filter((c) => ok.has(c.block))
  }
  const block = format === "toolrl" ? r.blocks[0] : r.blocks[r.blocks.length - 1]
  if (block === undefined || !blockIsStrict(r, block, format)) return []
  return r.calls.filter((c) => c.block === block.index)
}

const TOOLRL_CALL_SHAPE =
  /^<think>[\s\S]*?<\/think>\n<tool_call>\n[\s\S]*?\n<\/tool_call>(?:\n<response>[\s\S]*?<\/response>)?$/

const count = (s: string, needle: string): number => s.split(needle).length - 1

/**
 * Whether the whole output is well-formed in `format` and holds at least one call:
 * - `qwen`: ≥ 1 block, every block strict, no call found outside blocks (text around is allowed);
 * - `toolrl`: the trimmed text matches `<think>…</think>\n<tool_call>\n…\n</tool_call>` optionally
 *   followed by `\n<response>…</response>`, each tag once, and the block's calls are strict;
 * - `tooln1`: `<think>` and `</think>` present and the last block is strict with ≥ 1 call;
 * - `python`: the whole text after the think is a BFCL Python call list with ≥ 1 call.
 */
export const isStrictFormat = (r: ParseResult, format: CallFormat): boolean => {
  const strict = strictCalls(r, format)
  if (strict.length === 0) return false
  switch (format) {
    case "qwen":
      return r.blocks.every((b) => blockIsStrict(r, b, format)) && r.calls.every((c) => c.block >= 0)
    case "toolrl": {
      const t = r.text.trim()
      return (
        TOOLRL_CALL_SHAPE.test(t) &&
        count(t, "<tool_call>") === 1 &&
        count(t, "</tool_call>") === 1 &&
        count(t, "<response>") <= 1 &&
        count(t, "</response>") === count(t, "<response>")
      )
    }
    case "tooln1":
      return r.text.includes("<think>") && r.text.includes("</think>")
    case "python":
      return strict.length === r.calls.length
  }
}
