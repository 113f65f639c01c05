/**
 * BFCL's Python-call syntax: the decoder (hand-written cases, each checked against CPython 3.11 +
 * BFCL's `default_decode_ast_prompting` when it was written), its place in `parseToolCalls`, the
 * `python` format and the `bfcl-python` scorer, and a round trip over BFCL's own possible answers.
 */
import { findSharedDir, sharedMissingMessage } from "@crosscode/core"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import {
  BfclCategories,
  bfclAstScorer,
  bfclPythonDecode,
  builtinScorers,
  decodePythonCalls,
  type EvalItem,
  formatScorer,
  isStrictFormat,
  leniencies,
  loadBfcl,
  loadBfclCategory,
  type PyDict,
  PyFloat,
  type PythonCall,
  type PythonCallsDecode,
  type PyValue,
  parseToolCalls,
  pyJsonDumps,
  runScorers,
  strictCalls,
  type ToolSpec
} from "../src/index.js"
import { pyType } from "../src/json/pyjson.js"
import { findPythonCallLists, parsePythonCallList, pyLiteral, pythonCallsText } from "../src/parse/pythonCalls.js"
import { bfclJudge, possibleAnswerToCall, toBfclDecoded } from "../src/scorers/bfclAst.js"
import { runFiles } from "./files.js"
import { lcmItem, weatherItem } from "./fixtures/items.js"

const calls = (text: string, options?: { toolCallTag?: boolean }): ReadonlyArray<PythonCall> => {
  const r = decodePythonCalls(text, options)
  if (!r.ok) throw new Error(`expected a decode of ${JSON.stringify(text)}, got ${JSON.stringify(r.error)}`)
  return r.calls
}
const args = (text: string): PyDict => {
  const cs = calls(text)
  expect(cs).toHaveLength(1)
  return (cs[0] as PythonCall).arguments
}
const arg = (valueSource: string): PyValue => args(`[f(a=${valueSource})]`).a as PyValue
const failure = (r: PythonCallsDecode) => {
  if (r.ok) throw new Error(`expected a decode failure, got ${JSON.stringify(r.calls)}`)
  return r.error
}

describe("decodePythonCalls: BFCL's default_decode_ast_prompting", () => {
  it("reads a list of calls with keyword arguments, in order", () => {
    const cs = calls("[get_weather(city='Paris', unit='celsius'), lcm(a=5, b=10)]")
    expect(cs.map((c) => c.name)).toEqual(["get_weather", "lcm"])
    expect(cs[0]?.arguments).toEqual({ city: "Paris", unit: "celsius" })
    expect(cs[1]?.arguments).toEqual({ a: 5, b: 10 })
    expect(cs[1]?.raw).toBe("lcm(a=5, b=10)")
    expect(cs[1]?.positional).toEqual([])
    expect(cs[1]?.tupleAsList).toBe(false)
  })

  it("adds missing brackets: a bare call, several bare calls, an unclosed list", () => {
    expect(calls("f(a=1)").map((c) => c.name)).toEqual(["f"])
    expect(calls("f(a=1), g(b=2)").map((c) => c.name)).toEqual(["f", "g"])
    expect(calls("[f(a=1)").map((c) => c.name)).toEqual(["f"])
    expect(calls("[\nf(a=1),\n  g(b=[1,\n 2]),\n]").map((c) => c.name)).toEqual(["f", "g"])
    // A trailing comment and whitespace inside brackets are Python.
    expect(calls("[f(a=1)]  # done").map((c) => c.name)).toEqual(["f"])
    expect(calls("[ f ( a = 1 , ) ]").map((c) => c.name)).toEqual(["f"])
  })

  it("empty output and [] decode to no calls", () => {
    expect(calls("")).toEqual([])
    expect(calls("[]")).toEqual([])
    expect(calls("\n ``` \n")).toEqual([])
  })

  it("strips backticks, newlines and spaces only: plain fences pass, ```python fences fail (as in BFCL)", () => {
    expect(calls("`[f(a=1)]`")).toHaveLength(1)
    expect(calls("```\n[f(a=1)]\n```")).toHaveLength(1)
    expect(calls("\n\n[f(a=1)]\n\n")).toHaveLength(1)
    // "python\n[f(a=1)]" gets a "[" in front: the inner list is never closed.
    expect(failure(decodePythonCalls("```python\n[f(a=1)]\n```"))).toMatchObject({
      kind: "syntax",
      message: "SyntaxError: '[' was never closed",
      source: "[python\n[f(a=1)]"
    })
    // A tab is not stripped by BFCL: "[\t[f(a=1)]" is never closed either.
    expect(failure(decodePythonCalls("\t[f(a=1)]")).kind).toBe("syntax")
  })

  it("<TOOLCALL> wrapper: required with toolCallTag, a syntax error without", () => {
    const text = "Let me call it.\n<TOOLCALL>[f(a=1), g(b='x')]</TOOLCALL>"
    expect(calls(text, { toolCallTag: true }).map((c) => c.name)).toEqual(["f", "g"])
    expect(calls("<TOOLCALL>f(a=1), g(b=2)</TOOLCALL>", { toolCallTag: true })).toHaveLength(2)
    expect(failure(decodePythonCalls("[f(a=1)]", { toolCallTag: true }))).toMatchObject({
      kind: "no_tool_call_tag",
      message: "ValueError: No tool call tag found in input string"
    })
    expect(failure(decodePythonCalls("<TOOLCALL>[f(a=1)]</TOOLCALL>")).kind).toBe("syntax")
  })

  it("strings: commas, parentheses, brackets and quotes inside; escapes; prefixes; concatenation", () => {
    expect(arg("'Paris, France (FR) [x]'")).toBe("Paris, France (FR) [x]")
    expect(arg(`"it's"`)).toBe("it's")
    expect(arg(`'say "hi"'`)).toBe('say "hi"')
    expect(arg(`'a\\'b'`)).toBe("a'b")
    expect(arg(`'tab\\there\\nnew \\\\ back \\x41\\u00e9\\U0001F600\\101'`)).toBe("tab\there\nnew \\ back Aé😀A")
    expect(arg(`r'\\d+\\n'`)).toBe("\\d+\\n")
    expect(arg(`'''multi\nline "q" 'q' '''`)).toBe(`multi\nline "q" 'q' `)
    expect(arg(`"ab" 'cd'\n 'ef'`)).toBe("abcdef")
    expect(arg(`u'unicode é 日本'`)).toBe("unicode é 日本")
    expect(arg(`'unknown \\d escape'`)).toBe("unknown \\d escape")
    expect(args(`[f(a='x, y)', b=")]")]`)).toEqual({ a: "x, y)", b: ")]" })
  })

  it("\\N{name} escapes: names, any case, aliases and algorithmic names, as CPython 3.11 decodes them", () => {
    // expected values from CPython 3.11's ast.literal_eval
    expect(arg(`'\\N{BULLET} \\N{bullet}'`)).toBe("\u2022 \u2022")
    expect(arg(`'\\N{LF}'`)).toBe("\n") // an abbreviation alias
    expect(arg(`'\\N{LATIN CAPITAL LETTER GHA}'`)).toBe("\u01a2") // a correction alias
    expect(arg(`'\\N{CJK UNIFIED IDEOGRAPH-4E00}\\N{HANGUL SYLLABLE GA}'`)).toBe("\u4e00\uac00")
    expect(arg(`'\\N{EM DASH}x'`)).toBe("\u2014x")
    expect(arg(`r'\\N{BULLET}'`)).toBe("\\N{BULLET}") // raw: kept
    expect(arg(`b'\\N{BULLET}'`)).toMatchObject({ typeName: "bytes", repr: "b'\\\\N{BULLET}'" }) // bytes: kept
  })

  it("numbers: ints and floats stay distinct (5 is int, 5.0 float), as Python parses them", () => {
    const a = args("[f(a=5, b=5.0, c=1e3, d=1_000, e=0x1F, f=0o17, g=0b101, h=.5, i=5., j=1E-5, k=0, l=00, m=1e309)]")
    expect(Object.fromEntries(Object.entries(a).map(([k, v]) => [k, pyType(v)]))).toEqual({
      a: "int",
      b: "float",
      c: "float",
      d: "int",
      e: "int",
      f: "int",
      g: "int",
      h: "float",
      i: "float",
      j: "float",
      k: "int",
      l: "int",
      m: "float"
    })
    expect(pyJsonDumps(a)).toBe(
      '{"a": 5, "b": 5.0, "c": 1000.0, "d": 1000, "e": 31, "f": 15, "g": 5, "h": 0.5, "i": 5.0, "j": 1e-05, "k": 0, "l": 0, "m": Infinity}'
    )
    // inf and nan are names, not numbers.
    expect(args("[f(a=inf, b=float('nan'))]")).toEqual({ a: "inf", b: "float('nan')" })
  })

  it("negative numbers via UnaryOp, and BFCL's rule that negates the operand whatever the operator", () => {
    const a = args("[f(a=-5, b=-5.0, c=-0, d=-0.0, e=-1e309, f=-(5), g=-True)]")
    expect(pyJsonDumps(a)).toBe('{"a": -5, "b": -5.0, "c": 0, "d": -0.0, "e": -Infinity, "f": -5, "g": -1}')
    // resolve_ast_by_type returns -operand.value for every unary operator.
    expect(args("[f(a=+5, b=~5, c=not True, d=not 0)]")).toEqual({ a: -5, b: -5, c: -1, d: 0 })
    expect(failure(decodePythonCalls("[f(a=-x)]"))).toMatchObject({
      kind: "eval_error",
      message: "AttributeError: 'Name' object has no attribute 'value'"
    })
    expect(failure(decodePythonCalls("[f(a=--5)]")).kind).toBe("eval_error")
    expect(failure(decodePythonCalls("[f(a=-'s')]")).message).toBe("TypeError: bad operand type for unary -: 'str'")
  })

  it("lists, nested dicts, tuples (read as lists, and said so), True/False/None", () => {
    const cs = calls("[f(a=[1, 2, [3.0, 'x']], b={'k': [1, {'z': None}], 'n': {'m': True}}, c=False)]")
    expect(pyJsonDumps(cs[0]?.arguments as PyDict)).toBe(
      '{"a": [1, 2, [3.0, "x"]], "b": {"k": [1, {"z": null}], "n": {"m": true}}, "c": false}'
    )
    expect(cs[0]?.tupleAsList).toBe(false)
    const t = calls("[f(a=(1, 2), b=(), c=(1,))]")[0] as PythonCall
    expect(t.arguments).toEqual({ a: [1, 2], b: [], c: [1] })
    expect(t.tupleAsList).toBe(true)
    expect(arg("(1)")).toBe(1) // parentheses, not a tuple
    expect(arg("{}")).toEqual({})
  })

  it("dict keys that are not strings are kept, unmatchable, with Python's key equality", () => {
    expect(arg("{1: 'x', 'b': 2, None: 3, (1, 'a'): 4}")).toEqual({
      "\u00001": "x",
      b: 2,
      "\u0000None": 3,
      "\u0000(1, 'a')": 4
    })
    expect(arg("{1: 'x', 1.0: 'y', True: 'z'}")).toEqual({ "\u00001": "z" })
    expect(failure(decodePythonCalls("[f(a={[1]: 3})]")).message).toBe("TypeError: unhashable type: 'list'")
    expect(failure(decodePythonCalls("[f(a={**d})]")).kind).toBe("unsupported_value")
  })

  it("dotted function names, and BFCL's attribute-chain rule", () => {
    expect(calls("[math.sqrt(x=4), a.b.c.d(y=1)]").map((c) => c.name)).toEqual(["math.sqrt", "a.b.c.d"])
    // A base that is not a plain name is dropped, as resolve_ast_call does.
    expect(calls("[f().g(a=1)]")[0]?.name).toBe("g")
    expect(calls("[x[0](a=1)]")[0]?.name).toBe("")
  })

  it("names, nested calls and subscripts become source text as ast.unparse prints it", () => {
    expect(args("[f(a=x, b=true, c=null, d=...)]")).toEqual({ a: "x", b: "true", c: "null", d: "..." })
    expect(arg("math.sqrt( 4 )")).toBe("math.sqrt(4)")
    expect(arg("g( 1 ,2 )")).toBe("g(1, 2)")
    expect(arg('g("x", y)')).toBe("g('x', y)")
    expect(arg("g(2**-1, (1+2)*3, a and not b)")).toBe("g(2 ** (-1), (1 + 2) * 3, a and (not b))")
    expect(arg("g('it\\'s', 1e16, 1 .real)")).toBe(`g("it's", 1e+16, 1 .real)`)
    expect(arg("x[0]")).toBe("x[0]")
    expect(arg("x['k'][1:2]")).toBe("x['k'][1:2]")
    expect(arg("x[1, 2]")).toBe("x[(1, 2)]") // BFCL unparses the slice on its own
    // A call WITH keyword arguments is a nested call.
    expect(arg("g(1, x=2, y='z')")).toEqual({ g: { x: 2, y: "z" } })
  })

  it("binary operations are evaluated, as BFCL's eval does", () => {
    expect(
      args("[f(a=1+2, b=2*3.0, c=1/2, d=7//2, e=-7//2, f=7%-3, g=2**10, h=2**-1, i='a'+'b', j='ab'*2, k=[0]*3)]")
    ).toEqual({
      a: 3,
      b: new PyFloat(6),
      c: new PyFloat(0.5),
      d: 3,
      e: -4,
      f: -2,
      g: 1024,
      h: new PyFloat(0.5),
      i: "ab",
      j: "abab",
      k: [0, 0, 0]
    })
    expect(pyType(arg("2*3.0"))).toBe("float")
    expect(pyType(arg("True+True"))).toBe("int")
    expect(arg("True&False")).toBe(false)
    expect(failure(decodePythonCalls("[f(a=1/0)]")).message).toBe("ZeroDivisionError: division by zero")
    expect(failure(decodePythonCalls("[f(a='a'-1)]")).kind).toBe("eval_error")
    // BFCL's eval would raise NameError for most names (builtins aside): not reproduced, said so.
    expect(failure(decodePythonCalls("[f(a=x+1)]")).kind).toBe("port_limitation")
  })

  it("positional arguments are ignored, as BFCL does, and reported", () => {
    const c = calls("[f(1, 'two', a=3)]")[0] as PythonCall
    expect(c.arguments).toEqual({ a: 3 })
    expect(c.positional).toEqual(["1", "'two'"])
    expect(calls("[f(1)]")[0]?.arguments).toEqual({})
    // A repeated keyword keeps the last value (Python's parser accepts it; the dict overwrites).
    expect(calls("[f(a=1, a=2)]")[0]?.arguments).toEqual({ a: 2 })
    // **kwargs is stored under the key None, which no parameter matches.
    expect(calls("[f(**{'a': 1})]")[0]?.arguments).toEqual({ "\u0000None": { a: 1 } })
  })

  it("malformed input is a typed failure naming the position and the reason", () => {
    const cases: Array<[string, string, number, string]> = [
      ["[f(a=)]", "syntax", 5, "SyntaxError: invalid syntax"],
      ["[f(a=1) g(b=2)]", "syntax", 8, "SyntaxError: invalid syntax"],
      ["[f(a=1, 2)]", "syntax", 8, "SyntaxError: positional argument follows keyword argument"],
      ["[f(a='unterminated)]", "syntax", 5, "SyntaxError: unterminated string literal"],
      [
        "[f(a=01)]",
        "syntax",
        5,
        "SyntaxError: leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers"
      ],
      ["[f(a=1)]]", "syntax", 8, "SyntaxError: unmatched ']'"],
      // Positions are offsets in the parsed source: here "[f(a=1]" after BFCL added the brackets.
      ["f(a=1", "syntax", 6, "SyntaxError: closing parenthesis ']' does not match opening parenthesis '('"],
      ["I cannot help with that.", "syntax", 3, "SyntaxError: invalid syntax"],
      ["Sure! [f(a=1)]", "syntax", 5, "SyntaxError: invalid character '!' (U+0021)"],
      ["[1, 2]", "not_a_call", 1, "AssertionError: element is an ast.Constant, not a call"],
      ["[f, g]", "not_a_call", 1, "AssertionError: element is an ast.Name, not a call"],
      ["{'name': 'f'}", "not_a_call", 1, "AssertionError: element is an ast.Dict, not a call"],
      ["[f(a=x.y)]", "unsupported_value", 5, "Exception: Unsupported AST type: <class 'ast.Attribute'>"],
      ["[f(a=1 < 2)]", "unsupported_value", 5, "Exception: Unsupported AST type: <class 'ast.Compare'>"],
      ["[f(a={1, 2})]", "unsupported_value", 5, "Exception: Unsupported AST type: <class 'ast.Set'>"],
      [
        "[f(a='x\\N{NOT A NAME}')]",
        "syntax",
        7,
        "SyntaxError: (unicode error) 'unicodeescape' codec can't decode bytes: unknown Unicode character name"
      ],
      [
        "[f(a='\\N{')]",
        "syntax",
        6,
        "SyntaxError: (unicode error) 'unicodeescape' codec can't decode bytes: malformed \\N character escape"
      ],
      [
        "[f(a='\\NX')]",
        "syntax",
        6,
        "SyntaxError: (unicode error) 'unicodeescape' codec can't decode bytes: malformed \\N character escape"
      ],
      [
        "[f(a='\\N{}')]",
        "syntax",
        6,
        "SyntaxError: (unicode error) 'unicodeescape' codec can't decode bytes: malformed \\N character escape"
      ],
      [
        "[f(a='\\N{', b='}')]",
        "syntax",
        6,
        "SyntaxError: (unicode error) 'unicodeescape' codec can't decode bytes: malformed \\N character escape"
      ],
      ["[f(a=[x for x in y])]", "port_limitation", 8, "comprehensions and generator expressions are not supported"]
    ]
    for (const [text, kind, pos, message] of cases) {
      const e = failure(decodePythonCalls(text))
      expect({ text, kind: e.kind, pos: e.pos, message: e.message }).toEqual({ text, kind, pos, message })
      expect(e._tag).toBe("PythonCallsDecodeError")
    }
    // Two statements are not one expression.
    expect(failure(decodePythonCalls("[f(a=1)]\n[g(b=1)]")).kind).toBe("syntax")
  })

  it("parsePythonCallList parses as given (no brackets added); findPythonCallLists finds lists in prose", () => {
    expect(parsePythonCallList("f(a=1)").ok).toBe(true)
    // ast_parse strips wrapping ' characters; default_decode_ast_prompting adds brackets first, so
    // there the quotes survive and the list holds a string.
    expect(parsePythonCallList("'[f(a=1)]'").ok).toBe(true)
    expect(failure(decodePythonCalls("'[f(a=1)]'")).kind).toBe("not_a_call")
    const text = "First [lcm(a=1, b=2)], then `[f(x='a]b'), g()]` and [not a call] or [h(]."
    const found = findPythonCallLists(text)
    expect(found.map((l) => text.slice(l.start, l.end))).toEqual(["[lcm(a=1, b=2)]", "[f(x='a]b'), g()]"])
  })
})

describe("pyLiteral / pythonCallsText", () => {
  it("write Python literals that decode back to the same value and type", () => {
    const values: Array<PyValue> = [
      "plain",
      "it's",
      'say "hi"',
      `both ' and "`,
      "back\\slash\nnew\ttab\r\u0000\u007f\u00a0\u200bé😀",
      5,
      -5,
      0,
      new PyFloat(5),
      new PyFloat(-0),
      new PyFloat(1e-5),
      new PyFloat(1.5e300),
      new PyFloat(Number.POSITIVE_INFINITY),
      new PyFloat(Number.NEGATIVE_INFINITY),
      1e21,
      true,
      false,
      null,
      [],
      [1, [new PyFloat(2), "x"], { k: null }],
      { a: { b: [1] }, "weird key": "v", "\u00001": "int key" }
    ]
    for (const v of values) {
      const back = arg(pyLiteral(v))
      expect(pyJsonDumps(back), pyLiteral(v)).toBe(pyJsonDumps(v))
    }
    const nan = arg(pyLiteral(new PyFloat(Number.NaN)))
    expect(nan instanceof PyFloat && Number.isNaN(nan.value)).toBe(true)
    expect(pyLiteral("it's")).toBe(`"it's"`)
    expect(pyLiteral(new PyFloat(5))).toBe("5.0")
  })

  it("pythonCallsText writes BFCL's call list; a non-identifier argument name is an error", () => {
    expect(
      pythonCallsText([
        { name: "math.hypot", arguments: { x: 3, y: new PyFloat(4) } },
        { name: "g", arguments: {} }
      ])
    ).toBe("[math.hypot(x=3, y=4.0), g()]")
    expect(() => pythonCallsText([{ name: "f", arguments: { "not-ok": 1 } }])).toThrow(RangeError)
    expect(() => pythonCallsText([{ name: "f", arguments: { from: 1 } }])).toThrow(RangeError)
  })
})

describe("parseToolCalls: Python-call syntax as a flagged fallback", () => {
  it("the whole text as BFCL reads it: strict for the python format only", () => {
    const r = parseToolCalls("[get_weather(city='Paris'), lcm(a=5, b=10)]")
    expect(r.calls.map((c) => [c.name, c.block, c.flags])).toEqual([
      ["get_weather", -1, ["python_call_syntax"]],
      ["lcm", -1, ["python_call_syntax"]]
    ])
    expect(r.textOutside).toBe("")
    expect(strictCalls(r, "python")).toHaveLength(2)
    expect(isStrictFormat(r, "python")).toBe(true)
    for (const f of ["qwen", "toolrl", "tooln1"] as const) {
      expect(strictCalls(r, f)).toEqual([])
      expect(isStrictFormat(r, f)).toBe(false)
      expect(leniencies(r.calls[0] as (typeof r.calls)[0], f)).toEqual(["python_call_syntax"])
    }
  })

  it("after a think, as BFCL's Qwen prompting handler splits it", () => {
    const r = parseToolCalls("<think>I should call f.</think>\n\n[f(a=1)]<|im_end|>")
    expect(r.calls.map((c) => c.name)).toEqual(["f"])
    expect(isStrictFormat(r, "python")).toBe(true)
  })

  it("<TOOLCALL>, fences and lists amid text are read, flagged, and not strict", () => {
    const tag = parseToolCalls("Calling now. <TOOLCALL>[f(a=1)]</TOOLCALL>")
    expect(tag.calls[0]?.flags).toEqual(["python_call_syntax", "python_toolcall_tag"])
    expect(tag.textOutside).toBe("Calling now.")
    const fence = parseToolCalls("Here you go:\n```python\n[f(a=1)]\n```\nDone.")
    expect(fence.calls[0]?.flags).toEqual(["python_call_syntax", "python_fenced"])
    expect(fence.textOutside).toBe("Here you go:\nDone.")
    const prose = parseToolCalls("Sure: [f(a='x, y')] should do it.")
    expect(prose.calls[0]?.flags).toEqual(["python_call_syntax", "python_in_text"])
    expect(prose.calls[0]?.arguments).toEqual({ a: "x, y" })
    expect(prose.textOutside).toBe("Sure:\nshould do it.")
    for (const r of [tag, fence, prose]) {
      expect(strictCalls(r, "python")).toEqual([])
      expect(isStrictFormat(r, "python")).toBe(false)
      expect(leniencies(r.calls[0] as (typeof r.calls)[0], "python")).toHaveLength(1)
    }
  })

  it("positional arguments and tuples are flagged; the python format allows them (BFCL reads them so)", () => {
    const r = parseToolCalls("[f(1, a=(1, 2))]")
    expect(r.calls[0]?.flags).toEqual(["python_call_syntax", "python_positional_args", "python_tuple_as_list"])
    expect(r.calls[0]?.arguments).toEqual({ a: [1, 2] })
    expect(isStrictFormat(r, "python")).toBe(true)
  })

  it("only without <tool_call> blocks; JSON fallbacks still work; dict args with a 'name' key stay Python", () => {
    const both = parseToolCalls('<tool_call>\n{"name": "g", "arguments": {}}\n</tool_call>\n[f(a=1)]')
    expect(both.calls.map((c) => c.name)).toEqual(["g"])
    const json = parseToolCalls('{"name": "f", "arguments": {"a": 1}}')
    expect(json.calls[0]?.flags).toContain("outside_block_bare_json")
    const dictArg = parseToolCalls(`Sure: [add_person(person={"name": "Ann", "age": 3})]`)
    expect(dictArg.calls.map((c) => c.name)).toEqual(["add_person"])
    expect(dictArg.calls[0]?.arguments).toEqual({ person: { name: "Ann", age: 3 } })
  })

  it("no call: prose and [] (no issue); a failed attempt gets an issue with position and reason", () => {
    for (const text of ["I cannot help with that.", "[]", "", "The answer is [1, 2]."]) {
      const r = parseToolCalls(text)
      expect(r.calls).toEqual([])
      expect(r.issues).toEqual([])
    }
    const bad = parseToolCalls("[f(a=1, b=)]")
    expect(bad.calls).toEqual([])
    expect(bad.issues).toEqual([
      {
        kind: "invalid_python_calls",
        block: -1,
        message: 'syntax at 10 of "[f(a=1, b=)]": SyntaxError: invalid syntax'
      }
    ])
    expect(parseToolCalls("<TOOLCALL>[f(a=x.y)]</TOOLCALL>").issues[0]?.message).toContain(
      "Unsupported AST type: <class 'ast.Attribute'>"
    )
  })
})

const run = (scorer: ReturnType<typeof bfclAstScorer>, item: EvalItem, response: string) =>
  Effect.runSync(runScorers([scorer], { item, prompt: "", response, parse: parseToolCalls(response) }))

describe("scorers: the python target format", () => {
  it("bfcl-python: official = BFCL's prompting decoder, strict = python reader", () => {
    const scorer = bfclAstScorer({ format: "python" })
    expect(scorer.metrics[0]?.description).toContain("prompting")
    const ok = run(scorer, weatherItem, "[get_weather(city='Paris, France')]")
    expect(ok.metrics).toEqual({ "bfcl.ast_official": true, "bfcl.ast_strict": true, "bfcl.ast_lenient": true })
    const fenced = run(scorer, weatherItem, "```python\n[get_weather(city='Paris')]\n```")
    expect(fenced.metrics).toEqual({ "bfcl.ast_official": false, "bfcl.ast_strict": false, "bfcl.ast_lenient": true })
    expect(JSON.stringify(fenced.details.bfcl)).toContain("ast_decoder:decoder_failed")
    // The Qwen reader does not read Python calls.
    const qwen = run(bfclAstScorer(), lcmItem, "[lcm(a=5, b=10)]")
    expect(qwen.metrics).toEqual({ "bfcl.ast_official": false, "bfcl.ast_strict": false, "bfcl.ast_lenient": true })
    // 5.0 for an integer parameter is a type error, as in BFCL.
    expect(run(scorer, lcmItem, "[lcm(a=5.0, b=10)]").metrics["bfcl.ast_official"]).toBe(false)
    expect(bfclPythonDecode("<think>x</think>\n[lcm(a=5, b=10)]")).toEqual({
      ok: true,
      calls: [{ lcm: { a: 5, b: 10 } }]
    })
    expect(bfclPythonDecode("<TOOLCALL>[lcm(a=5, b=10)]</TOOLCALL>", { toolCallTag: true }).ok).toBe(true)
  })

  it("registry names and the format scorer", () => {
    expect(Object.keys(builtinScorers)).toEqual(
      expect.arrayContaining(["bfcl-python", "format-python", "exact-python"])
    )
    const f = formatScorer({ primary: "python" })
    expect(f.metrics.map((m) => m.name)).toContain("strict_format_python")
    expect(formatScorer().metrics.map((m) => m.name)).not.toContain("strict_format_python")
    const out = Effect.runSync(
      runScorers([f], {
        item: lcmItem,
        prompt: "",
        response: "[lcm(a=5, b=10)]",
        parse: parseToolCalls("[lcm(a=5, b=10)]")
      })
    )
    expect(out.metrics).toMatchObject({ "format.strict_format_python": true, "format.leniency_used": false })
  })
})

// ---------------------------------------------------------------------------------------------
// BFCL's own data: every possible answer, written as Python calls, decodes and scores 100%
// ---------------------------------------------------------------------------------------------

const shared = findSharedDir()
const bfclDir = shared !== undefined ? `${shared}/data/bfcl` : undefined

describe.skipIf(bfclDir === undefined)(
  `BFCL v4 data, Python-call round trip ${bfclDir === undefined ? sharedMissingMessage : ""}`,
  () => {
    const scorer = bfclAstScorer({ format: "python" })
    const callCategories = BfclCategories.filter((c) => c !== "irrelevance")

    it("possible answers rendered as Python source decode to the same values and score 100%", async () => {
      const items = await runFiles(loadBfcl(bfclDir as string, callCategories))
      expect(items).toHaveLength(1000)
      const failures: Array<string> = []
      let checkedCalls = 0
      for (const item of items) {
        if (item.expected._tag !== "Bfcl") continue
        const expected = item.expected.possibleAnswers.map((a) => possibleAnswerToCall(a, item.tools))
        const text = pythonCallsText(expected)
        const decoded = decodePythonCalls(text)
        if (!decoded.ok) {
          failures.push(`${item.id} decode: ${decoded.error.message}`)
          continue
        }
        // Same names, same values, same int/float types (pyJsonDumps writes 5 and 5.0 differently).
        const got = decoded.calls.map((c) => pyJsonDumps({ [c.name]: c.arguments }))
        const want = expected.map((c) => pyJsonDumps({ [c.name]: c.arguments }))
        if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${item.id} values: ${got} vs ${want}`)
        checkedCalls += decoded.calls.length
        const judged = bfclJudge(item, { ok: true, calls: toBfclDecoded(decoded.calls) })
        if (!judged.valid) failures.push(`${item.id} judge: ${judged.errorType} ${judged.error.join(" ")}`)
        const m = run(scorer, item, text).metrics
        if (!(m["bfcl.ast_official"] && m["bfcl.ast_strict"] && m["bfcl.ast_lenient"])) {
          failures.push(`${item.id} scorer ${JSON.stringify(m)}`)
        }
        // Wrapped in <TOOLCALL>, fenced, or amid prose: lenient only; BFCL's default decoder fails.
        for (const wrapped of [
          `<TOOLCALL>${text}</TOOLCALL>`,
          `\`\`\`python\n${text}\n\`\`\``,
          `Here are the calls: ${text} Done.`
        ]) {
          const w = run(scorer, item, wrapped).metrics
          if (!(w["bfcl.ast_official"] === false && w["bfcl.ast_strict"] === false && w["bfcl.ast_lenient"])) {
            failures.push(`${item.id} wrapped ${JSON.stringify(wrapped.slice(0, 20))} ${JSON.stringify(w)}`)
          }
        }
        const tagged = bfclPythonDecode(`<TOOLCALL>${text}</TOOLCALL>`, { toolCallTag: true })
        if (!tagged.ok || !bfclJudge(item, tagged).valid) failures.push(`${item.id} toolCallTag`)
      }
      expect(failures).toEqual([])
      expect(checkedCalls).toBeGreaterThan(1500)
    })

    it("irrelevance: non-call text and [] are 'no call'; a decodable call fails", async () => {
      const items = await runFiles(loadBfclCategory(bfclDir as string, "irrelevance"))
      expect(items).toHaveLength(240)
      for (const item of items) {
        for (const text of ["I cannot help with that using these tools.", "[]", ""]) {
          const m = run(scorer, item, text).metrics
          expect(m, `${item.id} ${text}`).toEqual({
            "bfcl.ast_official": true,
            "bfcl.ast_strict": true,
            "bfcl.ast_lenient": true
          })
        }
        const tool = item.tools[0] as ToolSpec
        const m = run(scorer, item, `[${tool.name}()]`).metrics
        expect(m["bfcl.ast_official"], item.id).toBe(false)
      }
    })
  }
)
