/**
 * BFCL's Python-call syntax: `[f(a=1), g(b='x')]`, the output format BFCL asks of prompting
 * (non-FC) models, decoded the way BFCL decodes it — without a Python interpreter.
 *
 * Ported from gorilla `berkeley-function-call-leaderboard/bfcl_eval/model_handler/utils.py`
 * (`default_decode_ast_prompting`, `ast_parse`, `resolve_ast_call`, `resolve_ast_by_type`), with
 * CPython 3.11's `ast.parse(mode="eval")` and `ast.unparse` re-implemented in pythonSyntax.ts (a
 * tokenizer and a recursive-descent parser). {@link decodePythonCalls} is
 * `default_decode_ast_prompting`:
 *
 * 1. strip the characters `` ` ``, `\n` and space from both ends (only those: a ```` ```python ````
 *    fence therefore leaves `python` in front and the decode fails, as in BFCL);
 * 2. add a `[` in front and a `]` at the end if missing (so `f(a=1)` alone is a call, and empty
 *    output becomes `[]`: decoded, no calls);
 * 3. with `toolCallTag` (BFCL's `has_tool_call_tag`) keep only the first `<TOOLCALL>…</TOOLCALL>`
 *    content, stripped; no tag → decode failure;
 * 4. strip whitespace, then `'` characters, from both ends; parse as ONE Python expression;
 * 5. a call → one call; a list, tuple or set → each element must be a call (else failure); anything
 *    else → failure;
 * 6. per call: the name is the dotted attribute chain (`math.sqrt(x=1)` → `"math.sqrt"`; a base that
 *    is not a plain name is dropped, as BFCL does); **only keyword arguments are kept** — positional
 *    ones are ignored (BFCL drops them silently; here they are reported in `positional`); a repeated
 *    keyword keeps the last value; `**x` is stored under the key None (see "non-string keys");
 * 7. argument values (`resolve_ast_by_type`):
 *    - constants: str (implicit concatenation, escapes, r/u/b prefixes, triple quotes), int
 *      (underscores, hex/octal/binary) → number, float (`5.0`, `1e3`, `1e309` = inf) →
 *      {@link PyFloat}, True/False, None; `...` → the string `"..."`;
 *    - a unary operator applied to a constant → **the negated constant, whatever the operator**
 *      (BFCL computes `-operand.value`: `-5` → -5, but also `+5` → -5, `~5` → -5, `not True` → -1);
 *      an operand that is not a constant fails;
 *    - list → list; tuple → an array marked as a tuple (`pyTuple`: `pyType` says "tuple", so BFCL's
 *      type check rejects it for an `array` parameter, as BFCL does; `tupleAsList` says one was read);
 *      dict → dict; bytes and complex → {@link PyOpaque} (type and repr only; BFCL's type check
 *      rejects them);
 *    - binary operation → its value (BFCL `eval`s it: `2 * 3` → 6, `1 / 2` → 0.5, `'a' + 'b'`,
 *      `1 / 0` fails); this port evaluates literals, unary operators, arithmetic and printf-style
 *      `str % args`; anything else in a BinOp (names, calls…) is a `port_limitation` failure;
 *    - name → its identifier as a string (`x` → `"x"`, `true` → `"true"`);
 *    - call without keyword arguments → its source text as `ast.unparse` prints it
 *      (`math.sqrt( 4 )` → `"math.sqrt(4)"`); call with keyword arguments → a nested call
 *      `{name: {kwargs}}`;
 *    - subscript → `unparse(value) + "[" + unparse(slice) + "]"` (`x[0]` → `"x[0]"`);
 *    - anything else (attribute `a.b`, comparison, `and`/`or`, `x if c else y`, set, starred,
 *      lambda, f-string) → failure (BFCL: "Unsupported AST type").
 *
 * Non-string dict keys (`{1: 'a'}`) are kept as unmatchable keys `"\u0000" + repr(key)` (Python
 * keeps them as ints; no BFCL answer has such keys), with Python's key equality (`1`, `1.0` and
 * `True` are one key). Unhashable keys (a list, a dict, a call with keywords) fail as in Python.
 *
 * Differences from CPython, all reported as a failure of kind `port_limitation` (never as a wrong
 * value): comprehensions, generator expressions, lambdas, `:=`, f-strings,
 * `await`/`yield`, BinOp operands other than literals (and bytes/complex inside a BinOp), `%(key)s`
 * and `*` widths in `%`-formatting, and ints beyond ±1.8e308. Ints beyond 2^53 lose precision (as
 * in `pyJsonLoads`). As in CPython, identifiers are NFKC-normalised and a NUL byte is an error.
 */
import { type PyDict, PyFloat, PyOpaque, type PyValue, pyFloatRepr, pyStrip, pyTuple, setOwn } from "../json/pyjson.js"
import {
  type BinOperator,
  bracketedEnd,
  DecodeFailure,
  type Expr,
  type ExprOf,
  fail,
  KEYWORDS,
  type PythonDecodeErrorKind,
  parseExpression,
  pyStrRepr,
  unparse,
  unparseConst,
  unparseFloat
} from "./pythonSyntax.js"

export type { PythonDecodeErrorKind } from "./pythonSyntax.js"

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/** Why Python-call text could not be decoded, and where. */
export interface PythonCallsDecodeError {
  readonly _tag: "PythonCallsDecodeError"
  readonly kind: PythonDecodeErrorKind
  /** Offset in `source` where the problem was found. */
  readonly pos: number
  /** The reason, worded like the Python exception BFCL would see (e.g. `SyntaxError: '[' was never closed`). */
  readonly message: string
  /** The text handed to the Python parser, after BFCL's clean-up (brackets added, tag content, strips). */
  readonly source: string
}

export interface PythonCall {
  /** Dotted function name (`math.sqrt`). */
  readonly name: string
  /** Keyword arguments, Python-typed (`5` int, `5.0` {@link PyFloat}). */
  readonly arguments: PyDict
  /** Source text of the positional arguments, which BFCL ignores (also those of nested calls). */
  readonly positional: ReadonlyArray<string>
  /** Some tuple literal (or tuple result) in the arguments was read as a list. */
  readonly tupleAsList: boolean
  /** The call's source text. */
  readonly raw: string
  /** Offsets of the call in `source`. */
  readonly start: number
  readonly end: number
}

export type PythonCallsDecode =
  | { readonly ok: true; readonly calls: ReadonlyArray<PythonCall>; readonly source: string }
  | { readonly ok: false; readonly error: PythonCallsDecodeError }

export interface PythonDecodeOptions {
  /** BFCL's `has_tool_call_tag`: the calls must be inside `<TOOLCALL>…</TOOLCALL>`. Default false. */
  readonly toolCallTag?: boolean
}

// ---------------------------------------------------------------------------------------------
// eval() of a BinOp (literals and arithmetic)
// ---------------------------------------------------------------------------------------------

type EV =
  | { readonly t: "int"; readonly v: bigint }
  | { readonly t: "float"; readonly v: number }
  | { readonly t: "bool"; readonly v: boolean }
  | { readonly t: "str"; readonly v: string }
  | { readonly t: "NoneType" }
  | { readonly t: "ellipsis" }
  | { readonly t: "list" | "tuple"; readonly v: ReadonlyArray<EV> }

/** Longest string / list a BinOp may build (Python has no such limit; memory does). */
const MAX_SEQUENCE = 10_000_000
/** Largest int result (in bits) a BinOp may build. */
const MAX_INT_BITS = 100_000

const typeError = (pos: number, message: string): never => fail("eval_error", pos, `TypeError: ${message}`)

const isIntLike = (x: EV): x is Extract<EV, { t: "int" | "bool" }> => x.t === "int" || x.t === "bool"
const asBig = (x: Extract<EV, { t: "int" | "bool" }>): bigint => (x.t === "bool" ? (x.v ? 1n : 0n) : x.v)

const toFloat = (x: EV, pos: number): number => {
  if (x.t === "float") return x.v
  const n = Number(asBig(x as Extract<EV, { t: "int" | "bool" }>))
  if (!Number.isFinite(n)) fail("eval_error", pos, "OverflowError: int too large to convert to float")
  return n
}

const bitLength = (x: bigint): number => (x < 0n ? -x : x).toString(2).length

const truthy = (x: EV): boolean => {
  switch (x.t) {
    case "int":
      return x.v !== 0n
    case "float":
      return x.v !== 0
    case "bool":
      return x.v
    case "str":
      return x.v !== ""
    case "NoneType":
      return false
    case "ellipsis":
      return true
    case "list":
    case "tuple":
      return x.v.length > 0
  }
}

const floatDivmod = (a: number, b: number, pos: number, what: string): [number, number] => {
  if (b === 0) fail("eval_error", pos, `ZeroDivisionError: ${what}`)
  let mod = a % b
  let div = (a - mod) / b
  if (mod !== 0) {
    if (b < 0 !== mod < 0) {
      mod += b
      div -= 1
    }
  } else {
    mod = b < 0 ? -0 : 0
  }
  let floordiv: number
  if (div !== 0) {
    floordiv = Math.floor(div)
    if (div - floordiv > 0.5) floordiv += 1
  } else {
    floordiv = a / b < 0 || Object.is(a / b, -0) ? -0 : 0
  }
  return [floordiv, mod]
}

const repeat = (seq: EV, n: bigint, pos: number): EV => {
  const count = n < 0n ? 0n : n
  const unit = seq.t === "str" ? seq.v.length : (seq as { v: ReadonlyArray<EV> }).v.length
  if (BigInt(unit) * count > BigInt(MAX_SEQUENCE)) {
    fail("port_limitation", pos, "sequence repetition result too large")
  }
  const k = Number(count)
  if (seq.t === "str") return { t: "str", v: seq.v.repeat(k) }
  const items = (seq as { v: ReadonlyArray<EV> }).v
  const out: Array<EV> = []
  for (let j = 0; j < k; j++) out.push(...items)
  return { t: seq.t as "list" | "tuple", v: out }
}

/** Python `repr(x)`. */
const evRepr = (x: EV): string => {
  switch (x.t) {
    case "int":
      return x.v.toString()
    case "float":
      return pyFloatRepr(x.v)
    case "bool":
      return x.v ? "True" : "False"
    case "str":
      return pyStrRepr(x.v)
    case "NoneType":
      return "None"
    case "ellipsis":
      return "Ellipsis"
    case "list":
      return `[${x.v.map(evRepr).join(", ")}]`
    case "tuple":
      return `(${x.v.map(evRepr).join(", ")}${x.v.length === 1 ? "," : ""})`
  }
}

/** Python `str(x)`. */
const evStr = (x: EV): string => (x.t === "str" ? x.v : evRepr(x))

const PERCENT_SPEC = /%(\([^)]*\))?([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+)?)?[hlL]?(.?)/y

/** round(|x| · 10^k) with ties to even, exactly (x is a finite double: an exact binary fraction). */
const roundScaled = (x: number, k: number): bigint => {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, Math.abs(x))
  const bits = view.getBigUint64(0)
  const biased = Number((bits >> 52n) & 0x7ffn)
  const fraction = bits & ((1n << 52n) - 1n)
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n)
  const exp2 = (biased === 0 ? 1 : biased) - 1075
  let num = mantissa * (k >= 0 ? 10n ** BigInt(k) : 1n)
  let den = k < 0 ? 10n ** BigInt(-k) : 1n
  if (exp2 >= 0) num <<= BigInt(exp2)
  else den <<= BigInt(-exp2)
  const q = num / den
  const twice = 2n * (num % den)
  return twice > den || (twice === den && q % 2n === 1n) ? q + 1n : q
}

/** `%.{p}f` of a finite x, correctly rounded (JS `toFixed` rounds ties away from zero). */
const fixed = (x: number, p: number): string => {
  const digits = roundScaled(x, p)
    .toString()
    .padStart(p + 1, "0")
  const sign = x < 0 || Object.is(x, -0) ? "-" : ""
  return p === 0 ? sign + digits : `${sign}${digits.slice(0, -p)}.${digits.slice(-p)}`
}

/** `%.{p}e` of a finite x, correctly rounded, with Python's two-digit exponent. */
const exponential = (x: number, p: number): string => {
  const sign = x < 0 || Object.is(x, -0) ? "-" : ""
  if (x === 0) return `${sign}${fixed(0, p)}e+00`
  let e = Number(x.toExponential().split("e")[1])
  let q = roundScaled(x, p - e)
  // The estimate of the exponent can be one off (shortest digits may round across a power of 10).
  if (q >= 10n ** BigInt(p + 1)) q = roundScaled(x, p - ++e)
  else if (q < 10n ** BigInt(p)) q = roundScaled(x, p - --e)
  const digits = q.toString()
  const mantissa = p === 0 ? digits : `${digits[0]}.${digits.slice(1)}`
  return `${sign}${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`
}

/** CPython's `%`-formatting for floats (e, f, g and upper-case forms). */
const formatFloat = (x: number, type: string, precision: number | undefined, alt: boolean): string => {
  const upper = type === type.toUpperCase()
  if (!Number.isFinite(x)) {
    const s = Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf"
    return upper ? s.toUpperCase() : s
  }
  const t = type.toLowerCase()
  let out: string
  if (t === "f") out = fixed(x, precision ?? 6)
  else if (t === "e") out = exponential(x, precision ?? 6)
  else {
    const p = precision === undefined ? 6 : Math.max(precision, 1)
    const exp = Number(exponential(x, p - 1).split("e")[1])
    out = exp >= -4 && exp < p ? fixed(x, p - 1 - exp) : exponential(x, p - 1)
    if (!alt) {
      // Python's %g drops trailing zeros of the fraction, and the point when nothing is left.
      const [mantissa = "", exponent] = out.split("e")
      const kept = mantissa.includes(".") ? mantissa.replace(/0+$/, "").replace(/\.$/, "") : mantissa
      out = exponent === undefined ? kept : `${kept}e${exponent}`
    }
  }
  return upper ? out.toUpperCase() : out
}

/**
 * CPython's `str % args` (printf-style formatting), which BFCL's `eval` of a BinOp computes:
 * conversions `s r a d i u o x X e E f F g G c %`, flags `-+ #0`, width and precision. Mapping
 * keys (`%(name)s`) and `*` widths are a `port_limitation`.
 */
const percentFormat = (format: string, arg: EV, pos: number): string => {
  const args = arg.t === "tuple" ? arg.v : [arg]
  let next = 0
  let out = ""
  let i = 0
  while (i < format.length) {
    const at = format.indexOf("%", i)
    if (at < 0) {
      out += format.slice(i)
      break
    }
    out += format.slice(i, at)
    PERCENT_SPEC.lastIndex = at
    const m = PERCENT_SPEC.exec(format) as RegExpExecArray
    const [spec, key, flags = "", width, precisionText, type = ""] = m
    i = at + spec.length
    if (type === "%" && spec === "%%") {
      out += "%"
      continue
    }
    if (key !== undefined || width === "*" || precisionText === "*") {
      fail("port_limitation", pos, "%-formatting with mapping keys or * widths is not supported")
    }
    if (type === "") fail("eval_error", pos, "ValueError: incomplete format")
    if (!"srauidoxXeEfFgGc%".includes(type)) {
      const code = (type.codePointAt(0) as number).toString(16)
      fail(
        "eval_error",
        pos,
        `ValueError: unsupported format character '${type}' (0x${code}) at index ${at + spec.length - 1}`
      )
    }
    if (type === "%") {
      out += "%"
      continue
    }
    const x = args[next++]
    if (x === undefined) typeError(pos, "not enough arguments for format string")
    const v = x as EV
    const precision = precisionText === undefined ? undefined : Number(precisionText)
    const isNumber = isIntLike(v) || v.t === "float"
    let body: string
    let numeric = true
    switch (type) {
      case "s":
      case "r":
      case "a": {
        numeric = false
        const text = type === "s" ? evStr(v) : evRepr(v)
        body = precision === undefined ? text : [...text].slice(0, precision).join("")
        break
      }
      case "c": {
        numeric = false
        if (isIntLike(v)) body = String.fromCodePoint(Number(asBig(v)))
        else if (v.t === "str" && [...v.v].length === 1) body = v.v
        else body = typeError(pos, "%c requires int or char")
        break
      }
      case "d":
      case "i":
      case "u":
      case "o":
      case "x":
      case "X": {
        if (!isNumber) typeError(pos, `%${type} format: a real number is required, not ${v.t}`)
        if (v.t === "float" && "oxX".includes(type))
          typeError(pos, `%${type} format: an integer is required, not float`)
        if (v.t === "float" && !Number.isFinite(v.v)) {
          fail(
            "eval_error",
            pos,
            `${Number.isNaN(v.v) ? "ValueError: cannot convert float NaN" : "OverflowError: cannot convert float infinity"} to integer`
          )
        }
        const n = v.t === "float" ? BigInt(Math.trunc(v.v)) : asBig(v as Extract<EV, { t: "int" | "bool" }>)
        const abs = n < 0n ? -n : n
        const radix = type === "o" ? 8 : type === "x" || type === "X" ? 16 : 10
        let digits = abs.toString(radix)
        if (type === "X") digits = digits.toUpperCase()
        if (precision !== undefined) digits = digits.padStart(precision, "0")
        const prefix = flags.includes("#") && radix !== 10 ? `0${type === "o" ? "o" : type}` : ""
        body = (n < 0n ? "-" : "") + prefix + digits
        break
      }
      default: {
        if (!isNumber) typeError(pos, `must be real number, not ${v.t}`)
        body = formatFloat(toFloat(v, pos), type, precision, flags.includes("#"))
      }
    }
    if (numeric && !body.startsWith("-")) {
      if (flags.includes("+")) body = `+${body}`
      else if (flags.includes(" ")) body = ` ${body}`
    }
    const w = width === undefined ? 0 : Number(width)
    const len = [...body].length
    if (len < w) {
      if (flags.includes("-")) body += " ".repeat(w - len)
      else if (numeric && flags.includes("0") && Number.isFinite(Number.parseFloat(body.replace(/^[+ -]/, "")))) {
        const sign = /^[+ -]/.test(body) ? body[0] : ""
        const rest = body.slice(sign.length)
        const pre = /^0[oxX]/.test(rest) ? rest.slice(0, 2) : ""
        body = sign + pre + rest.slice(pre.length).padStart(w - sign.length - pre.length, "0")
      } else body = " ".repeat(w - len) + body
    }
    out += body
  }
  if (next < args.length) typeError(pos, "not all arguments converted during string formatting")
  return out
}

const binop = (op: BinOperator, a: EV, b: EV, pos: number): EV => {
  const numeric = (x: EV) => isIntLike(x) || x.t === "float"
  if (numeric(a) && numeric(b)) {
    if (a.t !== "float" && b.t !== "float") {
      const x = asBig(a as Extract<EV, { t: "int" | "bool" }>)
      const y = asBig(b as Extract<EV, { t: "int" | "bool" }>)
      if (a.t === "bool" && b.t === "bool" && (op === "&" || op === "|" || op === "^")) {
        return { t: "bool", v: op === "&" ? a.v && b.v : op === "|" ? a.v || b.v : a.v !== b.v }
      }
      switch (op) {
        case "+":
          return { t: "int", v: x + y }
        case "-":
          return { t: "int", v: x - y }
        case "*":
          if (bitLength(x) + bitLength(y) > MAX_INT_BITS) fail("port_limitation", pos, "int result too large")
          return { t: "int", v: x * y }
        case "/":
          if (y === 0n) fail("eval_error", pos, "ZeroDivisionError: division by zero")
          return { t: "float", v: toFloat(a, pos) / toFloat(b, pos) }
        case "//":
        case "%": {
          if (y === 0n) fail("eval_error", pos, "ZeroDivisionError: integer division or modulo by zero")
          let q = x / y
          let r = x % y
          if (r !== 0n && r < 0n !== y < 0n) {
            q -= 1n
            r += y
          }
          return { t: "int", v: op === "//" ? q : r }
        }
        case "**":
          if (y < 0n) {
            if (x === 0n) fail("eval_error", pos, "ZeroDivisionError: 0.0 cannot be raised to a negative power")
            return { t: "float", v: toFloat(a, pos) ** toFloat(b, pos) }
          }
          if (bitLength(x) * Number(y) > MAX_INT_BITS) fail("port_limitation", pos, "int result too large")
          return { t: "int", v: x ** y }
        case "<<":
        case ">>":
          if (y < 0n) fail("eval_error", pos, "ValueError: negative shift count")
          if (op === "<<" && bitLength(x) + Number(y) > MAX_INT_BITS) {
            fail("port_limitation", pos, "int result too large")
          }
          return { t: "int", v: op === "<<" ? x << y : x >> y }
        case "&":
          return { t: "int", v: x & y }
        case "|":
          return { t: "int", v: x | y }
        case "^":
          return { t: "int", v: x ^ y }
        case "@":
          return typeError(pos, `unsupported operand type(s) for @: '${a.t}' and '${b.t}'`)
      }
    }
    const x = toFloat(a, pos)
    const y = toFloat(b, pos)
    switch (op) {
      case "+":
        return { t: "float", v: x + y }
      case "-":
        return { t: "float", v: x - y }
      case "*":
        return { t: "float", v: x * y }
      case "/":
        if (y === 0) fail("eval_error", pos, "ZeroDivisionError: float division by zero")
        return { t: "float", v: x / y }
      case "//":
        return { t: "float", v: floatDivmod(x, y, pos, "float floor division by zero")[0] }
      case "%":
        return { t: "float", v: floatDivmod(x, y, pos, "float modulo")[1] }
      case "**": {
        if (x === 0 && y < 0) fail("eval_error", pos, "ZeroDivisionError: 0.0 cannot be raised to a negative power")
        if (x < 0 && Number.isFinite(y) && !Number.isInteger(y)) {
          fail("port_limitation", pos, "a negative number to a fractional power is complex")
        }
        const r = x ** y
        if (!Number.isFinite(r) && Number.isFinite(x) && Number.isFinite(y)) {
          fail("eval_error", pos, "OverflowError: (34, 'Numerical result out of range')")
        }
        return { t: "float", v: r }
      }
      default:
        return typeError(pos, `unsupported operand type(s) for ${op}: '${a.t}' and '${b.t}'`)
    }
  }
  if (op === "+" && a.t === b.t && (a.t === "str" || a.t === "list" || a.t === "tuple")) {
    if (a.t === "str") return { t: "str", v: a.v + (b as { v: string }).v }
    const items = [...(a as { v: ReadonlyArray<EV> }).v, ...(b as { v: ReadonlyArray<EV> }).v]
    if (items.length > MAX_SEQUENCE) fail("port_limitation", pos, "sequence result too large")
    return { t: a.t, v: items }
  }
  if (op === "*") {
    const isSeq = (x: EV) => x.t === "str" || x.t === "list" || x.t === "tuple"
    if (isSeq(a) && isIntLike(b)) return repeat(a, asBig(b), pos)
    if (isIntLike(a) && isSeq(b)) return repeat(b, asBig(a), pos)
    if (isSeq(a) || isSeq(b)) {
      const other = isSeq(a) ? b : a
      return typeError(pos, `can't multiply sequence by non-int of type '${other.t}'`)
    }
  }
  if (op === "%" && a.t === "str") return { t: "str", v: percentFormat(a.v, b, pos) }
  return typeError(pos, `unsupported operand type(s) for ${op}: '${a.t}' and '${b.t}'`)
}

/** Python's evaluation of `e` (what BFCL's `eval(ast.unparse(binop))` computes). */
const evaluate = (e: Expr): EV => {
  switch (e.k) {
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: the inner switch is exhaustive and returns in every case
    case "Constant":
      switch (e.c.t) {
        case "int":
        case "float":
        case "str":
        case "bool":
          return e.c as EV
        case "None":
          return { t: "NoneType" }
        case "Ellipsis":
          return { t: "ellipsis" }
        default:
          return fail("port_limitation", e.start, `${e.c.t} values cannot be represented`)
      }
    case "UnaryOp": {
      const x = evaluate(e.operand)
      if (e.op === "not") return { t: "bool", v: !truthy(x) }
      if (x.t === "float") {
        if (e.op === "~") return typeError(e.start, "bad operand type for unary ~: 'float'")
        return { t: "float", v: e.op === "-" ? -x.v : x.v }
      }
      if (!isIntLike(x)) return typeError(e.start, `bad operand type for unary ${e.op}: '${x.t}'`)
      const v = asBig(x)
      return { t: "int", v: e.op === "-" ? -v : e.op === "~" ? ~v : v }
    }
    case "BinOp": {
      const a = evaluate(e.left)
      const b = evaluate(e.right)
      return binop(e.op, a, b, e.start)
    }
    case "List":
    case "Tuple":
      return { t: e.k === "List" ? "list" : "tuple", v: e.elts.map(evaluate) }
    default:
      return fail(
        "port_limitation",
        e.start,
        `cannot evaluate ${e.k} inside a binary operation (BFCL runs Python's eval on it)`
      )
  }
}

// ---------------------------------------------------------------------------------------------
// resolve_ast_call / resolve_ast_by_type
// ---------------------------------------------------------------------------------------------

interface ResolveContext {
  /** Arrays that came from tuples (hashable as dict keys). */
  readonly tuples: WeakSet<object>
  readonly positional: Array<string>
  tupleAsList: boolean
}

const MAX_EXACT_INT = 2n ** 1024n

const intValue = (v: bigint, pos: number): number => {
  if (v >= MAX_EXACT_INT || v <= -MAX_EXACT_INT) {
    fail("port_limitation", pos, "int too large for a JavaScript number")
  }
  const n = Number(v)
  return Object.is(n, -0) ? 0 : n
}

const evToPy = (x: EV, ctx: ResolveContext, pos: number): PyValue => {
  switch (x.t) {
    case "int":
      return intValue(x.v, pos)
    case "float":
      return new PyFloat(x.v)
    case "bool":
      return x.v
    case "str":
      return x.v
    case "NoneType":
      return null
    case "ellipsis":
      return fail("port_limitation", pos, "Ellipsis value cannot be represented")
    case "list":
    case "tuple": {
      const arr = x.v.map((y) => evToPy(y, ctx, pos))
      if (x.t === "tuple") {
        pyTuple(arr)
        ctx.tuples.add(arr)
        ctx.tupleAsList = true
      }
      return arr
    }
  }
}

const AST_CLASS: Readonly<Record<Expr["k"], string>> = {
  Constant: "Constant",
  Name: "Name",
  UnaryOp: "UnaryOp",
  BinOp: "BinOp",
  BoolOp: "BoolOp",
  Compare: "Compare",
  IfExp: "IfExp",
  Call: "Call",
  Attribute: "Attribute",
  Subscript: "Subscript",
  Slice: "Slice",
  Starred: "Starred",
  List: "List",
  Tuple: "Tuple",
  Set: "Set",
  Dict: "Dict"
}

const unsupported = (e: Expr): never =>
  fail("unsupported_value", e.start, `Exception: Unsupported AST type: <class 'ast.${AST_CLASS[e.k]}'>`)

/** BFCL's UnaryOp rule: `-operand.value`, whatever the operator. */
const negateOperand = (e: ExprOf<"UnaryOp">): PyValue => {
  const o = e.operand
  if (o.k !== "Constant") {
    // Attribute, Subscript and Starred nodes have a `.value` (an AST node): `-node` is a TypeError.
    if (o.k === "Attribute" || o.k === "Subscript" || o.k === "Starred") {
      return typeError(e.start, `bad operand type for unary -: '${AST_CLASS[o.value.k]}'`)
    }
    return fail("eval_error", e.start, `AttributeError: '${AST_CLASS[o.k]}' object has no attribute 'value'`)
  }
  switch (o.c.t) {
    case "int":
      return intValue(-o.c.v, e.start)
    case "bool":
      return o.c.v ? -1 : 0
    case "float":
      return new PyFloat(-o.c.v)
    case "complex":
      // CPython: -(xj) is complex(-0.0, -x), whose repr is (-0-xj).
      return new PyOpaque("complex", `(-0-${unparseConst(o.c, false)})`)
    default: {
      const name = { str: "str", bytes: "bytes", None: "NoneType", Ellipsis: "ellipsis" }[o.c.t]
      return typeError(e.start, `bad operand type for unary -: '${name}'`)
    }
  }
}

/** Python's `hash`-equality class and `repr` of a resolved dict key; unhashable keys raise. */
const keyOf = (v: PyValue, ctx: ResolveContext, pos: number): { hash: string; repr: string } => {
  if (typeof v === "string") return { hash: `s:${v}`, repr: v }
  if (v === null) return { hash: "N", repr: "\u0000None" }
  if (typeof v === "boolean") return { hash: `n:${v ? 1 : 0}`, repr: `\u0000${v ? "True" : "False"}` }
  if (typeof v === "number") return { hash: `n:${BigInt(v)}`, repr: `\u0000${pyLiteral(v)}` }
  if (v instanceof PyFloat) {
    const x = v.value
    const hash = Number.isInteger(x) ? `n:${BigInt(x)}` : `n:${x}`
    return { hash, repr: `\u0000${pyFloatRepr(x)}` }
  }
  if (Array.isArray(v) && ctx.tuples.has(v)) {
    const parts = v.map((x) => keyOf(x as PyValue, ctx, pos))
    const reprs = parts.map((p) => (p.repr.startsWith("\u0000") ? p.repr.slice(1) : pyStrRepr(p.repr)))
    return {
      hash: `t:(${parts.map((p) => p.hash).join(",")})`,
      repr: `\u0000(${reprs.join(", ")}${reprs.length === 1 ? "," : ""})`
    }
  }
  return typeError(pos, `unhashable type: '${Array.isArray(v) ? "list" : "dict"}'`)
}

const resolveValue = (e: Expr, ctx: ResolveContext): PyValue => {
  switch (e.k) {
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: the inner switch is exhaustive and returns in every case
    case "Constant":
      switch (e.c.t) {
        case "Ellipsis":
          return "..."
        case "int":
          return intValue(e.c.v, e.start)
        case "float":
          return new PyFloat(e.c.v)
        case "str":
          return e.c.v
        case "bool":
          return e.c.v
        case "None":
          return null
        case "bytes":
        case "complex":
          // BFCL keeps these values and its type check then rejects them (see PyOpaque).
          return new PyOpaque(e.c.t, unparseConst(e.c, false))
      }
    case "UnaryOp":
      return negateOperand(e)
    case "List":
      return e.elts.map((x) => resolveValue(x, ctx))
    case "Tuple": {
      const arr = pyTuple(e.elts.map((x) => resolveValue(x, ctx)))
      ctx.tuples.add(arr)
      ctx.tupleAsList = true
      return arr
    }
    case "Dict": {
      const out: Record<string, PyValue> = {}
      const keys = new Map<string, string>()
      e.keys.forEach((k, i) => {
        if (k === null) {
          fail("unsupported_value", (e.values[i] as Expr).start, "Exception: Unsupported AST type: <class 'NoneType'>")
        }
        const kv = resolveValue(k as Expr, ctx)
        const value = resolveValue(e.values[i] as Expr, ctx)
        const { hash, repr } = keyOf(kv, ctx, (k as Expr).start)
        const existing = keys.get(hash)
        if (existing === undefined) keys.set(hash, repr)
        setOwn(out, existing ?? repr, value)
      })
      return out
    }
    case "BinOp":
      return evToPy(evaluate(e), ctx, e.start)
    case "Name":
      return e.id
    case "Call":
      if (e.keywords.length === 0) return unparse(e)
      return resolveCall(e, ctx).dict
    case "Subscript":
      return `${unparse(e.value)}[${unparse(e.slice)}]`
    default:
      return unsupported(e)
  }
}

const callName = (e: ExprOf<"Call">): string => {
  const parts: Array<string> = []
  let f = e.func
  while (f.k === "Attribute") {
    parts.push(f.attr)
    f = f.value
  }
  if (f.k === "Name") parts.push(f.id)
  return parts.reverse().join(".")
}

const resolveCall = (e: ExprOf<"Call">, ctx: ResolveContext): { name: string; args: PyDict; dict: PyDict } => {
  const name = callName(e)
  for (const a of e.args) ctx.positional.push(unparse(a))
  const args: Record<string, PyValue> = {}
  for (const kw of e.keywords) setOwn(args, kw.arg ?? "\u0000None", resolveValue(kw.value, ctx))
  const dict: Record<string, PyValue> = {}
  setOwn(dict, name, args)
  return { name, args, dict }
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

const toError = (e: unknown, source: string): PythonCallsDecode => {
  if (e instanceof DecodeFailure) {
    return {
      ok: false,
      error: { _tag: "PythonCallsDecodeError", kind: e.kind, pos: e.pos, message: e.message, source }
    }
  }
  if (e instanceof RangeError) {
    // Stack overflow on a pathologically deep expression (e.g. thousands of chained unary minus).
    return {
      ok: false,
      error: {
        _tag: "PythonCallsDecodeError",
        kind: "port_limitation",
        pos: 0,
        message: `expression nested too deeply (${e.message})`,
        source
      }
    }
  }
  throw e
}

/**
 * BFCL's `ast_parse` for Python: `source` stripped of whitespace and then of `'` at both ends,
 * parsed as one expression that must be a call or a list/tuple/set of calls. No brackets are
 * added (see {@link decodePythonCalls}).
 */
export const parsePythonCallList = (source: string): PythonCallsDecode => {
  const cleaned = pyStrip(source).replace(/^'+|'+$/g, "")
  try {
    const nul = cleaned.indexOf("\u0000")
    if (nul >= 0) fail("syntax", nul, "ValueError: source code string cannot contain null bytes")
    const body = parseExpression(cleaned)
    let elems: ReadonlyArray<Expr>
    if (body.k === "Call") elems = [body]
    else if (body.k === "List" || body.k === "Tuple" || body.k === "Set") elems = body.elts
    else {
      return fail("not_a_call", body.start, `AttributeError: '${AST_CLASS[body.k]}' object has no attribute 'elts'`)
    }
    const calls: Array<PythonCall> = []
    for (const el of elems) {
      if (el.k !== "Call")
        fail("not_a_call", el.start, `AssertionError: element is an ast.${AST_CLASS[el.k]}, not a call`)
      const call = el as ExprOf<"Call">
      const ctx: ResolveContext = { tuples: new WeakSet(), positional: [], tupleAsList: false }
      const r = resolveCall(call, ctx)
      calls.push({
        name: r.name,
        arguments: r.args,
        positional: ctx.positional,
        tupleAsList: ctx.tupleAsList,
        raw: cleaned.slice(call.start, call.end),
        start: call.start,
        end: call.end
      })
    }
    return { ok: true, calls, source: cleaned }
  } catch (e) {
    return toError(e, cleaned)
  }
}

const stripChars = (s: string, chars: string): string => {
  let a = 0
  let b = s.length
  while (a < b && chars.includes(s[a] as string)) a++
  while (b > a && chars.includes(s[b - 1] as string)) b--
  return s.slice(a, b)
}

const TOOLCALL_RE = /<TOOLCALL>([\s\S]*?)<\/TOOLCALL>/

/**
 * BFCL's `default_decode_ast_prompting` for Python (see the module doc): strip `` ` ``, newlines
 * and spaces, add missing outer brackets, optionally take the `<TOOLCALL>` content, and decode.
 * Empty output and `[]` decode to no calls. Pure; never throws.
 */
export const decodePythonCalls = (text: string, options: PythonDecodeOptions = {}): PythonCallsDecode => {
  let r = stripChars(text, "`\n ")
  if (!r.startsWith("[")) r = `[${r}`
  if (!r.endsWith("]")) r = `${r}]`
  if (options.toolCallTag === true) {
    const m = TOOLCALL_RE.exec(r)
    if (m === null) {
      return {
        ok: false,
        error: {
          _tag: "PythonCallsDecodeError",
          kind: "no_tool_call_tag",
          pos: 0,
          message: "ValueError: No tool call tag found in input string",
          source: r
        }
      }
    }
    r = pyStrip(m[1] ?? "")
  }
  return parsePythonCallList(r)
}

const CALL_LIST_START_RE =
  /\[\s*[\p{XID_Start}_][\p{XID_Continue}]*(?:\s*\.\s*[\p{XID_Start}_][\p{XID_Continue}]*)*\s*\(/gu

/**
 * Bracketed call lists `[f(…), …]` inside other text (prose, markdown), each decoded with
 * {@link parsePythonCallList}; only lists that decode to at least one call are returned, with
 * their offsets in `text`.
 */
export const findPythonCallLists = (
  text: string
): Array<{ readonly start: number; readonly end: number; readonly calls: ReadonlyArray<PythonCall> }> => {
  const out: Array<{ start: number; end: number; calls: ReadonlyArray<PythonCall> }> = []
  let from = 0
  for (;;) {
    CALL_LIST_START_RE.lastIndex = from
    const m = CALL_LIST_START_RE.exec(text)
    if (m === null) return out
    const start = m.index
    const end = bracketedEnd(text, start)
    const d = end === undefined ? undefined : parsePythonCallList(text.slice(start, end))
    if (end !== undefined && d?.ok === true && d.calls.length > 0) {
      out.push({ start, end, calls: d.calls })
      from = end
    } else {
      from = start + 1
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering (the inverse, for tests and for building BFCL-style completions)
// ---------------------------------------------------------------------------------------------

const IDENTIFIER_RE = /^[\p{XID_Start}_][\p{XID_Continue}]*$/u

/**
 * A Python literal for `value` that {@link decodePythonCalls} reads back as the same value:
 * `'str'` (Python `repr`), ints, floats with a `.0` or exponent (`1e309` for inf, `(1e309-1e309)`
 * for nan), True/False/None, lists, dicts (keys `"\u0000…"` are written as the Python key they stand for).
 */
export const pyLiteral = (value: PyValue): string => {
  if (value === null) return "None"
  if (value === true) return "True"
  if (value === false) return "False"
  if (typeof value === "number") {
    if (!Number.isInteger(value)) return unparseFloat(value)
    return Math.abs(value) >= 1e21 ? BigInt(value).toString() : String(Object.is(value, -0) ? 0 : value)
  }
  if (value instanceof PyFloat) return unparseFloat(value.value)
  if (typeof value === "string") return pyStrRepr(value)
  if (Array.isArray(value)) return `[${value.map((v) => pyLiteral(v as PyValue)).join(", ")}]`
  const d = value as PyDict
  return `{${Object.keys(d)
    .map((k) => `${k.startsWith("\u0000") ? k.slice(1) : pyStrRepr(k)}: ${pyLiteral(d[k] as PyValue)}`)
    .join(", ")}}`
}

/**
 * BFCL's Python-call syntax for `calls`: `[f(a=1, b='x'), g()]`. Throws a `RangeError` for an
 * argument name that is not a Python identifier (it could not be a keyword argument).
 */
export const pythonCallsText = (calls: ReadonlyArray<{ readonly name: string; readonly arguments: PyDict }>): string =>
  `[${calls
    .map((c) => {
      const args = Object.keys(c.arguments).map((k) => {
        if (!IDENTIFIER_RE.test(k) || KEYWORDS.has(k)) throw new RangeError(`not a keyword argument name: ${k}`)
        return `${k}=${pyLiteral(c.arguments[k] as PyValue)}`
      })
      return `${c.name}(${args.join(", ")})`
    })
    .join(", ")}]`
