/**
 * Issue 15 item 9: BFCL's Python-call decoding and AST checker, where this port differed from
 * CPython. Expected values were produced by CPython 3.11 (`eval` of each expression).
 */
import { describe, expect, it } from "vitest"
import { type BfclDecode, bfclPythonDecode, type EvalItem, pyRepr } from "../src/index.js"
import { isPyTuple, pyType } from "../src/json/pyjson.js"
import { bfclJudge } from "../src/scorers/bfclAst.js"

/** [Python expression, its value or the exception CPython raises]. */
const PERCENT: ReadonlyArray<readonly [string, string | { readonly error: string }]> = [
  ["'%s km' % 5", "5 km"],
  ["'%d-%05.2f|%r' % (3.7, 2.5, 'q')", "3-02.50|'q'"],
  ["'%x %X %#o %#x' % (255, 255, 8, 255)", "ff FF 0o10 0xff"],
  ["'%+d % d %-5d|' % (3, 4, 5)", "+3  4 5    |"],
  ["'%e' % 12345.678", "1.234568e+04"],
  ["'%.3E' % 0.000123", "1.230E-04"],
  ["'%g %g %g %g' % (0.0001, 123456789.0, 1.5, 100.0)", "0.0001 1.23457e+08 1.5 100"],
  ["'%G' % 1e-10", "1E-10"],
  ["'%.2s|%5s|%-5s|' % ('abcdef', 'ab', 'cd')", "ab|   ab|cd   |"],
  ["'%c%c' % (65, 'z')", "Az"],
  ["'100%%' % ()", "100%"],
  ["'%s' % (1, 2)", { error: "TypeError: not all arguments converted during string formatting" }],
  ["'%s %s' % (None, True)", "None True"],
  ["'%r' % [1, 'a']", "[1, 'a']"],
  ["'%05d' % -42", "-0042"],
  ["'%f' % 1e309", "inf"],
  ["'%.0f %.1f' % (2.5, 0.25)", "2 0.2"],
  ["'%i' % True", "1"],
  ["'%010.3f' % -3.14159", "-00003.142"],
  ["'%s' % '%s'", "%s"],
  ["'%s %s' % 1", { error: "TypeError: not enough arguments for format string" }],
  ["'%s' % (1, 2)", { error: "TypeError: not all arguments converted during string formatting" }],
  ["'%d' % 'x'", { error: "TypeError: %d format: a real number is required, not str" }],
  ["'%x' % 1.5", { error: "TypeError: %x format: an integer is required, not float" }],
  ["'%z' % 1", { error: "ValueError: unsupported format character 'z' (0x7a) at index 1" }],
  ["'abc' % 5", { error: "TypeError: not all arguments converted during string formatting" }],
  ["'%' % 1", { error: "ValueError: incomplete format" }],
  ["'%.0f %.1f %.2f' % (0.5, 0.35, 1.005)", "0 0.3 1.00"],
  ["'%.0e %.1e' % (2.5, 1.25)", "2e+00 1.2e+00"],
  ["'%g %g' % (1e23, 0.00001234)", "1e+23 1.234e-05"],
  ["'%#g %.3g' % (1.5, 1234.5)", "1.50000 1.23e+03"],
  ["'%5.1f|%-8.2e|' % (3.14159, 31415.9)", "  3.1|3.14e+04|"],
  ["'% 05d|%+.2f' % (7, -0.0)", " 0007|-0.00"]
]

const argOf = (d: BfclDecode) => {
  if (!d.ok) throw new Error(d.error)
  return Object.values(d.calls[0]!)[0] as Record<string, never>
}

describe("%-formatting as CPython computes it", () => {
  for (const [src, expected] of PERCENT) {
    it(src, () => {
      const d = bfclPythonDecode(`[f(a=${src})]`)
      if (typeof expected === "string") expect(argOf(d).a).toBe(expected)
      else {
        expect(d.ok).toBe(false)
        if (!d.ok) expect(d.error).toContain(expected.error)
      }
    })
  }
})

const tool = (type: string) => ({
  name: "f",
  description: "",
  parameters: { type: "dict", properties: { a: { type, items: { type: "integer" } } }, required: ["a"] }
})
const item = (type: string, category = "simple"): EvalItem => ({
  id: "x",
  source: "bfcl",
  category,
  messages: [{ role: "user", content: "?" }],
  tools: [tool(type)],
  expected: { _tag: "Bfcl", possibleAnswers: [{ f: { a: [[1, 2]] } }] }
})

describe("values BFCL keeps and its type check rejects", () => {
  it("a tuple for an array parameter is type_error:simple (BFCL rejects, a list passes)", () => {
    const tuple = bfclJudge(item("array"), bfclPythonDecode("[f(a=(1, 2))]"))
    expect(tuple.valid).toBe(false)
    expect(tuple.errorType).toBe("type_error:simple")
    expect(tuple.error.join(" ")).toContain("got tuple. Parameter value: (1, 2).")
    expect(bfclJudge(item("array"), bfclPythonDecode("[f(a=[1, 2])]")).valid).toBe(true)
    expect(bfclJudge(item("tuple"), bfclPythonDecode("[f(a=(1, 2))]")).valid).toBe(false)
    const d = bfclPythonDecode("[f(a=(1,))]")
    expect(isPyTuple(argOf(d).a)).toBe(true)
    expect(pyRepr(argOf(d).a)).toBe("(1,)")
  })

  it("bytes and complex literals decode (a call was made) and fail the type check", () => {
    for (const [src, type, repr] of [
      ["b'x\\x00y'", "bytes", "b'x\\x00y'"],
      ["1j", "complex", "1j"],
      ["-2.5j", "complex", "(-0-2.5j)"]
    ] as const) {
      const d = bfclPythonDecode(`[f(a=${src})]`)
      expect(pyType(argOf(d).a)).toBe(type)
      expect(pyRepr(argOf(d).a)).toBe(repr)
      expect(bfclJudge(item("array"), d).errorType).toBe("type_error:simple")
      // An irrelevance item: BFCL decodes a call, so the item fails (it passed as a port limitation before).
      expect(bfclJudge(item("array", "irrelevance"), d).valid).toBe(false)
    }
  })

  it("identifiers are NFKC-normalised as in CPython (the ligature ﬁ is fi)", () => {
    const d = bfclPythonDecode("[\ufb01nd(\ufb01le=1)]")
    expect(d.ok && d.calls).toEqual([{ find: { file: 1 } }])
  })

  it("a NUL byte in the source is a decode failure (CPython: source code string cannot contain null bytes)", () => {
    const d = bfclPythonDecode("[f(a='x\u0000')]")
    expect(d.ok).toBe(false)
    if (!d.ok) expect(d.error).toContain("null bytes")
    expect(bfclJudge(item("array", "irrelevance"), d).valid).toBe(true)
  })
})
