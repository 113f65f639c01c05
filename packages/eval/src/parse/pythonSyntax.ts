/**
 * Python expressions as CPython 3.11's `ast.parse(source, mode="eval")` reads them, and
 * `ast.unparse` prints them back: the syntax layer under `decodePythonCalls` (BFCL's rules for
 * Python-call output live in pythonCalls.ts).
 *
 * A tokenizer (string literals with every prefix, escape and triple quotes, implicit
 * concatenation, numbers with underscores / hex / octal / binary / exponents / imaginary suffix,
 * comments, line continuations, bracket matching, indentation of the first line) and a
 * recursive-descent parser for CPython's expression grammar: constants, names, attributes, calls
 * (positional, keyword, `*`, `**`), subscripts and slices, unary / binary / boolean operators,
 * comparisons, `x if c else y`, lists, tuples, sets, dicts. Syntax errors are reported with
 * CPython's message and the offset where they were found. Not implemented (reported as
 * `port_limitation`): comprehensions, generator expressions, lambdas, `:=`, f-strings,
 * `await`/`yield`. `\N{…}` escapes resolve names and aliases as CPython does (unicodeNames.ts). Internal: the package's index does not export this module.
 */
import { pyFloatRepr } from "../json/pyjson.js"
import { codePointOfName } from "./unicodeNames.js"

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

export type PythonDecodeErrorKind =
  /** Python's `ast.parse` would raise (SyntaxError / IndentationError). */
  | "syntax"
  /** The expression is not a call nor a list/tuple/set of calls (BFCL's `assert isinstance(elem, ast.Call)`). */
  | "not_a_call"
  /** An argument value of a kind BFCL's `resolve_ast_by_type` rejects ("Unsupported AST type"). */
  | "unsupported_value"
  /** Python raises while BFCL computes a value (`1 / 0`, `'a' - 1`, `-'a'`, an unhashable dict key…). */
  | "eval_error"
  /** `toolCallTag` was requested and the text has no `<TOOLCALL>…</TOOLCALL>`. */
  | "no_tool_call_tag"
  /** Valid for BFCL, but this port cannot represent or evaluate it (see pythonCalls.ts). */
  | "port_limitation"

/** A decode failure: thrown inside this module and pythonCalls.ts, returned as data by the entry points. */
export class DecodeFailure extends Error {
  constructor(
    readonly kind: PythonDecodeErrorKind,
    readonly pos: number,
    message: string
  ) {
    super(message)
  }
}

export const fail = (kind: PythonDecodeErrorKind, pos: number, message: string): never => {
  throw new DecodeFailure(kind, pos, message)
}
export const syntaxError = (pos: number, message = "invalid syntax"): never =>
  fail("syntax", pos, `SyntaxError: ${message}`)

// ---------------------------------------------------------------------------------------------
// AST (the subset of Python's `ast` expression nodes this port parses)
// ---------------------------------------------------------------------------------------------

export type Const =
  | { readonly t: "int"; readonly v: bigint }
  | { readonly t: "float"; readonly v: number }
  /** A pure imaginary literal (`2j`). */
  | { readonly t: "complex"; readonly v: number }
  | { readonly t: "str"; readonly v: string }
  /** One character per byte. */
  | { readonly t: "bytes"; readonly v: string }
  | { readonly t: "bool"; readonly v: boolean }
  | { readonly t: "None" }
  | { readonly t: "Ellipsis" }

interface Span {
  readonly start: number
  readonly end: number
}

export type UnaryOperator = "-" | "+" | "~" | "not"
export type BinOperator = "+" | "-" | "*" | "@" | "/" | "//" | "%" | "**" | "<<" | ">>" | "&" | "|" | "^"

export interface Keyword {
  /** null for `**value`. */
  readonly arg: string | null
  readonly value: Expr
}

export type Expr = Span &
  (
    | { readonly k: "Constant"; readonly c: Const; readonly u: boolean }
    | { readonly k: "Name"; readonly id: string }
    | { readonly k: "UnaryOp"; readonly op: UnaryOperator; readonly operand: Expr }
    | { readonly k: "BinOp"; readonly op: BinOperator; readonly left: Expr; readonly right: Expr }
    | { readonly k: "BoolOp"; readonly op: "and" | "or"; readonly values: ReadonlyArray<Expr> }
    | {
        readonly k: "Compare"
        readonly left: Expr
        readonly ops: ReadonlyArray<string>
        readonly comparators: ReadonlyArray<Expr>
      }
    | { readonly k: "IfExp"; readonly test: Expr; readonly body: Expr; readonly orelse: Expr }
    | {
        readonly k: "Call"
        readonly func: Expr
        readonly args: ReadonlyArray<Expr>
        readonly keywords: ReadonlyArray<Keyword>
      }
    | { readonly k: "Attribute"; readonly value: Expr; readonly attr: string }
    | { readonly k: "Subscript"; readonly value: Expr; readonly slice: Expr }
    | {
        readonly k: "Slice"
        readonly lower: Expr | undefined
        readonly upper: Expr | undefined
        readonly step: Expr | undefined
      }
    | { readonly k: "Starred"; readonly value: Expr }
    | { readonly k: "List" | "Tuple" | "Set"; readonly elts: ReadonlyArray<Expr> }
    | { readonly k: "Dict"; readonly keys: ReadonlyArray<Expr | null>; readonly values: ReadonlyArray<Expr> }
  )

export type ExprOf<K extends Expr["k"]> = Extract<Expr, { readonly k: K }>

// ---------------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------------

type Token =
  | { readonly kind: "name"; readonly text: string; readonly start: number; readonly end: number }
  | { readonly kind: "number"; readonly c: Const; readonly start: number; readonly end: number }
  | {
      readonly kind: "string"
      readonly value: string
      readonly bytes: boolean
      readonly u: boolean
      readonly f: boolean
      readonly start: number
      readonly end: number
    }
  | { readonly kind: "op"; readonly text: string; readonly start: number; readonly end: number }
  | { readonly kind: "newline" | "end"; readonly start: number; readonly end: number }

export const KEYWORDS = new Set(
  (
    "False None True and as assert async await break class continue def del elif else except finally for from " +
    "global if import in is lambda nonlocal not or pass raise return try while with yield"
  ).split(" ")
)

/** Longest first. */
const OPERATORS = (
  "**= //= >>= <<= ... -> := ** // << >> <= >= == != += -= *= /= %= &= |= ^= @= " +
  "( ) [ ] { } , : . ; + - * / % & | ^ ~ < > = @"
).split(" ")

/** CPython's tokenizer limit on open brackets. */
const MAX_NESTING = 200
const CLOSERS: Readonly<Record<string, string>> = { ")": "(", "]": "[", "}": "{" }
const IDENT_RE = /[\p{XID_Start}_][\p{XID_Continue}]*/uy
const STRING_PREFIXES = new Set(["r", "u", "b", "f", "br", "rb", "fr", "rf"])
const DIGITS = "(?:[0-9](?:_?[0-9])*)"
const EXPONENT = `(?:[eE][-+]?${DIGITS})`
const POINTFLOAT = `(?:${DIGITS}\\.${DIGITS}?|\\.${DIGITS})${EXPONENT}?`
const EXPFLOAT = `${DIGITS}${EXPONENT}`
const IMAG_RE = new RegExp(`(?:${POINTFLOAT}|${EXPFLOAT}|${DIGITS})[jJ]`, "y")
const FLOAT_RE = new RegExp(`${POINTFLOAT}|${EXPFLOAT}`, "y")
const RADIX_RE = /0(?:[xX](?:_?[0-9a-fA-F])+|[oO](?:_?[0-7])+|[bB](?:_?[01])+)/y
const DECIMAL_RE = /0(?:_?0)*|[1-9](?:_?[0-9])*/y
/** Keywords CPython 3.11 accepts right after a number (with a warning), e.g. `1if x else 2`. */
const AFTER_NUMBER_KEYWORDS = /and|else|for|if|in|is|not|or/y

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v"
}

const isLineBreak = (c: string | undefined): boolean => c === "\n" || c === "\r"
const lineBreakLength = (s: string, i: number): number =>
  s[i] === "\r" && s[i + 1] === "\n" ? 2 : isLineBreak(s[i]) ? 1 : 0

const hexChar = (c: number): string => `U+${c.toString(16).toUpperCase().padStart(4, "0")}`

/** Reads a string literal whose opening quote is at `q`; returns the decoded value and its end. */
const readString = (
  src: string,
  tokStart: number,
  q: number,
  prefix: string
): { value: string; end: number; bytes: boolean; u: boolean; f: boolean } => {
  const p = prefix.toLowerCase()
  const raw = p.includes("r")
  const bytes = p.includes("b")
  const quote = src[q] as string
  const triple = src[q + 1] === quote && src[q + 2] === quote
  const delim = triple ? quote.repeat(3) : quote
  let i = q + delim.length
  let out = ""
  for (;;) {
    if (i >= src.length) {
      return syntaxError(tokStart, triple ? "unterminated triple-quoted string literal" : "unterminated string literal")
    }
    if (src.startsWith(delim, i)) {
      i += delim.length
      break
    }
    const c = src[i] as string
    const nl = lineBreakLength(src, i)
    if (nl > 0) {
      if (!triple) syntaxError(tokStart, "unterminated string literal")
      out += "\n"
      i += nl
      continue
    }
    if (bytes && c.charCodeAt(0) > 0x7f) syntaxError(i, "bytes can only contain ASCII literal characters")
    if (c !== "\\") {
      out += c
      i++
      continue
    }
    // Backslash.
    const next = src[i + 1]
    if (next === undefined) {
      i++
      continue // the loop reports the unterminated literal
    }
    const escNl = lineBreakLength(src, i + 1)
    if (raw) {
      // In raw strings a backslash only protects the next character from ending the literal.
      if (escNl > 0) {
        out += "\\\n"
        i += 1 + escNl
      } else {
        out += `\\${next}`
        i += 2
      }
      continue
    }
    if (escNl > 0) {
      i += 1 + escNl
      continue
    }
    const mapped = SIMPLE_ESCAPES[next]
    if (mapped !== undefined) {
      out += mapped
      i += 2
      continue
    }
    if (next >= "0" && next <= "7") {
      let j = i + 1
      let digits = ""
      while (j < src.length && digits.length < 3 && (src[j] as string) >= "0" && (src[j] as string) <= "7") {
        digits += src[j]
        j++
      }
      const code = Number.parseInt(digits, 8)
      if (bytes && code > 0xff) fail("port_limitation", i, "octal escape above \\377 in a bytes literal")
      out += String.fromCharCode(code)
      i = j
      continue
    }
    const hexLen = next === "x" ? 2 : !bytes && next === "u" ? 4 : !bytes && next === "U" ? 8 : 0
    if (hexLen > 0) {
      const hex = src.slice(i + 2, i + 2 + hexLen)
      if (!new RegExp(`^[0-9a-fA-F]{${hexLen}}$`).test(hex)) {
        syntaxError(i, `(unicode error) truncated \\${next}${"X".repeat(hexLen)} escape`)
      }
      const code = Number.parseInt(hex, 16)
      if (code > 0x10ffff) syntaxError(i, "(unicode error) illegal Unicode character")
      out += String.fromCodePoint(code)
      i += 2 + hexLen
      continue
    }
    if (!bytes && next === "N") {
      // CPython: `\N{name}`, the name or alias compared case-insensitively; anything else is a SyntaxError
      const close = src[i + 2] === "{" ? src.indexOf("}", i + 3) : -1
      const name = close === -1 ? "" : src.slice(i + 3, close)
      if (close === -1 || name === "" || /[\r\n]/.test(name) || name.includes(delim)) {
        syntaxError(i, "(unicode error) 'unicodeescape' codec can't decode bytes: malformed \\N character escape")
      }
      const code = codePointOfName(name)
      if (code === undefined) {
        syntaxError(i, "(unicode error) 'unicodeescape' codec can't decode bytes: unknown Unicode character name")
      }
      out += String.fromCodePoint(code as number)
      i = close + 1
      continue
    }
    // Unknown escape: Python keeps the backslash (with a warning).
    out += "\\"
    i++
  }
  return { value: out, end: i, bytes, u: p === "u", f: p.includes("f") }
}

const readNumber = (src: string, i: number): { c: Const; end: number } => {
  const tryRe = (re: RegExp): string | undefined => {
    re.lastIndex = i
    const m = re.exec(src)
    return m === null ? undefined : m[0]
  }
  let c: Const
  let text: string | undefined
  if ((text = tryRe(IMAG_RE)) !== undefined) {
    c = { t: "complex", v: Number(text.slice(0, -1).replace(/_/g, "")) }
  } else if ((text = tryRe(FLOAT_RE)) !== undefined) {
    c = { t: "float", v: Number(text.replace(/_/g, "")) }
  } else if ((text = tryRe(RADIX_RE)) !== undefined) {
    c = { t: "int", v: BigInt(text.replace(/_/g, "")) }
  } else if ((text = tryRe(DECIMAL_RE)) !== undefined) {
    c = { t: "int", v: BigInt(text.replace(/_/g, "")) }
    if (/^0+$/.test(text.replace(/_/g, "")) && /[0-9]/.test(src[i + text.length] ?? "")) {
      syntaxError(i, "leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers")
    }
  } else {
    return syntaxError(i, "invalid decimal literal")
  }
  const end = i + text.length
  const after = src.slice(end, end + 1)
  if (/[0-9]/.test(after)) syntaxError(i, "invalid decimal literal")
  IDENT_RE.lastIndex = end
  if (IDENT_RE.test(src)) {
    AFTER_NUMBER_KEYWORDS.lastIndex = end
    if (!AFTER_NUMBER_KEYWORDS.test(src)) syntaxError(i, `invalid ${c.t === "int" ? "decimal" : c.t} literal`)
  }
  return { c, end }
}

/**
 * Python's tokenizer for one `eval`-mode input. With `stopAtClose`, tokenizing starts at an opening
 * bracket and stops when it is closed (used to find a call list inside other text).
 */
const tokenize = (src: string, from = 0, stopAtClose = false): Array<Token> => {
  const toks: Array<Token> = []
  const stack: Array<{ ch: string; pos: number }> = []
  let i = from
  let lineHasTokens = false
  let lineStart = true
  for (;;) {
    if (lineStart && stack.length === 0) {
      // Indentation of a logical line that holds a token is an error in eval mode.
      let j = i
      while (src[j] === " " || src[j] === "\t" || src[j] === "\f") j++
      const c = src[j]
      if (j > i && c !== undefined && c !== "#" && !isLineBreak(c) && !(c === "\\" && isLineBreak(src[j + 1]))) {
        fail("syntax", j, "IndentationError: unexpected indent")
      }
      lineStart = false
    }
    while (src[i] === " " || src[i] === "\t" || src[i] === "\f") i++
    const c = src[i]
    if (c === undefined) {
      const open = stack.at(-1)
      if (open !== undefined) syntaxError(open.pos, `'${open.ch}' was never closed`)
      if (lineHasTokens) toks.push({ kind: "newline", start: i, end: i })
      toks.push({ kind: "end", start: i, end: i })
      return toks
    }
    if (c === "#") {
      while (i < src.length && !isLineBreak(src[i])) i++
      continue
    }
    if (c === "\\") {
      const nl = lineBreakLength(src, i + 1)
      if (nl === 0) {
        syntaxError(
          i,
          i + 1 >= src.length
            ? "unexpected EOF while parsing"
            : "unexpected character after line continuation character"
        )
      }
      i += 1 + nl
      continue
    }
    const nl = lineBreakLength(src, i)
    if (nl > 0) {
      if (stack.length === 0) {
        if (lineHasTokens) toks.push({ kind: "newline", start: i, end: i + nl })
        lineHasTokens = false
        lineStart = true
      }
      i += nl
      continue
    }
    const start = i
    lineHasTokens = true
    IDENT_RE.lastIndex = i
    const ident = IDENT_RE.exec(src)
    if (ident !== null) {
      const word = ident[0]
      const q = src[i + word.length]
      if ((q === "'" || q === '"') && STRING_PREFIXES.has(word.toLowerCase())) {
        const s = readString(src, start, i + word.length, word)
        toks.push({ kind: "string", value: s.value, bytes: s.bytes, u: s.u, f: s.f, start, end: s.end })
        i = s.end
      } else {
        // CPython NFKC-normalises identifiers (PEP 3131): `ﬁnd` is the name `find`.
        toks.push({ kind: "name", text: word.normalize("NFKC"), start, end: i + word.length })
        i += word.length
      }
      continue
    }
    if (c === "'" || c === '"') {
      const s = readString(src, start, i, "")
      toks.push({ kind: "string", value: s.value, bytes: false, u: false, f: false, start, end: s.end })
      i = s.end
      continue
    }
    if ((c >= "0" && c <= "9") || (c === "." && /[0-9]/.test(src[i + 1] ?? ""))) {
      const n = readNumber(src, i)
      toks.push({ kind: "number", c: n.c, start, end: n.end })
      i = n.end
      continue
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i))
    if (op === undefined) {
      const cp = src.codePointAt(i) as number
      return syntaxError(i, `invalid character '${String.fromCodePoint(cp)}' (${hexChar(cp)})`)
    }
    if (op === "(" || op === "[" || op === "{") {
      if (stack.length >= MAX_NESTING) syntaxError(i, "too many nested parentheses")
      stack.push({ ch: op, pos: i })
    }
    const opener = CLOSERS[op]
    if (opener !== undefined) {
      const top = stack.pop()
      if (top === undefined) syntaxError(i, `unmatched '${op}'`)
      else if (top.ch !== opener) {
        syntaxError(i, `closing parenthesis '${op}' does not match opening parenthesis '${top.ch}'`)
      }
    }
    toks.push({ kind: "op", text: op, start, end: i + op.length })
    i += op.length
    if (stopAtClose && stack.length === 0) {
      toks.push({ kind: "end", start: i, end: i })
      return toks
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Parser (CPython's expression grammar, eval mode)
// ---------------------------------------------------------------------------------------------

const COMPARE_OPS = new Set(["==", "!=", "<", "<=", ">", ">="])

class Parser {
  private i = 0
  constructor(private readonly toks: ReadonlyArray<Token>) {}

  private get tok(): Token {
    return this.toks[this.i] as Token
  }
  private peek(n = 1): Token {
    return (this.toks[this.i + n] ?? this.toks[this.toks.length - 1]) as Token
  }
  private isOp(text: string, t: Token = this.tok): boolean {
    return t.kind === "op" && t.text === text
  }
  private isName(text: string, t: Token = this.tok): boolean {
    return t.kind === "name" && t.text === text
  }
  private eatOp(text: string): boolean {
    if (!this.isOp(text)) return false
    this.i++
    return true
  }
  private eatName(text: string): boolean {
    if (!this.isName(text)) return false
    this.i++
    return true
  }
  private prevEnd(): number {
    return (this.toks[this.i - 1] as Token).end
  }
  /** Fails at the current token (naming syntax this port does not implement where relevant). */
  private unexpected(): never {
    const t = this.tok
    if (this.isOp(":=")) return fail("port_limitation", t.start, "assignment expressions (:=) are not supported")
    if (this.isName("for") || this.isName("async")) {
      return fail("port_limitation", t.start, "comprehensions and generator expressions are not supported")
    }
    if (t.kind === "end") return syntaxError(t.start, "unexpected EOF while parsing")
    return syntaxError(t.start)
  }
  private expectOp(text: string): void {
    if (!this.eatOp(text)) this.unexpected()
  }
  private node<E extends Expr>(e: E): E {
    return e
  }

  /** `eval` input: star_expressions NEWLINE* ENDMARKER. */
  parseEval(): Expr {
    const e = this.starExpressions()
    while (this.tok.kind === "newline") this.i++
    if (this.tok.kind !== "end") this.unexpected()
    return e
  }

  private startsExpression(t: Token = this.tok): boolean {
    if (t.kind === "number" || t.kind === "string") return true
    if (t.kind === "name")
      return !KEYWORDS.has(t.text) || ["True", "False", "None", "not", "lambda", "await", "yield"].includes(t.text)
    return t.kind === "op" && ["(", "[", "{", "-", "+", "~", "*", "..."].includes(t.text)
  }

  private starExpressions(): Expr {
    const start = this.tok.start
    const first = this.starExpression()
    if (!this.isOp(",")) return first
    const elts = [first]
    while (this.eatOp(",")) {
      if (!this.startsExpression()) break
      elts.push(this.starExpression())
    }
    return this.node({ k: "Tuple", elts, start, end: this.prevEnd() })
  }

  private starExpression(): Expr {
    const start = this.tok.start
    if (this.eatOp("*")) return this.node({ k: "Starred", value: this.bitOr(), start, end: this.prevEnd() })
    return this.expression()
  }

  private expression(): Expr {
    const t = this.tok
    if (this.isName("lambda")) return fail("port_limitation", t.start, "lambda expressions are not supported")
    const body = this.disjunction()
    if (!this.eatName("if")) return body
    const test = this.disjunction()
    if (!this.eatName("else")) this.unexpected()
    const orelse = this.expression()
    return this.node({ k: "IfExp", test, body, orelse, start: body.start, end: orelse.end })
  }

  private disjunction(): Expr {
    const first = this.conjunction()
    if (!this.isName("or")) return first
    const values = [first]
    while (this.eatName("or")) values.push(this.conjunction())
    return this.node({ k: "BoolOp", op: "or", values, start: first.start, end: this.prevEnd() })
  }

  private conjunction(): Expr {
    const first = this.inversion()
    if (!this.isName("and")) return first
    const values = [first]
    while (this.eatName("and")) values.push(this.inversion())
    return this.node({ k: "BoolOp", op: "and", values, start: first.start, end: this.prevEnd() })
  }

  private inversion(): Expr {
    const start = this.tok.start
    if (this.eatName("not")) {
      const operand = this.inversion()
      return this.node({ k: "UnaryOp", op: "not", operand, start, end: operand.end })
    }
    return this.comparison()
  }

  private compareOp(): string | undefined {
    const t = this.tok
    if (t.kind === "op" && COMPARE_OPS.has(t.text)) {
      this.i++
      return t.text
    }
    if (this.isName("in")) {
      this.i++
      return "in"
    }
    if (this.isName("not") && this.isName("in", this.peek())) {
      this.i += 2
      return "not in"
    }
    if (this.isName("is")) {
      this.i++
      return this.eatName("not") ? "is not" : "is"
    }
    return undefined
  }

  private comparison(): Expr {
    const left = this.bitOr()
    const ops: Array<string> = []
    const comparators: Array<Expr> = []
    for (let op = this.compareOp(); op !== undefined; op = this.compareOp()) {
      ops.push(op)
      comparators.push(this.bitOr())
    }
    if (ops.length === 0) return left
    return this.node({ k: "Compare", left, ops, comparators, start: left.start, end: this.prevEnd() })
  }

  private binary(ops: ReadonlyArray<BinOperator>, next: () => Expr): Expr {
    let left = next()
    for (;;) {
      const t = this.tok
      if (t.kind !== "op" || !ops.includes(t.text as BinOperator)) return left
      this.i++
      const right = next()
      left = this.node({ k: "BinOp", op: t.text as BinOperator, left, right, start: left.start, end: right.end })
    }
  }

  private bitOr = (): Expr => this.binary(["|"], this.bitXor)
  private bitXor = (): Expr => this.binary(["^"], this.bitAnd)
  private bitAnd = (): Expr => this.binary(["&"], this.shift)
  private shift = (): Expr => this.binary(["<<", ">>"], this.sum)
  private sum = (): Expr => this.binary(["+", "-"], this.term)
  private term = (): Expr => this.binary(["*", "/", "//", "%", "@"], this.factor)

  private factor = (): Expr => {
    const t = this.tok
    if (t.kind === "op" && (t.text === "-" || t.text === "+" || t.text === "~")) {
      this.i++
      const operand = this.factor()
      return this.node({ k: "UnaryOp", op: t.text, operand, start: t.start, end: operand.end })
    }
    return this.power()
  }

  private power(): Expr {
    if (this.isName("await")) return fail("port_limitation", this.tok.start, "await expressions are not supported")
    const base = this.primary()
    if (!this.eatOp("**")) return base
    const exp = this.factor()
    return this.node({ k: "BinOp", op: "**", left: base, right: exp, start: base.start, end: exp.end })
  }

  private primary(): Expr {
    let e = this.atom()
    for (;;) {
      if (this.eatOp(".")) {
        const t = this.tok
        if (t.kind !== "name" || KEYWORDS.has(t.text)) this.unexpected()
        this.i++
        e = this.node({ k: "Attribute", value: e, attr: (t as { text: string }).text, start: e.start, end: t.end })
      } else if (this.isOp("(")) {
        e = this.callArgs(e)
      } else if (this.eatOp("[")) {
        const slice = this.slices()
        this.expectOp("]")
        e = this.node({ k: "Subscript", value: e, slice, start: e.start, end: this.prevEnd() })
      } else {
        return e
      }
    }
  }

  private callArgs(func: Expr): Expr {
    this.expectOp("(")
    const args: Array<Expr> = []
    const keywords: Array<Keyword> = []
    let sawKeyword = false
    let sawDoubleStar = false
    while (!this.isOp(")")) {
      const t = this.tok
      if (this.eatOp("*")) {
        if (sawDoubleStar) syntaxError(t.start, "iterable argument unpacking follows keyword argument unpacking")
        const value = this.expression()
        args.push(this.node({ k: "Starred", value, start: t.start, end: value.end }))
      } else if (this.eatOp("**")) {
        keywords.push({ arg: null, value: this.expression() })
        sawDoubleStar = true
      } else if (t.kind === "name" && !KEYWORDS.has(t.text) && this.isOp("=", this.peek())) {
        this.i += 2
        keywords.push({ arg: t.text, value: this.expression() })
        sawKeyword = true
      } else {
        const value = this.expression()
        if (this.isOp("=")) syntaxError(this.tok.start, 'expression cannot contain assignment, perhaps you meant "=="?')
        if (this.isName("for") || this.isName("async")) this.unexpected()
        if (sawDoubleStar) syntaxError(value.start, "positional argument follows keyword argument unpacking")
        if (sawKeyword) syntaxError(value.start, "positional argument follows keyword argument")
        args.push(value)
      }
      if (!this.eatOp(",")) break
    }
    this.expectOp(")")
    return this.node({ k: "Call", func, args, keywords, start: func.start, end: this.prevEnd() })
  }

  private slice(): Expr {
    const start = this.tok.start
    const endsPart = () => this.isOp(":") || this.isOp(",") || this.isOp("]")
    const lower = this.isOp(":") ? undefined : this.isOp("*") ? this.starExpression() : this.expression()
    if (!this.eatOp(":")) return lower as Expr
    const upper = endsPart() ? undefined : this.expression()
    let step: Expr | undefined
    if (this.eatOp(":")) step = this.isOp(",") || this.isOp("]") ? undefined : this.expression()
    return this.node({ k: "Slice", lower, upper, step, start, end: this.prevEnd() })
  }

  private slices(): Expr {
    const start = this.tok.start
    const first = this.slice()
    if (!this.isOp(",")) return first
    const elts = [first]
    while (this.eatOp(",")) {
      if (this.isOp("]")) break
      elts.push(this.slice())
    }
    return this.node({ k: "Tuple", elts, start, end: this.prevEnd() })
  }

  /** Elements up to `close` (after the first one), with an optional trailing comma. */
  private restOfElements(first: Expr, close: string): Array<Expr> {
    const elts = [first]
    if (this.isName("for") || this.isName("async")) this.unexpected()
    while (this.eatOp(",")) {
      if (this.isOp(close)) break
      elts.push(this.starExpression())
    }
    this.expectOp(close)
    return elts
  }

  private atom(): Expr {
    const t = this.tok
    const start = t.start
    switch (t.kind) {
      case "number":
        this.i++
        return this.node({ k: "Constant", c: t.c, u: false, start, end: t.end })
      case "string": {
        let value = ""
        let bytes: boolean | undefined
        let end = t.end
        while (this.tok.kind === "string") {
          const s = this.tok as Extract<Token, { kind: "string" }>
          if (s.f) fail("port_limitation", s.start, "f-strings are not supported")
          if (bytes !== undefined && bytes !== s.bytes) syntaxError(s.start, "cannot mix bytes and nonbytes literals")
          bytes = s.bytes
          value += s.value
          end = s.end
          this.i++
        }
        const c: Const = bytes === true ? { t: "bytes", v: value } : { t: "str", v: value }
        return this.node({ k: "Constant", c, u: t.u, start, end })
      }
      case "name": {
        if (t.text === "True" || t.text === "False" || t.text === "None") {
          this.i++
          const c: Const = t.text === "None" ? { t: "None" } : { t: "bool", v: t.text === "True" }
          return this.node({ k: "Constant", c, u: false, start, end: t.end })
        }
        if (t.text === "yield" || t.text === "await" || t.text === "lambda") {
          return fail("port_limitation", start, `${t.text} expressions are not supported`)
        }
        if (KEYWORDS.has(t.text)) return this.unexpected()
        this.i++
        return this.node({ k: "Name", id: t.text, start, end: t.end })
      }
      case "op":
        break
      default:
        return this.unexpected()
    }
    if (this.eatOp("...")) return this.node({ k: "Constant", c: { t: "Ellipsis" }, u: false, start, end: t.end })
    if (this.eatOp("(")) {
      if (this.eatOp(")")) return this.node({ k: "Tuple", elts: [], start, end: this.prevEnd() })
      if (this.isName("yield")) return fail("port_limitation", this.tok.start, "yield expressions are not supported")
      const first = this.starExpression()
      if (this.isOp(")") && first.k !== "Starred") {
        this.i++
        return first
      }
      if (this.isOp(")")) return syntaxError(first.start, "cannot use starred expression here")
      const elts = this.restOfElements(first, ")")
      return this.node({ k: "Tuple", elts, start, end: this.prevEnd() })
    }
    if (this.eatOp("[")) {
      if (this.eatOp("]")) return this.node({ k: "List", elts: [], start, end: this.prevEnd() })
      const elts = this.restOfElements(this.starExpression(), "]")
      return this.node({ k: "List", elts, start, end: this.prevEnd() })
    }
    if (this.eatOp("{")) {
      if (this.eatOp("}")) return this.node({ k: "Dict", keys: [], values: [], start, end: this.prevEnd() })
      const isDict = this.isOp("**") || (!this.isOp("*") && this.dictAhead())
      if (!isDict) {
        const elts = this.restOfElements(this.starExpression(), "}")
        return this.node({ k: "Set", elts, start, end: this.prevEnd() })
      }
      const keys: Array<Expr | null> = []
      const values: Array<Expr> = []
      for (;;) {
        if (this.eatOp("**")) {
          keys.push(null)
          values.push(this.bitOr())
        } else {
          keys.push(this.expression())
          this.expectOp(":")
          values.push(this.expression())
        }
        if (this.isName("for") || this.isName("async")) this.unexpected()
        if (!this.eatOp(",") || this.isOp("}")) break
      }
      this.expectOp("}")
      return this.node({ k: "Dict", keys, values, start, end: this.prevEnd() })
    }
    return this.unexpected()
  }

  /** After `{`: does a `:` follow the first expression (a dict) or not (a set)? */
  private dictAhead(): boolean {
    const save = this.i
    try {
      this.expression()
      return this.isOp(":")
    } catch (e) {
      if (e instanceof DecodeFailure) return false
      throw e
    } finally {
      this.i = save
    }
  }
}

/**
 * The end (just after the closing bracket) of the bracketed expression whose opening bracket is at
 * `start`, skipping brackets inside strings and comments; undefined if it does not tokenize.
 */
export const bracketedEnd = (text: string, start: number): number | undefined => {
  try {
    const toks = tokenize(text, start, true)
    return (toks[toks.length - 1] as Token).end
  } catch (e) {
    if (e instanceof DecodeFailure) return undefined
    throw e
  }
}

/** `ast.parse(source, mode="eval").body`; throws a {@link DecodeFailure}. */
export const parseExpression = (source: string): Expr => new Parser(tokenize(source)).parseEval()

// ---------------------------------------------------------------------------------------------
// ast.unparse (CPython 3.11 `_Unparser`, for the node kinds above)
// ---------------------------------------------------------------------------------------------

const P = {
  TUPLE: 2,
  TEST: 4,
  OR: 5,
  AND: 6,
  NOT: 7,
  CMP: 8,
  EXPR: 9,
  BOR: 9,
  BXOR: 10,
  BAND: 11,
  SHIFT: 12,
  ARITH: 13,
  TERM: 14,
  FACTOR: 15,
  POWER: 16,
  ATOM: 18
} as const

const BINOP_PRECEDENCE: Readonly<Record<BinOperator, number>> = {
  "+": P.ARITH,
  "-": P.ARITH,
  "*": P.TERM,
  "@": P.TERM,
  "/": P.TERM,
  "%": P.TERM,
  "//": P.TERM,
  "<<": P.SHIFT,
  ">>": P.SHIFT,
  "|": P.BOR,
  "^": P.BXOR,
  "&": P.BAND,
  "**": P.POWER
}

const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u

/** CPython `repr(str)`. */
export const pyStrRepr = (s: string): string => {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'"
  let out = quote
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number
    if (ch === quote || ch === "\\") out += `\\${ch}`
    else if (ch === "\t") out += "\\t"
    else if (ch === "\n") out += "\\n"
    else if (ch === "\r") out += "\\r"
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, "0")}`
    else if (cp < 0x7f || ch === " ") out += ch
    else if (!NON_PRINTABLE.test(ch)) out += ch
    else if (cp <= 0xff) out += `\\x${cp.toString(16).padStart(2, "0")}`
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, "0")}`
    else out += `\\U${cp.toString(16).padStart(8, "0")}`
  }
  return out + quote
}

const pyBytesRepr = (s: string): string => {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'"
  let out = `b${quote}`
  for (const ch of s) {
    const c = ch.charCodeAt(0)
    if (ch === quote || ch === "\\") out += `\\${ch}`
    else if (ch === "\t") out += "\\t"
    else if (ch === "\n") out += "\\n"
    else if (ch === "\r") out += "\\r"
    else if (c < 0x20 || c >= 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`
    else out += ch
  }
  return out + quote
}

/** `repr(float)` with `ast.unparse`'s substitution of `1e309` for infinities. */
export const unparseFloat = (x: number): string =>
  pyFloatRepr(x).replace("inf", "1e309").replace("nan", "(1e309-1e309)")

export const unparseConst = (c: Const, u: boolean): string => {
  switch (c.t) {
    case "int":
      return c.v.toString()
    case "float":
      return unparseFloat(c.v)
    case "complex":
      return `${unparseFloat(c.v).replace(/\.0$/, "")}j`
    case "str":
      return (u ? "u" : "") + pyStrRepr(c.v)
    case "bytes":
      return pyBytesRepr(c.v)
    case "bool":
      return c.v ? "True" : "False"
    case "None":
      return "None"
    case "Ellipsis":
      return "..."
  }
}

/** CPython `ast.unparse(node)`; `prec` is the precedence the parent node requires. */
export const unparse = (e: Expr, prec: number = P.TEST): string => {
  const paren = (needed: boolean, s: string) => (needed ? `(${s})` : s)
  switch (e.k) {
    case "Constant":
      return unparseConst(e.c, e.u)
    case "Name":
      return e.id
    case "UnaryOp": {
      const p = e.op === "not" ? P.NOT : P.FACTOR
      const sep = p === P.FACTOR ? "" : " "
      return paren(prec > p, `${e.op}${sep}${unparse(e.operand, p)}`)
    }
    case "BinOp": {
      const p = BINOP_PRECEDENCE[e.op]
      const rassoc = e.op === "**"
      const left = unparse(e.left, rassoc ? p + 1 : p)
      const right = unparse(e.right, rassoc ? p : p + 1)
      return paren(prec > p, `${left} ${e.op} ${right}`)
    }
    case "BoolOp": {
      const p0 = e.op === "and" ? P.AND : P.OR
      let p: number = p0
      const parts = e.values.map((v) => {
        p += 1
        return unparse(v, p)
      })
      return paren(prec > p0, parts.join(` ${e.op} `))
    }
    case "Compare": {
      let s = unparse(e.left, P.CMP + 1)
      e.ops.forEach((op, i) => {
        s += ` ${op} ${unparse(e.comparators[i] as Expr, P.CMP + 1)}`
      })
      return paren(prec > P.CMP, s)
    }
    case "IfExp":
      return paren(
        prec > P.TEST,
        `${unparse(e.body, P.TEST + 1)} if ${unparse(e.test, P.TEST + 1)} else ${unparse(e.orelse, P.TEST)}`
      )
    case "Call": {
      const args = [
        ...e.args.map((a) => unparse(a)),
        ...e.keywords.map((k) => (k.arg === null ? `**${unparse(k.value)}` : `${k.arg}=${unparse(k.value)}`))
      ]
      return `${unparse(e.func, P.ATOM)}(${args.join(", ")})`
    }
    case "Attribute": {
      const space = e.value.k === "Constant" && e.value.c.t === "int" ? " " : ""
      return `${unparse(e.value, P.ATOM)}${space}.${e.attr}`
    }
    case "Subscript": {
      const inner =
        e.slice.k === "Tuple" && e.slice.elts.length > 0 ? itemsView(e.slice.elts) : unparse(e.slice, P.TEST)
      return `${unparse(e.value, P.ATOM)}[${inner}]`
    }
    case "Slice":
      return (
        (e.lower !== undefined ? unparse(e.lower) : "") +
        ":" +
        (e.upper !== undefined ? unparse(e.upper) : "") +
        (e.step !== undefined ? `:${unparse(e.step)}` : "")
      )
    case "Starred":
      return `*${unparse(e.value, P.EXPR)}`
    case "List":
      return `[${e.elts.map((x) => unparse(x)).join(", ")}]`
    case "Set":
      return e.elts.length === 0 ? "{*()}" : `{${e.elts.map((x) => unparse(x)).join(", ")}}`
    case "Tuple":
      return paren(e.elts.length === 0 || prec > P.TUPLE, itemsView(e.elts))
    case "Dict":
      return `{${e.keys
        .map((k, i) =>
          k === null ? `**${unparse(e.values[i] as Expr, P.EXPR)}` : `${unparse(k)}: ${unparse(e.values[i] as Expr)}`
        )
        .join(", ")}}`
  }
}

const itemsView = (elts: ReadonlyArray<Expr>): string =>
  elts.length === 1 ? `${unparse(elts[0] as Expr)},` : elts.map((x) => unparse(x)).join(", ")
