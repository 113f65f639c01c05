import { describe, expect, it } from "vitest"
import { isStrictFormat, PyFloat, parseToolCalls, strictCalls } from "../src/index.js"
import { toPlain } from "../src/json/pyjson.js"

const plainCalls = (calls: ReadonlyArray<{ name: string; arguments: unknown }>) =>
  calls.map((c) => ({ name: c.name, arguments: toPlain(c.arguments as never) }))

describe("parseToolCalls: the three formats", () => {
  it("Qwen2.5 native: one block per call, name + arguments", () => {
    const text =
      '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "lcm", "arguments": {"a": 4, "b": 6}}\n</tool_call>'
    const r = parseToolCalls(text)
    expect(plainCalls(r.calls)).toEqual([
      { name: "get_weather", arguments: { city: "Paris" } },
      { name: "lcm", arguments: { a: 4, b: 6 } }
    ])
    expect(r.blocks).toHaveLength(2)
    expect(r.issues).toEqual([])
    expect(strictCalls(r, "qwen")).toHaveLength(2)
    expect(isStrictFormat(r, "qwen")).toBe(true)
    expect(isStrictFormat(r, "toolrl")).toBe(false)
    expect(r.calls[0]?.flags).toEqual(["arguments_key"])
  })

  it("ToolRL: <think>, one block with one object per line, parameters, <response>", () => {
    const text =
      '<think> The user wants weather and an LCM. </think>\n<tool_call>\n{"name": "get_weather", "parameters": {"city": "Paris"}}\n{"name": "lcm", "parameters": {"a": 4, "b": 6}}\n</tool_call>\n<response> Checking. </response>'
    const r = parseToolCalls(text)
    expect(plainCalls(r.calls)).toEqual([
      { name: "get_weather", arguments: { city: "Paris" } },
      { name: "lcm", arguments: { a: 4, b: 6 } }
    ])
    expect(r.think).toEqual({ opened: true, closed: true, content: " The user wants weather and an LCM. " })
    expect(r.response).toBe("Checking.")
    expect(r.textOutside).toBe("")
    expect(r.calls[0]?.flags).toEqual(expect.arrayContaining(["several_values_in_block", "parameters_key"]))
    expect(strictCalls(r, "toolrl")).toHaveLength(2)
    expect(isStrictFormat(r, "toolrl")).toBe(true)
    expect(strictCalls(r, "qwen")).toHaveLength(0)
  })

  it("Tool-N1: one block holding a JSON array; [] means no call", () => {
    const r = parseToolCalls(
      '<think>two calls</think><tool_call>[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "lcm", "arguments": {"a": 1, "b": 2}}]</tool_call>'
    )
    expect(r.calls.map((c) => c.name)).toEqual(["get_weather", "lcm"])
    expect(r.calls[0]?.flags).toEqual(
      expect.arrayContaining(["array_in_block", "no_newline_after_open", "no_newline_before_close"])
    )
    expect(strictCalls(r, "tooln1")).toHaveLength(2)
    expect(isStrictFormat(r, "tooln1")).toBe(true)
    expect(strictCalls(r, "qwen")).toHaveLength(0)
    const empty = parseToolCalls("<think>nothing applies</think><tool_call>[]</tool_call>")
    expect(empty.calls).toHaveLength(0)
    expect(empty.issues).toHaveLength(0)
    expect(empty.blocks).toHaveLength(1)
  })

  it("keeps the float/int distinction of argument literals", () => {
    const r = parseToolCalls('<tool_call>\n{"name": "f", "arguments": {"x": 5.0, "y": 5}}\n</tool_call>')
    expect(r.calls[0]?.arguments.x).toBeInstanceOf(PyFloat)
    expect(r.calls[0]?.arguments.y).toBe(5)
  })
})

describe("parseToolCalls: leniencies, each flagged", () => {
  it("arguments given as a JSON string are decoded once", () => {
    const r = parseToolCalls(
      '<tool_call>\n{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}\n</tool_call>'
    )
    expect(plainCalls(r.calls)).toEqual([{ name: "get_weather", arguments: { city: "Paris" } }])
    expect(r.calls[0]?.flags).toContain("arguments_as_string")
    expect(strictCalls(r, "qwen")).toHaveLength(0)
  })

  it("missing newlines around the JSON", () => {
    const r = parseToolCalls('<tool_call>{"name": "lcm", "arguments": {"a": 1, "b": 2}}</tool_call>')
    expect(r.calls).toHaveLength(1)
    expect(r.calls[0]?.flags).toEqual(expect.arrayContaining(["no_newline_after_open", "no_newline_before_close"]))
    expect(strictCalls(r, "qwen")).toHaveLength(0)
    expect(strictCalls(r, "tooln1")).toHaveLength(1)
  })

  it("an unclosed final block (max tokens reached)", () => {
    const r = parseToolCalls('<tool_call>\n{"name": "lcm", "arguments": {"a": 1, "b": 2}}')
    expect(r.calls).toHaveLength(1)
    expect(r.blocks[0]?.closed).toBe(false)
    expect(r.calls[0]?.flags).toContain("unclosed_block")
    expect(strictCalls(r, "qwen")).toHaveLength(0)
  })

  it("an unclosed block cut inside the JSON is repaired", () => {
    const r = parseToolCalls('<tool_call>\n{"name": "lcm", "arguments": {"a": 1, "b": 2')
    expect(plainCalls(r.calls)).toEqual([{ name: "lcm", arguments: { a: 1, b: 2 } }])
    expect(r.calls[0]?.flags).toEqual(expect.arrayContaining(["unclosed_block", "repaired_json"]))
  })

  it("a block that is not closed before the next one", () => {
    const r = parseToolCalls(
      '<tool_call>\n{"name": "a", "arguments": {}}\n<tool_call>\n{"name": "b", "arguments": {}}\n</tool_call>'
    )
    expect(r.calls.map((c) => c.name)).toEqual(["a", "b"])
    expect(r.blocks.map((b) => b.closed)).toEqual([false, true])
    expect(strictCalls(r, "qwen").map((c) => c.name)).toEqual(["b"])
  })

  it("text around the calls is kept apart", () => {
    const r = parseToolCalls(
      'Sure, let me check.\n<tool_call>\n{"name": "lcm", "arguments": {"a": 1, "b": 2}}\n</tool_call>\nDone.'
    )
    expect(r.calls).toHaveLength(1)
    expect(r.textOutside).toBe("Sure, let me check.\nDone.")
    expect(isStrictFormat(r, "qwen")).toBe(true)
  })

  it("cuts at the first stop marker", () => {
    const r = parseToolCalls('no call<|im_end|><tool_call>\n{"name": "x", "arguments": {}}\n</tool_call>')
    expect(r.cutAt).toBe("<|im_end|>")
    expect(r.calls).toHaveLength(0)
  })

  it("an unclosed <think> ends at the first tool call; calls inside a closed think are ignored", () => {
    const open = parseToolCalls(
      '<think> I should call lcm <tool_call>\n{"name": "lcm", "arguments": {"a": 1, "b": 2}}\n</tool_call>'
    )
    expect(open.think?.closed).toBe(false)
    expect(open.calls).toHaveLength(1)
    const closed = parseToolCalls(
      '<think> maybe <tool_call>{"name": "x", "arguments": {}}</tool_call> </think>\nNo tool needed.'
    )
    expect(closed.calls).toHaveLength(0)
  })

  it("the OpenAI function shape", () => {
    const r = parseToolCalls(
      '<tool_call>\n{"type": "function", "function": {"name": "lcm", "arguments": {"a": 1, "b": 2}}}\n</tool_call>'
    )
    expect(r.calls[0]?.name).toBe("lcm")
    expect(r.calls[0]?.flags).toContain("openai_function_shape")
  })

  it("records a block it cannot read as an issue, never throws", () => {
    const r = parseToolCalls("<tool_call>\nI would call the weather tool here.\n</tool_call>")
    expect(r.calls).toHaveLength(0)
    expect(r.issues.length).toBeGreaterThan(0)
    expect(["invalid_json", "not_a_call"]).toContain(r.issues[0]?.kind)
    const empty = parseToolCalls("<tool_call>\n</tool_call>")
    expect(empty.issues.map((i) => i.kind)).toEqual(["empty_block"])
    const badArgs = parseToolCalls('<tool_call>\n{"name": "f", "arguments": [1, 2]}\n</tool_call>')
    expect(badArgs.issues.map((i) => i.kind)).toEqual(["bad_arguments"])
  })
})
