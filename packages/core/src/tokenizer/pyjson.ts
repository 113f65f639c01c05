/**
 * Python's `json.dumps` output, byte for byte, from JS values: separators `", "` / `": "` (or
 * `","` / `": "` with an indent), key order kept, `ensure_ascii` (default false here, as
 * transformers' `tojson` filter), floats in Python `repr` form (`1e-05`, `1e+16`, `0.1`,
 * `Infinity`, `NaN`), strings escaped like Python (only `"`, `\` and control characters unless
 * `ensure_ascii`).
 *
 * JS cannot tell `1.0` from `1`: integral numbers print as integers (Python prints a float
 * `1.0`); a JSON round trip through JS loses that distinction anyway.
 */

export interface PyJsonOptions {
  readonly ensureAscii?: boolean
  /** Spaces (number) or a string per level; `undefined`/`null` = single line. */
  readonly indent?: number | string | null
  /** `[item, key]` separators (default `[", ", ": "]`, or `[",", ": "]` with an indent). */
  readonly separators?: readonly [string, string] | null
  readonly sortKeys?: boolean
}

/** A float as Python's `json.dumps` writes it: `repr(float)`, with `NaN`/`Infinity` for non-finite values. */
export const pyJsonFloat = (x: number): string => {
  if (Number.isNaN(x)) return "NaN"
  if (x === Number.POSITIVE_INFINITY) return "Infinity"
  if (x === Number.NEGATIVE_INFINITY) return "-Infinity"
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0"
  const sign = x < 0 ? "-" : ""
  // Shortest round-trip digits, as repr: d.ddd…e±X.
  const [mant, expStr] = Math.abs(x).toExponential().split("e") as [string, string]
  const digits = mant.replace(".", "")
  const exp = Number(expStr)
  const decpt = exp + 1
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`
    if (decpt >= digits.length) return `${sign}${digits}${"0".repeat(decpt - digits.length)}.0`
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`
  }
  const e = exp < 0 ? `-${String(-exp).padStart(2, "0")}` : `+${String(exp).padStart(2, "0")}`
  return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ""}e${e}`
}

/** A JS number as Python would print the value it most likely was (int if integral and safe). */
export const pyNumber = (x: number): string =>
  Number.isSafeInteger(x) && !Object.is(x, -0) ? String(x) : pyJsonFloat(x)

const SHORT: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f"
}

/** A JSON string literal as Python's json.dumps writes it. */
export const pyJsonString = (s: string, ensureAscii = false): string => {
  let out = '"'
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!
    const c = s.charCodeAt(i)
    const short = SHORT[ch]
    if (short !== undefined) out += short
    else if (c < 0x20 || (ensureAscii && c > 0x7e)) out += `\\u${c.toString(16).padStart(4, "0")}`
    else out += ch
  }
  return `${out}"`
}

const compareCodePoints = (a: string, b: string): number => {
  const x = Array.from(a)
  const y = Array.from(b)
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!
    if (d !== 0) return d
  }
  return x.length - y.length
}

/** A neutral tree that both JS values and template runtime values map onto. */
export type PyJsonNode =
  | { readonly kind: "null" }
  | { readonly kind: "bool"; readonly value: boolean }
  | { readonly kind: "int"; readonly value: number | bigint }
  | { readonly kind: "float"; readonly value: number }
  | { readonly kind: "str"; readonly value: string }
  | { readonly kind: "list"; readonly items: ReadonlyArray<PyJsonNode> }
  | { readonly kind: "dict"; readonly entries: ReadonlyArray<readonly [string, PyJsonNode]> }

export const dumpPyValue = (v: PyJsonNode, options: PyJsonOptions = {}): string => {
  const indent =
    options.indent == null
      ? undefined
      : typeof options.indent === "number"
        ? " ".repeat(options.indent)
        : options.indent
  const [itemSep, keySep] = options.separators ?? (indent !== undefined ? [",", ": "] : [", ", ": "])
  const ascii = options.ensureAscii === true
  const go = (x: PyJsonNode, depth: number): string => {
    switch (x.kind) {
      case "null":
        return "null"
      case "bool":
        return x.value ? "true" : "false"
      case "int":
        return typeof x.value === "bigint"
          ? x.value.toString()
          : Number.isSafeInteger(x.value)
            ? String(x.value)
            : BigInt(x.value).toString()
      case "float":
        return pyJsonFloat(x.value)
      case "str":
        return pyJsonString(x.value, ascii)
      case "list":
      case "dict": {
        const open = x.kind === "list" ? "[" : "{"
        const close = x.kind === "list" ? "]" : "}"
        let parts: Array<string>
        if (x.kind === "list") parts = x.items.map((i) => go(i, depth + 1))
        else {
          const entries =
            options.sortKeys === true ? [...x.entries].sort((a, b) => compareCodePoints(a[0], b[0])) : x.entries
          parts = entries.map(([k, val]) => `${pyJsonString(k, ascii)}${keySep}${go(val, depth + 1)}`)
        }
        if (parts.length === 0) return `${open}${close}`
        if (indent === undefined) return `${open}${parts.join(itemSep)}${close}`
        const inner = `\n${indent.repeat(depth + 1)}`
        return `${open}${inner}${parts.join(`${itemSep}${inner}`)}\n${indent.repeat(depth)}${close}`
      }
    }
  }
  return go(v, 0)
}

/** JS value → PyJsonNode (`undefined` → null as transformers passes missing values; functions are an error). */
export const fromJs = (x: unknown): PyJsonNode => {
  if (x === null || x === undefined) return { kind: "null" }
  if (typeof x === "boolean") return { kind: "bool", value: x }
  if (typeof x === "number")
    return Number.isSafeInteger(x) && !Object.is(x, -0) ? { kind: "int", value: x } : { kind: "float", value: x }
  if (typeof x === "bigint") return { kind: "int", value: x }
  if (typeof x === "string") return { kind: "str", value: x }
  if (Array.isArray(x)) return { kind: "list", items: x.map(fromJs) }
  if (x instanceof Map)
    return { kind: "dict", entries: [...x.entries()].map(([k, v]) => [String(k), fromJs(v)] as const) }
  if (typeof x === "object")
    return { kind: "dict", entries: Object.entries(x as object).map(([k, v]) => [k, fromJs(v)] as const) }
  throw new TypeError(`Object of type ${typeof x} is not JSON serializable`)
}

/** Python `json.dumps(x, ensure_ascii=False)` (or with the given options) of a JS value. */
export const pythonJsonDumps = (x: unknown, options: PyJsonOptions = {}): string => dumpPyValue(fromJs(x), options)
