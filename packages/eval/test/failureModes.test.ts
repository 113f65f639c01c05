/**
 * One fixture per row of the failure-mode table in toolcall-eval.md §6, run through the parser and
 * every built-in scorer. Each case states what the parser reads, which leniencies it flags, and the
 * verdict of each anchor (BFCL official decoder, strict/lenient readers, paper rubric).
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import {
  bfclAstScorer,
  type CallFlag,
  type EvalItem,
  exactMatchScorer,
  formatScorer,
  type MetricValue,
  paperRubricScorer,
  parseToolCalls,
  runScorers,
  strictCalls
} from "../src/index.js"
import { toPlain } from "../src/json/pyjson.js"
import { irrelevantItem, lcmItem, toolRlPromptFor, weatherItem, writeItem } from "./fixtures/items.js"

const scorers = [bfclAstScorer(), formatScorer(), paperRubricScorer(), exactMatchScorer()]

const score = (item: EvalItem, response: string) => {
  const parse = parseToolCalls(response)
  const prompt = toolRlPromptFor(item.tools)
  const out = Effect.runSync(runScorers(scorers, { item, prompt, response, parse }))
  return {
    parse,
    metrics: out.metrics,
    details: out.details as Record<
      string,
      { official?: { errorType?: string }; lenient?: { errorType?: string }; strict?: { errorType?: string } }
    >
  }
}

interface Case {
  readonly mode: string
  readonly item: EvalItem
  readonly response: string
  /** Calls read leniently, as plain JSON. */
  readonly lenient: ReadonlyArray<{ name: string; arguments: Record<string, unknown> }>
  readonly flags?: ReadonlyArray<CallFlag>
  /** Number of calls a strict Qwen reader keeps. */
  readonly strictQwen: number
  readonly metrics: Readonly<Record<string, MetricValue>>
  /** BFCL error types (official decoder / lenient reader) when they fail. */
  readonly officialError?: string
  readonly lenientError?: string
}

const W = { name: "get_weather", arguments: { city: "Paris" } }

const cases: ReadonlyArray<Case> = [
  {
    mode: "invalid JSON: trailing comma",
    item: weatherItem,
    response: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris",}}\n</tool_call>',
    lenient: [W],
    flags: ["repaired_json"],
    strictQwen: 0,
    metrics: {
      "bfcl.ast_official": false,
      "bfcl.ast_lenient": true,
      "paper.format_accuracy": true,
      "paper.tool_correctness": true
    },
    officialError: "simple_function_checker:wrong_count"
  },
  {
    mode: "invalid JSON: single quotes",
    item: weatherItem,
    response: "<tool_call>\n{'name': 'get_weather', 'arguments': {'city': 'Paris'}}\n</tool_call>",
    lenient: [W],
    flags: ["repaired_json"],
    strictQwen: 0,
    // The paper's regex needs double quotes: no "name" field, so neither format nor tool.
    metrics: {
      "bfcl.ast_official": false,
      "bfcl.ast_lenient": true,
      "paper.format_accuracy": false,
      "paper.tool_correctness": false
    },
    officialError: "simple_function_checker:wrong_count"
  },
  {
    mode: "invalid JSON: unescaped newline in a string",
    item: weatherItem,
    response: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par\nis"}}\n</tool_call>',
    lenient: [{ name: "get_weather", arguments: { city: "Par\nis" } }],
    flags: ["repaired_json"],
    strictQwen: 0,
    metrics: { "bfcl.ast_official": false, "bfcl.ast_lenient": false },
    officialError: "simple_function_checker:wrong_count",
    lenientError: "value_error:string"
  },
  {
    mode: "invalid JSON: missing closing brace",
    item: weatherItem,
    response: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}\n</tool_call>',
    lenient: [W],
    flags: ["repaired_json"],
    strictQwen: 0,
    metrics: { "bfcl.ast_official": false, "bfcl.ast_lenient": true, "format.leniency_used": true },
    officialError: "simple_function_checker:wrong_count"
  },
  {
    mode: "multiple JSON objects in one block (ToolRL layout in a Qwen eval)",
    item: weatherItem,
    response:
      '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>',
    lenient: [W, { name: "get_weather", arguments: { city: "Rome" } }],
    flags: ["several_values_in_block"],
    strictQwen: 0,
    metrics: { "bfcl.ast_official": false, "bfcl.ast_lenient": false, "format.n_calls": 2 },
    officialError: "simple_function_checker:wrong_count",
    lenientError: "simple_function_checker:wrong_count"
  },
  {
    mode: "pretty-printed JSON over several lines",
    item: weatherItem,
    response: '<tool_call>\n{\n  "name": "get_weather",\n  "arguments": {\n    "city": "Paris"\n  }\n}\n</tool_call>',
    lenient: [W],
    flags: ["multiline_json"],
    strictQwen: 1,
    metrics: {
      "bfcl.ast_official": true,
      "bfcl.ast_strict": true,
      "format.strict_format_qwen": true,
      "format.strict_format_toolrl": false
    }
  },
  {
    mode: "no newline after <tool_call> / before </tool_call>",
    item: weatherItem,
    response: '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
    lenient: [W],
    flags: ["no_newline_after_open", "no_newline_before_close"],
    strictQwen: 0,
    metrics: {
      "bfcl.ast_official": false,
      "bfcl.ast_lenient": true,
      "format.strict_format_tooln1": false,
      "paper.overall_score": 2
    },
    officialError: "simple_function_checker:wrong_count"
  },
  {
    mode: "unclosed final block (hit max tokens)",
    item: weatherItem,
    response: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}',
    lenient: [W],
    flags: ["unclosed_block"],
    strictQwen: 0,
    metrics: { "bfcl.ast_official": false, "bfcl.ast_lenient": true, "paper.format_accuracy": true },
    officialError: "simple_function_checker:wrong_count"
  },
  {
    mode: "</tool_call> inside a string argument",
    item: writeItem,
    response:
      '<tool_call>\n{"name": "write_file", "arguments": {"path": "a.txt", "content": "a </tool_call> b"}}\n</tool_call>',
    lenient: [{ name: "write_file", arguments: { path: "a.txt", content: "a </tool_call> b" } }],
    flags: ["close_tag_in_string"],
    strictQwen: 1,
    // BFCL's Qwen regex needs "\n</tool_call>", which a JSON string cannot hold (newlines are escaped),
    // so it survives there; readers that cut at the first "</tool_call>" (vLLM hermes, ToolRL) truncate:
    // see the ToolRL reward test "close tag inside a string".
    metrics: { "bfcl.ast_official": true, "bfcl.ast_strict": true, "bfcl.ast_lenient": true }
  },
  {
    mode: "extra text and <think> around the calls",
    item: weatherItem,
    response:
      '<think> The user asks about Paris. </think>\nSure, let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\nI will report back.',
    lenient: [W],
    strictQwen: 1,
    metrics: {
      "bfcl.ast_official": true,
      "format.strict_format_qwen": true,
      "format.has_think": true,
      "format.leniency_used": false
    }
  },
  {
    mode: "bare JSON in a ```json fence, no tags",
    item: weatherItem,
    response: 'Here is the call:\n```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
    lenient: [W],
    flags: ["outside_block_fenced_json"],
    strictQwen: 0,
    metrics: {
      "bfcl.ast_official": false,
      "bfcl.ast_lenient": true,
      "format.call_emitted": true,
      "paper.format_accuracy": false,
      "paper.tool_correctness": true,
      "paper.overall_score": 1
    },
    officialError: "simple_function_checker:wrong_count"
  },
  {
    mode: "bare JSON, no tags, no fence",
    item: weatherItem,
    response: 'I will call {"name": "get_weather", "arguments": {"city": "Paris"}} now.',
    lenient: [W],
    flags: ["outside_block_bare_json"],
    strictQwen: 0,
    metrics: { "bfcl.ast_official": false, "bfcl.ast_lenient": true },
    officialError: "simple_function_checker:wrong_count"
  },
  {
    mode: "wrong key: parameters instead of arguments",
    item: weatherItem,
    response: '<tool_call>\n{"name": "get_weather", "parameters": {"city": "Paris"}}\n</tool_call>',
    lenient: [W],
    flags: ["parameters_key"],
    strictQwen: 0,
    metrics: { "bfcl.ast_official": false, "bfcl.ast_strict": false, "bfcl.ast_lenient": true },
    officialError: "ast_decoder:decoder_failed"
  },
  {
    mode: "arguments given as a JSON string",
    item: weatherItem,
    response: '<tool_call>\n{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}\n</tool_call>',
    lenient: [W],
    flags: ["arguments_as_string"],
    strictQwen: 0,
    metrics: { "bfcl.ast_official": false, "bfcl.ast_lenient": true },
    officialError: "ast_decoder:decoder_failed"
  },
  {
    mode: "hallucinated tool name",
    item: weatherItem,
    response: '<tool_call>\n{"name": "get_forecast", "arguments": {"city": "Paris"}}\n</tool_call>',
    lenient: [{ name: "get_forecast", arguments: { city: "Paris" } }],
    strictQwen: 1,
    metrics: {
      "bfcl.ast_official": false,
      "format.hallucinated_tool": true,
      "format.in_menu": false,
      "paper.format_accuracy": true,
      "paper.tool_correctness": false,
      "paper.overall_score": 0
    },
    officialError: "simple_function_checker:wrong_func_name"
  },
  {
    mode: "hallucinated / extra parameter",
    item: weatherItem,
    response: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "country": "FR"}}\n</tool_call>',
    lenient: [{ name: "get_weather", arguments: { city: "Paris", country: "FR" } }],
    strictQwen: 1,
    metrics: { "bfcl.ast_official": false, "paper.tool_correctness": true },
    officialError: "simple_function_checker:unexpected_param"
  },
  {
    mode: "type drift: string for an integer",
    item: lcmItem,
    response: '<tool_call>\n{"name": "lcm", "arguments": {"a": "5", "b": 10}}\n</tool_call>',
    lenient: [{ name: "lcm", arguments: { a: "5", b: 10 } }],
    strictQwen: 1,
    metrics: { "bfcl.ast_official": false },
    officialError: "type_error:simple"
  },
  {
    mode: "type drift: float literal for an integer",
    item: lcmItem,
    response: '<tool_call>\n{"name": "lcm", "arguments": {"a": 5.0, "b": 10}}\n</tool_call>',
    lenient: [{ name: "lcm", arguments: { a: 5, b: 10 } }],
    strictQwen: 1,
    metrics: { "bfcl.ast_official": false },
    officialError: "type_error:simple"
  },
  {
    mode: "call when none is warranted (irrelevance)",
    item: irrelevantItem,
    response: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    lenient: [W],
    strictQwen: 1,
    // The paper's rubric counts it as a correct tool call; BFCL and the strict metrics do not.
    metrics: {
      "bfcl.ast_official": false,
      "format.no_call_correct": false,
      "paper.tool_correctness": true,
      "exact.exact_match": false
    },
    officialError: "irrelevance_error:decoder_success"
  },
  {
    mode: "malformed call on an irrelevance item (BFCL counts it as abstention)",
    item: irrelevantItem,
    response: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris",}}\n</tool_call>',
    lenient: [W],
    flags: ["repaired_json"],
    strictQwen: 0,
    metrics: {
      "bfcl.ast_official": true,
      "bfcl.ast_strict": true,
      "bfcl.ast_lenient": false,
      "format.no_call_correct": false
    }
  },
  {
    mode: "prose description of a call",
    item: lcmItem,
    response: "I'll use `lcm` with a=5 and b=10.",
    lenient: [],
    strictQwen: 0,
    metrics: {
      "bfcl.ast_official": false,
      "bfcl.ast_lenient": false,
      "format.call_emitted": false,
      "paper.format_accuracy": false,
      "paper.tool_correctness": false,
      "paper.overall_score": -1
    },
    officialError: "simple_function_checker:wrong_count"
  }
]

describe("failure modes of toolcall-eval.md §6", () => {
  for (const c of cases) {
    it(c.mode, () => {
      const { parse, metrics, details } = score(c.item, c.response)
      expect(parse.calls.map((x) => ({ name: x.name, arguments: toPlain(x.arguments) }))).toEqual(c.lenient)
      for (const f of c.flags ?? []) expect(parse.flags, `flag ${f}`).toContain(f)
      expect(strictCalls(parse, "qwen")).toHaveLength(c.strictQwen)
      for (const [k, v] of Object.entries(c.metrics)) expect(metrics[k], k).toBe(v)
      if (c.officialError !== undefined) expect(details.bfcl?.official?.errorType).toBe(c.officialError)
      if (c.lenientError !== undefined) expect(details.bfcl?.lenient?.errorType).toBe(c.lenientError)
    })
  }
})
