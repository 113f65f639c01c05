import { describe, expect, it } from "vitest"
import { PyFloat, pyJsonDumps, pyJsonLoads, pyRepr } from "../src/index.js"
import {
  fromPlain,
  parseJsonPrefix,
  pyDumpString,
  pyEquals,
  pyFloatRepr,
  pyStrip,
  pyType,
  toPlain
} from "../src/json/pyjson.js"

const loads = (s: string) => {
  const r = pyJsonLoads(s)
  if (!r.ok) throw new Error(r.message)
  return r.value
}

describe("pyJsonLoads (CPython json.loads)", () => {
  it("keeps int vs float literals apart", () => {
    const v = loads('{"a": 5, "b": 5.0, "c": 1e3, "d": -0, "e": 2.5}') as Record<string, unknown>
    expect(pyType(v.a as number)).toBe("int")
    expect(v.b).toBeInstanceOf(PyFloat)
    expect((v.b as PyFloat).value).toBe(5)
    expect(v.c).toBeInstanceOf(PyFloat)
    expect(v.d).toBe(0)
    expect(pyType(v.e as PyFloat)).toBe("float")
  })

  it("accepts NaN/Infinity and surrounding whitespace, rejects trailing data", () => {
    expect(Number.isNaN((loads(" NaN ") as PyFloat).value)).toBe(true)
    expect((loads("-Infinity") as PyFloat).value).toBe(Number.NEGATIVE_INFINITY)
    const r = pyJsonLoads('{"a": 1} {"b": 2}')
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.message).toContain("Extra data")
  })

  it("rejects what strict json.loads rejects", () => {
    for (const bad of ['{"a": 1,}', "{'a': 1}", '{"a": "x\ny"}', "[1, 2", "01", '{"a" 1}', '"\\x"', "tru"]) {
      expect(pyJsonLoads(bad).ok, bad).toBe(false)
    }
  })

  it("decodes escapes including surrogate pairs", () => {
    expect(loads('"\\u00e9\\n\\t\\"\\\\\\/\\ud83d\\ude00"')).toBe('é\n\t"\\/😀')
  })

  it("stores a __proto__ key as data", () => {
    const v = loads('{"__proto__": {"x": 1}}') as Record<string, unknown>
    expect(Object.keys(v)).toEqual(["__proto__"])
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype)
  })

  it("parseJsonPrefix reports where a value ends", () => {
    const r = parseJsonPrefix('  {"a": [1, 2]}\n{"b": 3}', 0)
    expect(r.ok && r.end).toBe(15)
  })
})

describe("pyJsonDumps (CPython json.dumps)", () => {
  it("matches Python's default output", () => {
    // python3: json.dumps({"a": 1.0, "b": [1, 2.5], "c": "é±\n\"x\x7f", "d": None, "e": True})
    const v = { a: new PyFloat(1), b: [1, new PyFloat(2.5)], c: 'é±\n"x\u007f', d: null, e: true }
    expect(pyJsonDumps(v)).toBe('{"a": 1.0, "b": [1, 2.5], "c": "\\u00e9\\u00b1\\n\\"x\\u007f", "d": null, "e": true}')
  })

  it("sorts keys by code point and keeps non-ASCII with ensureAscii false", () => {
    // python3: json.dumps({"b": 1, "a": {"z": 1, "é": 2, "A": 3}}, sort_keys=True, ensure_ascii=False)
    expect(pyJsonDumps({ b: 1, a: { z: 1, é: 2, A: 3 } }, { sortKeys: true, ensureAscii: false })).toBe(
      '{"a": {"A": 3, "z": 1, "é": 2}, "b": 1}'
    )
  })

  it("prints floats like Python's repr", () => {
    const cases: Array<[number, string]> = [
      [1, "1.0"],
      [1e16, "1e+16"],
      [1e15, "1000000000000000.0"],
      [1e-5, "1e-05"],
      [0.0001, "0.0001"],
      [123456789.123, "123456789.123"],
      [-0, "-0.0"],
      [1.5e-7, "1.5e-07"],
      [3.14, "3.14"],
      [2.5e20, "2.5e+20"],
      [1e22, "1e+22"],
      [0.1, "0.1"],
      [100, "100.0"],
      [1234567890123456.8, "1234567890123456.8"]
    ]
    for (const [x, s] of cases) expect(pyFloatRepr(x), String(x)).toBe(s)
  })

  it("escapes strings like encode_basestring", () => {
    expect(pyDumpString("a\u0001b", false)).toBe('"a\\u0001b"')
    expect(pyDumpString("ü", true)).toBe('"\\u00fc"')
    expect(pyDumpString("ü", false)).toBe('"ü"')
  })
})

describe("Python value semantics", () => {
  it("pyEquals: numbers by value across bool/int/float, containers structurally", () => {
    expect(pyEquals(5, new PyFloat(5))).toBe(true)
    expect(pyEquals(true, 1)).toBe(true)
    expect(pyEquals("5", 5)).toBe(false)
    expect(pyEquals(null, 0)).toBe(false)
    expect(pyEquals({ a: [1, 2] }, { a: [1, new PyFloat(2)] })).toBe(true)
    expect(pyEquals({ a: 1 }, { a: 1, b: 2 })).toBe(false)
    expect(pyEquals([1, 2], [2, 1])).toBe(false)
  })

  it("toPlain/fromPlain round-trip numbers", () => {
    expect(toPlain({ a: new PyFloat(2.5), b: [new PyFloat(1)] })).toEqual({ a: 2.5, b: [1] })
    expect(fromPlain({ a: 2.5, b: 3 })).toEqual({ a: new PyFloat(2.5), b: 3 })
  })

  it("pyRepr and pyStrip follow Python", () => {
    expect(pyRepr({ a: [true, null, new PyFloat(2)], b: "it's" })).toBe(`{'a': [True, None, 2.0], 'b': "it's"}`)
    expect(pyStrip("\u001c\u0085 x \t\n")).toBe("x")
    expect(pyStrip("\ufeffx")).toBe("\ufeffx")
  })
})
