/**
 * Hostile model outputs for the tool-call readers (`parseToolCalls`, BFCL's Qwen and Python
 * decoders): each returns a result — the calls, or "no call" with an issue saying why — and never
 * throws, overflows the stack or returns a call that is not in the text.
 */
import { describe, expect } from "vitest"
import { type HostileCase, hostileCases, outcomeOf } from "../../../../test-support/hostile.js"
import { bfclPythonDecode, bfclQwenDecode, type ParseResult, parseToolCalls } from "../../src/index.js"

interface Read {
  readonly parse: ParseResult
  readonly qwen: ReturnType<typeof bfclQwenDecode>
  readonly python: ReturnType<typeof bfclPythonDecode>
}
const block = (json: string) => `<tool_call>\n${json}\n</tool_call>`
const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`

/** A case whose text is `text`; `calls` is the number of calls parseToolCalls must read. */
const text = (
  name: string,
  t: string,
  calls: number,
  extra?: (r: Read) => void
): HostileCase<{ text: string }, Read> => ({
  name,
  corrupt: (ctx) => {
    ctx.text = t
  },
  expect: {
    ok: true,
    check: (r) => {
      expect(r.parse.calls.length, name).toBe(calls)
      extra?.(r)
    }
  }
})
const issue = (kind: string) => (r: Read) => expect(r.parse.issues.map((i) => i.kind)).toContain(kind)
const pythonFails = (r: Read) => expect(r.python.ok && r.python.calls.length > 0).toBe(false)

const cases: ReadonlyArray<HostileCase<{ text: string }, Read>> = [
  text("empty output", "", 0),
  text("only whitespace", " \n\t ", 0),
  text("a valid call", block('{"name": "f", "arguments": {"a": 1}}'), 1),
  text("unterminated JSON", block('{"name": "f", "arguments": {"a": 1'), 1), // repaired, flagged
  text("garbage in the block", block("%%%%"), 0, issue("invalid_json")),
  text("empty block", "<tool_call>\n\n</tool_call>", 0, issue("empty_block")),
  text("a JSON number in the block", block("42"), 0, issue("not_a_call")),
  text("a JSON string in the block", block('"f"'), 0, issue("not_a_call")),
  text("name is a number", block('{"name": 5, "arguments": {}}'), 0, issue("not_a_call")),
  text("name is null", block('{"name": null, "arguments": {}}'), 0),
  text("arguments an array", block('{"name": "f", "arguments": [1, 2]}'), 0, issue("bad_arguments")),
  text("arguments a number", block('{"name": "f", "arguments": 3}'), 0, issue("bad_arguments")),
  text("arguments a string that is not JSON", block('{"name": "f", "arguments": "a=1"}'), 0, issue("bad_arguments")),
  text("arguments a JSON string holding an object", block('{"name": "f", "arguments": "{\\"a\\": 1}"}'), 1),
  text("3,000 nested arrays", block(`{"name": "f", "arguments": {"a": ${deep(3000)}}}`), 0, issue("invalid_json")),
  text("100,000 nested arrays", block(`{"name": "f", "arguments": {"a": ${deep(100_000)}}}`), 0),
  text("1,200 nested objects", block(`${'{"a":'.repeat(1200)}1${"}".repeat(1200)}`), 0),
  // Used to take ~22 s: the lenient fallback tried a strict parse at each of the 5,000 "{".
  text("5,000 unclosed nested objects", block('{"a":'.repeat(5000)), 0, issue("invalid_json")),
  text(
    "a call inside 1,500 nested objects (found by the fallback)",
    block(`${'{"x":'.repeat(1500)} {"name": "f", "arguments": {}}`),
    1
  ),
  text("990 nested arrays in a call (within the limit)", block(`{"name": "f", "arguments": {"a": ${deep(990)}}}`), 1),
  text("a 100 kB string argument", block(`{"name": "f", "arguments": {"a": "${"x".repeat(100_000)}"}}`), 1),
  text("1,000 blocks", block('{"name": "f", "arguments": {}}').repeat(1000), 1000),
  text("a NUL byte in a string", block('{"name": "f", "arguments": {"a": "x\\u0000y"}}'), 1),
  text("a raw NUL byte (invalid in strict JSON)", block('{"name": "f", "arguments": {"a": "x\u0000y"}}'), 0),
  text("a lone surrogate escape", block('{"name": "f", "arguments": {"a": "\\ud800"}}'), 1),
  text("invalid \\u escape", block('{"name": "f", "arguments": {"a": "\\uZZZZ"}}'), 0),
  text("__proto__ as an argument name", block('{"name": "f", "arguments": {"__proto__": {"x": 1}}}'), 1, (r) =>
    expect(Object.keys(r.parse.calls[0]!.arguments)).toEqual(["__proto__"])
  ),
  text("constructor as a function name", block('{"name": "constructor", "arguments": {}}'), 1),
  text("NaN and Infinity literals", block('{"name": "f", "arguments": {"a": NaN, "b": -Infinity}}'), 1),
  text("a number beyond float range", block('{"name": "f", "arguments": {"a": 1e400}}'), 1),
  text("duplicate keys (the last wins, as json.loads)", block('{"name": "f", "arguments": {"a": 1, "a": 2}}'), 1, (r) =>
    expect(r.parse.calls[0]!.arguments.a).toBe(2)
  ),
  text("unclosed block at the end", '<tool_call>\n{"name": "f", "arguments": {}}', 1),
  text("close tag without open (bare JSON read, flagged)", '</tool_call>{"name": "f"}', 1),
  text("close tag inside a string", block('{"name": "f", "arguments": {"a": "</tool_call>"}}'), 1, (r) =>
    expect(r.parse.flags).toContain("close_tag_in_string")
  ),
  text("nested tool_call tags", `<tool_call>\n${block('{"name": "f", "arguments": {}}')}\n</tool_call>`, 1),
  text("think never closed", `<think> ${block('{"name": "f", "arguments": {}}')}`, 1),
  text("stop marker before the call", `<|im_end|>${block('{"name": "f", "arguments": {}}')}`, 0),
  text("only a stop marker", "<|endoftext|>", 0),
  text("Python call list", "[f(a=1), g(b='x')]", 2),
  text("Python call with 3,000 nested lists", `[f(a=${deep(3000)})]`, 0, pythonFails),
  text("Python call with 200 nested lists (CPython's limit)", `[f(a=${deep(200)})]`, 0, pythonFails),
  text("Python call with a NUL byte", "[f(a='x\u0000')]", 0, pythonFails),
  text("Python call with a huge exponent", "[f(a=10**1000000)]", 0, pythonFails),
  text("Python call dividing by zero", "[f(a=1/0)]", 0, pythonFails),
  text("Python call with a lambda", "[f(a=lambda: 1)]", 0, pythonFails),
  text("Python call with an unterminated string", "[f(a='x)]", 0, pythonFails),
  text("Python bytes and complex values", "[f(a=b'x', b=2j)]", 1, (r) => expect(r.python.ok).toBe(true)),
  text("Python %-formatting", "[f(a='%05.1f' % 2.25)]", 1, (r) =>
    expect(r.python.ok && r.python.calls[0]).toEqual({ f: { a: "002.2" } })
  ),
  text("a tuple argument stays a tuple for BFCL", "[f(a=(1, 2))]", 1),
  text("prose that looks like a call", "I would call f(a=1) if I could.", 0),
  text("a fenced JSON call without tags", '```json\n{"name": "f", "arguments": {"a": 1}}\n```', 1),
  text("binary noise", "\u0000\u0001\u0002\uffff\ud800", 0)
]

describe("hostile inputs: model output (parseToolCalls, bfclQwenDecode, bfclPythonDecode)", () => {
  hostileCases(
    cases,
    () => ({ text: "" }),
    async ({ text: t }) =>
      outcomeOf(() => ({ parse: parseToolCalls(t), qwen: bfclQwenDecode(t), python: bfclPythonDecode(t) }))
  )
})
