/**
 * JSON with Python semantics.
 *
 * The anchors this package replicates (BFCL's AST checker, ToolRL's reward, Tool-N1's reward) run on
 * values produced by Python's `json.loads`, where `5` is an `int` and `5.0` a `float`, `True == 1`,
 * and `json.dumps` prints `{"a": 1.0}` with `", "`/`": "` separators. JavaScript's `JSON.parse`
 * forgets the int/float distinction, so this module has its own small parser that keeps it:
 *
 * - integers (no fraction, no exponent) become JS `number`s;
 * - every float literal (`5.0`, `1e3`, `NaN`, `Infinity`) becomes a {@link PyFloat}.
 *
 * Everything else is plain JSON (`null`, booleans, strings, arrays, plain objects).
 * The parser accepts exactly what CPython's `json.loads` accepts (strict mode, `NaN`/`Infinity`
 * constants, whitespace = space, tab, CR, LF), except that integers beyond 2^53 lose precision, and
 * nesting deeper than {@link MAX_JSON_DEPTH} is a parse failure (CPython raises `RecursionError` a
 * little below 1,000 levels; the limit keeps every recursive helper here far from V8's stack limit).
 */

import { pyJsonFloat, pyJsonString } from "@crosscode/core"

/** A Python `float` that came from a float literal (keeps `5.0` distinct from the int `5`). */
export class PyFloat {
  constructor(readonly value: number) {}
  /** `JSON.stringify` writes the plain number. */
  toJSON(): number {
    return this.value
  }
}

/**
 * A Python value JSON has no type for — `bytes` or `complex` — as BFCL's Python-call decoder can
 * produce it (`f(a=b'x')`, `f(z=1j)`). Only its type and `repr` are kept: BFCL's checker rejects
 * such values by type, so nothing needs more (and `json.dumps` refuses them, as Python does).
 */
export class PyOpaque {
  constructor(
    readonly typeName: "bytes" | "complex",
    readonly repr: string
  ) {}
  /** `JSON.stringify` (records) writes the repr. */
  toJSON(): string {
    return this.repr
  }
}

export type PyValue = null | boolean | number | PyFloat | PyOpaque | string | PyList | PyDict
export interface PyList extends ReadonlyArray<PyValue> {}
export interface PyDict {
  readonly [key: string]: PyValue
}

/** Python's `type(x).__name__` for a {@link PyValue}. */
export type PyTypeName = "NoneType" | "bool" | "int" | "float" | "str" | "list" | "tuple" | "dict" | "bytes" | "complex"

/** Arrays that hold a Python tuple (from Python-call syntax); JSON has none. */
const TUPLES = new WeakSet<object>()

/** Marks `items` as a Python tuple (it stays an array: JSON writes it as a list) and returns it. */
export const pyTuple = (items: Array<PyValue>): PyList => {
  TUPLES.add(items)
  return items
}

export const isPyTuple = (v: PyValue | undefined): boolean => Array.isArray(v) && TUPLES.has(v)

export const pyType = (v: PyValue): PyTypeName => {
  if (v === null) return "NoneType"
  if (typeof v === "boolean") return "bool"
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float"
  if (v instanceof PyFloat) return "float"
  if (v instanceof PyOpaque) return v.typeName
  if (typeof v === "string") return "str"
  if (Array.isArray(v)) return TUPLES.has(v) ? "tuple" : "list"
  return "dict"
}

export const isPyDict = (v: PyValue | undefined): v is PyDict =>
  v !== null &&
  v !== undefined &&
  typeof v === "object" &&
  !Array.isArray(v) &&
  !(v instanceof PyFloat) &&
  !(v instanceof PyOpaque)

export const isPyList = (v: PyValue | undefined): v is PyList => Array.isArray(v)

/** Sets `obj[key] = value`, also for the key `"__proto__"` (which plain assignment would not store). */
export const setOwn = (obj: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === "__proto__") {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    obj[key] = value
  }
}

export const hasOwn = (obj: object, key: string): boolean => Object.hasOwn(obj, key)

const numeric = (v: PyValue): number | undefined => {
  if (typeof v === "number") return v
  if (typeof v === "boolean") return v ? 1 : 0
  if (v instanceof PyFloat) return v.value
  return undefined
}

/** Python `a == b` (bool/int/float compare by value, lists and tuples in order — a tuple never equals a list —, dicts by key set). */
export const pyEquals = (a: PyValue, b: PyValue): boolean => {
  const na = numeric(a)
  const nb = numeric(b)
  if (na !== undefined || nb !== undefined) return na !== undefined && nb !== undefined && na === nb
  if (a === null || b === null) return a === b
  if (typeof a === "string" || typeof b === "string") return a === b
  if (a instanceof PyOpaque || b instanceof PyOpaque) {
    return a instanceof PyOpaque && b instanceof PyOpaque && a.typeName === b.typeName && a.repr === b.repr
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
    if (TUPLES.has(a) !== TUPLES.has(b)) return false
    for (let i = 0; i < a.length; i++) if (!pyEquals(a[i] as PyValue, b[i] as PyValue)) return false
    return true
  }
  const da = a as PyDict
  const db = b as PyDict
  const ka = Object.keys(da)
  if (ka.length !== Object.keys(db).length) return false
  for (const k of ka) {
    if (!hasOwn(db, k) || !pyEquals(da[k] as PyValue, db[k] as PyValue)) return false
  }
  return true
}

/** Python `x in xs` for a list. */
export const pyIn = (x: PyValue, xs: ReadonlyArray<PyValue>): boolean => xs.some((e) => pyEquals(x, e))

/** Converts {@link PyFloat}s to plain numbers, recursively (for users who want plain JSON). */
export const toPlain = (v: PyValue): unknown => {
  if (v instanceof PyFloat) return v.value
  if (v instanceof PyOpaque) return v.repr
  if (Array.isArray(v)) return v.map((x) => toPlain(x as PyValue))
  if (isPyDict(v)) {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v)) setOwn(out, k, toPlain(v[k] as PyValue))
    return out
  }
  return v
}

/**
 * Converts a plain JS value (e.g. from `JSON.parse`) to a {@link PyValue}: non-integral numbers
 * become {@link PyFloat}s, integral ones ints. Throws on values JSON cannot hold.
 */
export const fromPlain = (v: unknown): PyValue => {
  if (v === null || typeof v === "boolean" || typeof v === "string" || v instanceof PyFloat) return v
  if (typeof v === "number") return Number.isInteger(v) ? v : new PyFloat(v)
  if (Array.isArray(v)) return v.map(fromPlain)
  if (typeof v === "object") {
    const out: Record<string, PyValue> = {}
    for (const k of Object.keys(v as object)) setOwn(out, k, fromPlain((v as Record<string, unknown>)[k]))
    return out
  }
  throw new TypeError(`not a JSON value: ${typeof v}`)
}

// ---------------------------------------------------------------------------------------------
// Parsing (CPython json.loads, strict=True)
// ---------------------------------------------------------------------------------------------

export type JsonParse =
  | { readonly ok: true; readonly value: PyValue; readonly end: number }
  | { readonly ok: false; readonly pos: number; readonly message: string }

class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly pos: number
  ) {
    super(message)
  }
}

const isJsonWs = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d

const skipJsonWs = (s: string, i: number): number => {
  while (i < s.length && isJsonWs(s.charCodeAt(i))) i++
  return i
}

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y

/**
 * Deepest `[`/`{` nesting the parser accepts. Deeper input is a parse failure, not a stack overflow:
 * about CPython's own limit (its default recursion limit of 1,000), far below V8's (~10,000 frames
 * here, fewer in deep call stacks), so that parsing, comparing and dumping the value cannot overflow.
 */
export const MAX_JSON_DEPTH = 1000

const parseValueAt = (s: string, i: number, depth: number): [PyValue, number] => {
  if (depth >= MAX_JSON_DEPTH) throw new JsonSyntaxError(`nesting deeper than ${MAX_JSON_DEPTH} levels`, i)
  const c = s[i]
  if (c === undefined) throw new JsonSyntaxError("Expecting value", i)
  if (c === "{") return parseObjectAt(s, i, depth)
  if (c === "[") return parseArrayAt(s, i, depth)
  if (c === '"') return parseStringAt(s, i)
  if (s.startsWith("null", i)) return [null, i + 4]
  if (s.startsWith("true", i)) return [true, i + 4]
  if (s.startsWith("false", i)) return [false, i + 5]
  if (s.startsWith("NaN", i)) return [new PyFloat(Number.NaN), i + 3]
  if (s.startsWith("Infinity", i)) return [new PyFloat(Number.POSITIVE_INFINITY), i + 8]
  if (s.startsWith("-Infinity", i)) return [new PyFloat(Number.NEGATIVE_INFINITY), i + 9]
  NUMBER_RE.lastIndex = i
  const m = NUMBER_RE.exec(s)
  if (m !== null) {
    const text = m[0]
    const isFloat = m[1] !== undefined || m[2] !== undefined
    const n = Number(text)
    return [isFloat ? new PyFloat(n) : Object.is(n, -0) ? 0 : n, i + text.length]
  }
  throw new JsonSyntaxError("Expecting value", i)
}

const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t"
}

const parseStringAt = (s: string, start: number): [string, number] => {
  let i = start + 1
  let out = ""
  let chunk = i
  for (;;) {
    if (i >= s.length) throw new JsonSyntaxError("Unterminated string starting at", start)
    const code = s.charCodeAt(i)
    if (code === 0x22) {
      out += s.slice(chunk, i)
      return [out, i + 1]
    }
    if (code < 0x20) throw new JsonSyntaxError("Invalid control character at", i)
    if (code === 0x5c) {
      out += s.slice(chunk, i)
      const e = s[i + 1]
      if (e === undefined) throw new JsonSyntaxError("Unterminated string starting at", start)
      if (e === "u") {
        const hex = s.slice(i + 2, i + 6)
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new JsonSyntaxError("Invalid \\uXXXX escape", i + 1)
        out += String.fromCharCode(Number.parseInt(hex, 16))
        i += 6
      } else {
        const mapped = ESCAPES[e]
        if (mapped === undefined) throw new JsonSyntaxError("Invalid \\escape", i)
        out += mapped
        i += 2
      }
      chunk = i
      continue
    }
    i++
  }
}

const parseObjectAt = (s: string, start: number, depth: number): [PyValue, number] => {
  const obj: Record<string, PyValue> = {}
  let i = skipJsonWs(s, start + 1)
  if (s[i] === "}") return [obj, i + 1]
  for (;;) {
    if (s[i] !== '"') {
      throw new JsonSyntaxError("Expecting property name enclosed in double quotes", i)
    }
    const [key, afterKey] = parseStringAt(s, i)
    i = skipJsonWs(s, afterKey)
    if (s[i] !== ":") throw new JsonSyntaxError("Expecting ':' delimiter", i)
    i = skipJsonWs(s, i + 1)
    const [value, afterValue] = parseValueAt(s, i, depth + 1)
    setOwn(obj, key, value)
    i = skipJsonWs(s, afterValue)
    if (s[i] === "}") return [obj, i + 1]
    if (s[i] !== ",") throw new JsonSyntaxError("Expecting ',' delimiter", i)
    i = skipJsonWs(s, i + 1)
  }
}

const parseArrayAt = (s: string, start: number, depth: number): [PyValue, number] => {
  const arr: Array<PyValue> = []
  let i = skipJsonWs(s, start + 1)
  if (s[i] === "]") return [arr, i + 1]
  for (;;) {
    const [value, after] = parseValueAt(s, i, depth + 1)
    arr.push(value)
    i = skipJsonWs(s, after)
    if (s[i] === "]") return [arr, i + 1]
    if (s[i] !== ",") throw new JsonSyntaxError("Expecting ',' delimiter", i)
    i = skipJsonWs(s, i + 1)
  }
}

/**
 * Parses one JSON value starting at `start` (leading JSON whitespace skipped); `end` is the index
 * just after the value (trailing text is not looked at).
 */
export const parseJsonPrefix = (text: string, start = 0): JsonParse => {
  try {
    const [value, end] = parseValueAt(text, skipJsonWs(text, start), 0)
    return { ok: true, value, end }
  } catch (e) {
    if (e instanceof JsonSyntaxError) return { ok: false, pos: e.pos, message: `${e.message} (char ${e.pos})` }
    throw e
  }
}

/** CPython `json.loads(text)`: one value, surrounding whitespace allowed, anything else is "Extra data". */
export const pyJsonLoads = (text: string): JsonParse => {
  const r = parseJsonPrefix(text, 0)
  if (!r.ok) return r
  const end = skipJsonWs(text, r.end)
  if (end !== text.length) return { ok: false, pos: end, message: `Extra data (char ${end})` }
  return { ok: true, value: r.value, end }
}

// ---------------------------------------------------------------------------------------------
// Dumping (CPython json.dumps)
// ---------------------------------------------------------------------------------------------

/** CPython `repr(float)` (`nan`, `inf` for non-finite values; core's json form otherwise). */
export const pyFloatRepr = (x: number): string => {
  if (Number.isNaN(x)) return "nan"
  if (x === Number.POSITIVE_INFINITY) return "inf"
  if (x === Number.NEGATIVE_INFINITY) return "-inf"
  return pyJsonFloat(x)
}

export interface PyDumpsOptions {
  /** Sort object keys (by code point, as Python does). Default false. */
  readonly sortKeys?: boolean
  /** Escape every non-ASCII character as `\uXXXX` (Python's default). Default true. */
  readonly ensureAscii?: boolean
  /**
   * `[itemSeparator, keySeparator]`, default Python's `[", ", ": "]` (`[",", ": "]` with `indent`,
   * as Python chooses when `indent` is given without `separators`).
   */
  readonly separators?: readonly [string, string]
  /**
   * Pretty-print as Python's `indent=`: a number of spaces or a string per level; each list item
   * and object member on its own line, empty lists/objects stay `[]`/`{}`. Default: one line.
   */
  readonly indent?: number | string
}

/** CPython `json.dumps` of a string (`encode_basestring[_ascii]`). */
export const pyDumpString = (s: string, ensureAscii = true): string => pyJsonString(s, ensureAscii)

const compareCodePoints = (a: string, b: string): number => {
  const ia = a[Symbol.iterator]()
  const ib = b[Symbol.iterator]()
  for (;;) {
    const x = ia.next()
    const y = ib.next()
    if (x.done === true) return y.done === true ? 0 : -1
    if (y.done === true) return 1
    const cx = x.value.codePointAt(0) ?? 0
    const cy = y.value.codePointAt(0) ?? 0
    if (cx !== cy) return cx - cy
  }
}

const dumpNumber = (v: number | PyFloat): string => {
  if (v instanceof PyFloat || !Number.isInteger(v)) {
    const x = v instanceof PyFloat ? v.value : v
    if (Number.isNaN(x)) return "NaN"
    if (x === Number.POSITIVE_INFINITY) return "Infinity"
    if (x === Number.NEGATIVE_INFINITY) return "-Infinity"
    return pyFloatRepr(x)
  }
  return Math.abs(v) >= 1e21 ? BigInt(v).toString() : String(v)
}

/** CPython `json.dumps(value, ensure_ascii=…, sort_keys=…, separators=…, indent=…)`. */
export const pyJsonDumps = (value: PyValue, options: PyDumpsOptions = {}): string => {
  const ensureAscii = options.ensureAscii ?? true
  const indent = typeof options.indent === "number" ? " ".repeat(options.indent) : options.indent
  const [itemSep, keySep] = options.separators ?? (indent !== undefined ? [",", ": "] : [", ", ": "])
  const sortKeys = options.sortKeys ?? false
  /** `parts` joined as Python's encoder does at nesting `level` (between `open` and `close`). */
  const wrap = (open: string, close: string, parts: ReadonlyArray<string>, level: number): string => {
    if (parts.length === 0) return `${open}${close}`
    if (indent === undefined) return `${open}${parts.join(itemSep)}${close}`
    const inner = `\n${indent.repeat(level + 1)}`
    return `${open}${inner}${parts.join(itemSep + inner)}\n${indent.repeat(level)}${close}`
  }
  const go = (v: PyValue, level: number): string => {
    if (v === null) return "null"
    if (v === true) return "true"
    if (v === false) return "false"
    if (typeof v === "number" || v instanceof PyFloat) return dumpNumber(v)
    if (v instanceof PyOpaque) throw new TypeError(`Object of type ${v.typeName} is not JSON serializable`)
    if (typeof v === "string") return pyDumpString(v, ensureAscii)
    if (Array.isArray(v))
      return wrap(
        "[",
        "]",
        v.map((x) => go(x as PyValue, level + 1)),
        level
      )
    const d = v as PyDict
    const keys = Object.keys(d)
    if (sortKeys) keys.sort(compareCodePoints)
    return wrap(
      "{",
      "}",
      keys.map((k) => `${pyDumpString(k, ensureAscii)}${keySep}${go(d[k] as PyValue, level + 1)}`),
      level
    )
  }
  return go(value, 0)
}

/** Python `repr(x)` (for error messages that mirror BFCL's). */
export const pyRepr = (v: PyValue): string => {
  if (v === null) return "None"
  if (v === true) return "True"
  if (v === false) return "False"
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : pyFloatRepr(v)
  if (v instanceof PyFloat) return pyFloatRepr(v.value)
  if (v instanceof PyOpaque) return v.repr
  if (typeof v === "string") {
    const q = v.includes("'") && !v.includes('"') ? '"' : "'"
    const body = v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t")
    return q + (q === "'" ? body.replace(/'/g, "\\'") : body) + q
  }
  if (Array.isArray(v)) {
    const items = v.map((x) => pyRepr(x as PyValue))
    return TUPLES.has(v) ? `(${items.join(", ")}${items.length === 1 ? "," : ""})` : `[${items.join(", ")}]`
  }
  const d = v as PyDict
  return `{${Object.keys(d)
    .map((k) => `${pyRepr(k)}: ${pyRepr(d[k] as PyValue)}`)
    .join(", ")}}`
}

// ---------------------------------------------------------------------------------------------
// Python string helpers used by the replicas
// ---------------------------------------------------------------------------------------------

/** Characters for which Python's `str.isspace()` is true (what `\s` and `str.strip()` use). */
export const PY_WHITESPACE_CLASS =
  "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"

const PY_STRIP_RE = new RegExp(`^[${PY_WHITESPACE_CLASS}]+|[${PY_WHITESPACE_CLASS}]+$`, "gu")

/** Python `str.strip()` with no arguments. */
export const pyStrip = (s: string): string => s.replace(PY_STRIP_RE, "")
