/**
 * BFCL's AST checker (gorilla `bfcl_eval/eval_checker/ast_eval/ast_checker.py`), ported for the
 * Python language, with BFCL's decoding rules for the Qwen FC handler and for prompting models
 * (Python-call syntax, `bfclPythonDecode`), and its relevance rule.
 *
 * Per call (`simpleFunctionChecker`):
 * 1. name: the expected function name must be the key of the decoded call (`underscoreToDot`
 *    applies BFCL's `.`→`_` conversion for models that cannot emit dots);
 * 2. every `required` parameter of the doc is present;
 * 3. every emitted parameter exists in the doc AND in the possible answer (else `unexpected_param`);
 * 4. type: the Python type of the value equals the doc type (`string`→str, `integer`→int,
 *    `float`→float, `boolean`→bool, `array`/`tuple`→list, `dict`→dict, `any`→str); an int is
 *    accepted for a float; array items are checked one level deep; BFCL's "variable" rule (a value
 *    whose type equals the possible answer's type) is kept;
 * 5. value: one of the acceptable values; strings normalised on both sides (remove spaces and
 *    `,./-_*^`, lower-case, `'`→`"`), lists element-wise after the same normalisation, dicts key by
 *    key, lists of dicts in order;
 * 6. a possible-answer parameter that was not emitted must have `""` among its acceptable values.
 *
 * Per item: `simple` needs exactly one call; `multiple` needs the GT count (1) and checks the
 * expected function; `parallel`/`parallel_multiple` need the GT count and match order-free
 * (each GT call takes the first unmatched model call that passes). Irrelevance: correct iff
 * decoding fails or yields no call.
 *
 * Does NOT implement: Java/JavaScript type converters, live/multi-turn/agentic categories, the
 * executable categories. Where BFCL's Python would raise inside the checker (malformed possible
 * answers), this port returns an invalid result with error type `checker_exception`.
 */
import type { EvalItem, ToolSpec } from "../data/EvalItem.js"
import {
  hasOwn,
  isPyDict,
  type PyDict,
  PyFloat,
  type PyTypeName,
  type PyValue,
  pyEquals,
  pyIn,
  pyJsonLoads,
  pyRepr,
  pyType
} from "../json/pyjson.js"
import { decodePythonCalls, type PythonDecodeOptions } from "../parse/pythonCalls.js"

export interface BfclCheck {
  readonly valid: boolean
  readonly error: ReadonlyArray<string>
  /** BFCL's `error_type`, e.g. `simple_function_checker:missing_required`. */
  readonly errorType?: string
}

/** A decoded model output: `[{func_name: {param: value}}]`. */
export type BfclDecoded = ReadonlyArray<PyDict>

const OK: BfclCheck = { valid: true, error: [] }

const PYTHON_TYPE_MAPPING: Readonly<Record<string, PyTypeName>> = {
  string: "str",
  integer: "int",
  float: "float",
  boolean: "bool",
  array: "list",
  tuple: "list",
  dict: "dict",
  any: "str"
}
const PYTHON_NESTED_TYPE_CHECK_LIST = new Set(["array", "tuple"])

class CheckerException extends Error {}

const asList = (v: PyValue | undefined, what: string): ReadonlyArray<PyValue> => {
  if (Array.isArray(v)) return v as ReadonlyArray<PyValue>
  throw new CheckerException(`${what} is not a list: ${pyRepr(v ?? null)}`)
}

/** Python iteration over `x` as `range(len(x))` + indexing does it: lists and strings (characters). */
const iterIndexed = (v: PyValue): ReadonlyArray<PyValue> => {
  if (Array.isArray(v)) return v as ReadonlyArray<PyValue>
  if (typeof v === "string") return Array.from(v)
  throw new CheckerException(`object of type '${pyType(v)}' has no len()`)
}

/** BFCL's `standardize_string`. */
export const standardizeString = (s: string): string =>
  s
    .replace(/[ ,./\-_*^]/g, "")
    .toLowerCase()
    .replace(/'/g, '"')

const getPossibleAnswerType = (possible: ReadonlyArray<PyValue>): PyTypeName | undefined => {
  for (const a of possible) if (a !== "") return pyType(a)
  return undefined
}

interface TypeCheck extends BfclCheck {
  readonly isVariable: boolean
}

const typeChecker = (
  param: string,
  value: PyValue,
  possible: ReadonlyArray<PyValue>,
  expectedDescription: string,
  expected: PyTypeName,
  nested: PyTypeName | undefined
): TypeCheck => {
  let valid = true
  const error: Array<string> = []
  let errorType = "type_error:simple"
  let isVariable = false
  const possibleType = getPossibleAnswerType(possible)
  if (possibleType !== undefined && possibleType !== expected) isVariable = true
  if (pyType(value) === expected) {
    if (nested === undefined) return { valid: true, error: [], isVariable, errorType }
    for (const item of possible) {
      let flag = true
      if (Array.isArray(item)) {
        for (const v of value as ReadonlyArray<PyValue>) {
          const r = typeChecker(param, v, item as ReadonlyArray<PyValue>, `<class '${nested}'>`, nested, undefined)
          if (!r.valid) {
            flag = false
            break
          }
        }
      }
      if (flag) return { valid: true, error: [], isVariable }
    }
    valid = false
    error.push(
      `Nested type checking failed for parameter ${pyRepr(param)}. Expected outer type ${expectedDescription} with inner type <class '${nested}'>. Parameter value: ${pyRepr(value)}.`
    )
    errorType = "type_error:nested"
  }
  if (possibleType !== undefined && pyType(value) === possibleType) {
    return { valid, error, isVariable: true, errorType }
  }
  error.push(
    `Incorrect type for parameter ${pyRepr(param)}. Expected type ${expectedDescription}, got ${pyType(value)}. Parameter value: ${pyRepr(value)}.`
  )
  return { valid: false, error, isVariable, errorType: "type_error:simple" }
}

const stringChecker = (param: string, modelOutput: string, possible: ReadonlyArray<PyValue>): BfclCheck => {
  const std = standardizeString(modelOutput)
  const stdPossible = possible.filter((p): p is string => typeof p === "string").map(standardizeString)
  if (!stdPossible.includes(std)) {
    return {
      valid: false,
      error: [
        `Invalid value for parameter ${pyRepr(param)}: ${pyRepr(modelOutput)}. Expected one of ${pyRepr(possible as Array<PyValue>)}. Case insensitive.`
      ],
      errorType: "value_error:string"
    }
  }
  return OK
}

const listChecker = (
  param: string,
  modelOutput: ReadonlyArray<PyValue>,
  possible: ReadonlyArray<PyValue>
): BfclCheck => {
  const stdModel = modelOutput.map((v) => (typeof v === "string" ? standardizeString(v) : v))
  const stdPossible = possible.map((p) => iterIndexed(p).map((x) => (typeof x === "string" ? standardizeString(x) : x)))
  if (!pyIn(stdModel, stdPossible)) {
    return {
      valid: false,
      error: [
        `Invalid value for parameter ${pyRepr(param)}: ${pyRepr(modelOutput as Array<PyValue>)}. Expected one of ${pyRepr(possible as Array<PyValue>)}.`
      ],
      errorType: "value_error:list/tuple"
    }
  }
  return OK
}

const dictChecker = (_param: string, modelOutput: PyValue, possibleAnswers: ReadonlyArray<PyValue>): BfclCheck => {
  if (!isPyDict(modelOutput)) throw new CheckerException(`'${pyType(modelOutput)}' object has no attribute 'items'`)
  let result: BfclCheck = { valid: false, error: [], errorType: "dict_checker:unclear" }
  for (const possible of possibleAnswers) {
    if (possible === "") continue
    if (!isPyDict(possible)) throw new CheckerException(`possible dict answer is not a dict: ${pyRepr(possible)}`)
    const error: Array<string> = []
    let errorType = "dict_checker:unclear"
    let flag = true
    for (const key of Object.keys(modelOutput)) {
      const value = modelOutput[key] as PyValue
      if (!hasOwn(possible, key)) {
        error.push(`Unexpected dict key parameter: '${key}'.`)
        errorType = "value_error:dict_key"
        flag = false
        break
      }
      const stdValue = typeof value === "string" ? standardizeString(value) : value
      const stdPossible = iterIndexed(possible[key] as PyValue).map((x) =>
        typeof x === "string" ? standardizeString(x) : x
      )
      if (!pyIn(stdValue, stdPossible)) {
        error.push(
          `Invalid value for parameter ${pyRepr(key)}: ${pyRepr(value)}. Expected one of ${pyRepr(stdPossible)}.`
        )
        errorType = "value_error:dict_value"
        flag = false
        break
      }
    }
    for (const key of Object.keys(possible)) {
      const value = possible[key] as PyValue
      const optional = typeof value === "string" ? true : pyIn("", iterIndexed(value))
      if (!hasOwn(modelOutput, key) && !optional) {
        error.push(`Missing dict key parameter: '${key}'.`)
        errorType = "value_error:dict_key"
        flag = false
        break
      }
    }
    if (flag) return OK
    result = { valid: false, error, errorType }
  }
  return result
}

const listDictChecker = (
  param: string,
  modelOutput: ReadonlyArray<PyValue>,
  possibleAnswers: ReadonlyArray<PyValue>
): BfclCheck => {
  let result: BfclCheck = { valid: false, error: [], errorType: "list_dict_checker:unclear" }
  for (const answer of possibleAnswers) {
    const answerItems = iterIndexed(answer)
    let flag = true
    if (modelOutput.length !== answerItems.length) {
      result = {
        valid: false,
        error: ["Wrong number of dictionaries in the list."],
        errorType: "value_error:list_dict_count"
      }
      continue
    }
    for (let i = 0; i < modelOutput.length; i++) {
      result = dictChecker(param, modelOutput[i] as PyValue, [answerItems[i] as PyValue])
      if (!result.valid) {
        flag = false
        break
      }
    }
    if (flag) return OK
  }
  return result
}

const toolParams = (doc: ToolSpec): { properties: PyDict; required: ReadonlyArray<PyValue> } => {
  const properties = doc.parameters.properties
  const required = doc.parameters.required ?? []
  if (!isPyDict(properties as PyValue))
    throw new CheckerException(`function doc ${doc.name} has no parameters.properties`)
  return { properties: properties as PyDict, required: asList(required as PyValue, "parameters.required") }
}

export interface BfclCheckOptions {
  /** BFCL's `underscore_to_dot` model setting: compare against the doc name with `.` → `_`. Default false. */
  readonly underscoreToDot?: boolean
}

const convertFuncName = (name: string, options: BfclCheckOptions): string =>
  options.underscoreToDot === true && name.includes(".") ? name.replace(/\./g, "_") : name

/** BFCL `simple_function_checker` (Python). */
export const simpleFunctionChecker = (
  doc: ToolSpec,
  modelOutput: PyDict,
  possibleAnswer: PyDict,
  options: BfclCheckOptions = {}
): BfclCheck => {
  try {
    const possible = Object.values(possibleAnswer)[0]
    if (!isPyDict(possible ?? null)) throw new CheckerException("possible answer has no parameter dict")
    const possibleParams = possible as PyDict
    const { properties, required } = toolParams(doc)
    const funcName = convertFuncName(doc.name, options)
    if (!hasOwn(modelOutput, funcName)) {
      return {
        valid: false,
        error: [`Function name ${pyRepr(funcName)} not found in model output.`],
        errorType: "simple_function_checker:wrong_func_name"
      }
    }
    const modelParams = modelOutput[funcName] as PyValue
    if (!isPyDict(modelParams)) throw new CheckerException(`'${pyType(modelParams)}' object has no attribute 'items'`)
    for (const p of required) {
      if (typeof p !== "string" || !hasOwn(modelParams, p)) {
        return {
          valid: false,
          error: [`Missing required parameter: ${pyRepr(p)}.`],
          errorType: "simple_function_checker:missing_required"
        }
      }
    }
    for (const param of Object.keys(modelParams)) {
      let value = modelParams[param] as PyValue
      if (!hasOwn(properties, param) || !hasOwn(possibleParams, param)) {
        return {
          valid: false,
          error: [`Unexpected parameter: ${pyRepr(param)}.`],
          errorType: "simple_function_checker:unexpected_param"
        }
      }
      const details = properties[param] as PyValue
      const typeDescription = isPyDict(details) ? details.type : undefined
      if (typeof typeDescription !== "string" || PYTHON_TYPE_MAPPING[typeDescription] === undefined) {
        throw new CheckerException(`unsupported parameter type ${pyRepr(typeDescription ?? null)} for ${param}`)
      }
      const expected = PYTHON_TYPE_MAPPING[typeDescription] as PyTypeName
      let nested: PyTypeName | undefined
      if (PYTHON_NESTED_TYPE_CHECK_LIST.has(typeDescription)) {
        const items = (details as PyDict).items
        const nestedType = isPyDict(items ?? null) ? (items as PyDict).type : undefined
        if (typeof nestedType !== "string" || PYTHON_TYPE_MAPPING[nestedType] === undefined) {
          throw new CheckerException(`array parameter ${param} has no supported items.type`)
        }
        nested = PYTHON_TYPE_MAPPING[nestedType]
      }
      if (typeDescription === "float" && pyType(value) === "int") value = new PyFloat(value as number)
      const possibleValues = asList(possibleParams[param] as PyValue, `possible answer of ${param}`)
      const tc = typeChecker(param, value, possibleValues, typeDescription, expected, nested)
      if (!tc.valid) {
        const { isVariable: _unused, ...check } = tc
        return check
      }
      if (!tc.isVariable) {
        let r: BfclCheck | undefined
        if (expected === "dict") r = dictChecker(param, value, possibleValues)
        else if (expected === "list" && nested === "dict")
          r = listDictChecker(param, value as ReadonlyArray<PyValue>, possibleValues)
        else if (expected === "str") r = stringChecker(param, value as string, possibleValues)
        else if (expected === "list") r = listChecker(param, value as ReadonlyArray<PyValue>, possibleValues)
        if (r !== undefined) {
          if (!r.valid) return r
          continue
        }
      }
      if (!pyIn(value, possibleValues)) {
        return {
          valid: false,
          error: [
            `Invalid value for parameter ${pyRepr(param)}: ${pyRepr(value)}. Expected one of ${pyRepr(possibleValues as Array<PyValue>)}.`
          ],
          errorType: "value_error:others"
        }
      }
    }
    for (const param of Object.keys(possibleParams)) {
      if (
        !hasOwn(modelParams, param) &&
        !pyIn("", asList(possibleParams[param] as PyValue, `possible answer of ${param}`))
      ) {
        return {
          valid: false,
          error: [`Optional parameter ${pyRepr(param)} not provided and not marked as optional.`],
          errorType: "simple_function_checker:missing_optional"
        }
      }
    }
    return OK
  } catch (e) {
    if (e instanceof CheckerException) return { valid: false, error: [e.message], errorType: "checker_exception" }
    throw e
  }
}

const findDescription = (docs: ReadonlyArray<ToolSpec>, name: string): ToolSpec | undefined =>
  docs.find((d) => d.name === name)

const firstKey = (d: PyDict): string => Object.keys(d)[0] ?? ""

/** BFCL `parallel_function_checker_no_order`. */
export const parallelFunctionCheckerNoOrder = (
  docs: ReadonlyArray<ToolSpec>,
  modelOutput: BfclDecoded,
  possibleAnswers: ReadonlyArray<PyDict>,
  options: BfclCheckOptions = {}
): BfclCheck => {
  if (modelOutput.length !== possibleAnswers.length) {
    return {
      valid: false,
      error: ["Wrong number of functions."],
      errorType: "parallel_function_checker_no_order:wrong_count"
    }
  }
  const matched = new Set<number>()
  for (let i = 0; i < possibleAnswers.length; i++) {
    const answer = possibleAnswers[i] as PyDict
    const doc = findDescription(docs, firstKey(answer))
    if (doc === undefined) {
      return { valid: false, error: [`no function doc for ${firstKey(answer)}`], errorType: "checker_exception" }
    }
    let found = false
    const subErrors: Array<string> = []
    for (let j = 0; j < modelOutput.length; j++) {
      if (matched.has(j)) continue
      const r = simpleFunctionChecker(doc, modelOutput[j] as PyDict, answer, options)
      if (r.valid) {
        matched.add(j)
        found = true
        break
      }
      subErrors.push(`Model Result Index ${j}: ${r.errorType}: ${r.error.join(" ")}`)
    }
    if (!found) {
      const considered = modelOutput.map((_, j) => j).filter((j) => !matched.has(j))
      return {
        valid: false,
        error: [
          `Could not find a matching function among index [${considered.join(", ")}] of model output for index ${i} of possible answers.`,
          ...subErrors
        ],
        errorType: "parallel_function_checker_no_order:cannot_find_match"
      }
    }
  }
  return OK
}

/** BFCL `multiple_function_checker`. */
export const multipleFunctionChecker = (
  docs: ReadonlyArray<ToolSpec>,
  modelOutput: BfclDecoded,
  possibleAnswers: ReadonlyArray<PyDict>,
  options: BfclCheckOptions = {}
): BfclCheck => {
  if (modelOutput.length !== possibleAnswers.length) {
    return { valid: false, error: ["Wrong number of functions."], errorType: "multiple_function_checker:wrong_count" }
  }
  const answer = possibleAnswers[0] as PyDict
  const doc = findDescription(docs, firstKey(answer))
  if (doc === undefined)
    return { valid: false, error: [`no function doc for ${firstKey(answer)}`], errorType: "checker_exception" }
  return simpleFunctionChecker(doc, modelOutput[0] as PyDict, answer, options)
}

/** BFCL `ast_checker` dispatch on the category name. */
export const bfclAstChecker = (
  docs: ReadonlyArray<ToolSpec>,
  modelOutput: BfclDecoded,
  possibleAnswers: ReadonlyArray<PyDict>,
  category: string,
  options: BfclCheckOptions = {}
): BfclCheck => {
  if (category.includes("parallel")) return parallelFunctionCheckerNoOrder(docs, modelOutput, possibleAnswers, options)
  if (category.includes("multiple")) return multipleFunctionChecker(docs, modelOutput, possibleAnswers, options)
  if (modelOutput.length !== 1) {
    return { valid: false, error: ["Wrong number of functions."], errorType: "simple_function_checker:wrong_count" }
  }
  const doc = docs[0]
  if (doc === undefined || possibleAnswers[0] === undefined) {
    return { valid: false, error: ["no function doc or possible answer"], errorType: "checker_exception" }
  }
  return simpleFunctionChecker(doc, modelOutput[0] as PyDict, possibleAnswers[0], options)
}

/** BFCL `is_function_calling_format_output`: a list of single-key dicts whose value is a dict. */
export const isFunctionCallingFormatOutput = (decoded: ReadonlyArray<PyValue>): boolean =>
  decoded.every((item) => isPyDict(item) && Object.keys(item).length === 1 && isPyDict(item[firstKey(item)] as PyValue))

/** BFCL `is_empty_output` (used by the relevance/irrelevance rule). */
export const isEmptyOutput = (decoded: ReadonlyArray<PyValue>): boolean =>
  !isFunctionCallingFormatOutput(decoded) ||
  decoded.length === 0 ||
  (decoded.length === 1 && Object.keys(decoded[0] as PyDict).length === 0)

export type BfclDecode =
  | { readonly ok: true; readonly calls: BfclDecoded }
  | { readonly ok: false; readonly error: string }

const BFCL_QWEN_BLOCK = /<tool_call>\n([\s\S]*?)\n<\/tool_call>/g

/**
 * BFCL's Qwen FC handler decoding, exactly: drop everything up to the last `</think>` (and the
 * newlines after it), find blocks with `<tool_call>\n(.*?)\n</tool_call>` (newlines required),
 * `json.loads` each and silently drop those that fail; then every value must be a dict with
 * `name` and a dict `arguments`, else the whole output fails to decode.
 */
export const bfclQwenDecode = (response: string): BfclDecode => {
  let cleaned = response
  if (cleaned.includes("</think>")) cleaned = (cleaned.split("</think>").at(-1) ?? "").replace(/^\n+/, "")
  const values: Array<PyValue> = []
  for (const m of cleaned.matchAll(BFCL_QWEN_BLOCK)) {
    const r = pyJsonLoads(m[1] ?? "")
    if (r.ok) values.push(r.value)
  }
  if (values.some((v) => !isPyDict(v))) return { ok: false, error: "Model did not return a list of function calls" }
  const calls: Array<PyDict> = []
  for (const v of values as ReadonlyArray<PyDict>) {
    if (!hasOwn(v, "name")) return { ok: false, error: "KeyError: 'name'" }
    if (!hasOwn(v, "arguments")) return { ok: false, error: "KeyError: 'arguments'" }
    const name = v.name as PyValue
    if (Array.isArray(name) || isPyDict(name))
      return { ok: false, error: `TypeError: unhashable type: '${pyType(name)}'` }
    const args = v.arguments as PyValue
    if (!isPyDict(args))
      return { ok: false, error: `AttributeError: '${pyType(args)}' object has no attribute 'items'` }
    // A non-string name is a valid (unmatchable) key in Python; keep it unmatchable here.
    const key = typeof name === "string" ? name : `\u0000${pyRepr(name)}`
    calls.push({ [key]: args })
  }
  return { ok: true, calls }
}

/**
 * BFCL's decoding for prompting models (Python-call syntax), as its Qwen prompting handler runs it:
 * drop everything up to the last `</think>` (and the newlines after it), then
 * `default_decode_ast_prompting` ({@link decodePythonCalls}; `toolCallTag` = BFCL's
 * `has_tool_call_tag`). A decode failure carries the position and reason.
 */
export const bfclPythonDecode = (response: string, options: PythonDecodeOptions = {}): BfclDecode => {
  let cleaned = response
  if (cleaned.includes("</think>")) cleaned = (cleaned.split("</think>").at(-1) ?? "").replace(/^\n+/, "")
  const r = decodePythonCalls(cleaned, options)
  if (r.ok) return { ok: true, calls: toBfclDecoded(r.calls) }
  return { ok: false, error: `${r.error.message} (${r.error.kind} at ${r.error.pos})` }
}

export interface BfclItemResult extends BfclCheck {
  readonly decoded: BfclDecoded | undefined
}

/**
 * BFCL's verdict for one item given a decode: irrelevance → correct iff the decode failed or is
 * empty; otherwise a decode failure is `ast_decoder:decoder_failed`, a wrongly shaped output
 * `ast_decoder:decoder_wrong_output_format`, else the AST checker decides.
 */
export const bfclJudge = (item: EvalItem, decode: BfclDecode, options: BfclCheckOptions = {}): BfclItemResult => {
  if (item.category.includes("irrelevance")) {
    const noCall = !decode.ok || isEmptyOutput(decode.calls)
    return noCall
      ? { ...OK, decoded: decode.ok ? decode.calls : undefined }
      : {
          valid: false,
          error: ["Valid syntax. Successfully decode AST when it should not."],
          errorType: "irrelevance_error:decoder_success",
          decoded: decode.calls
        }
  }
  if (!decode.ok) {
    return {
      valid: false,
      error: [`Invalid syntax. Failed to decode AST. ${decode.error}`],
      errorType: "ast_decoder:decoder_failed",
      decoded: undefined
    }
  }
  if (!isFunctionCallingFormatOutput(decode.calls)) {
    return {
      valid: false,
      error: ["Did not output in the specified format."],
      errorType: "ast_decoder:decoder_wrong_output_format",
      decoded: decode.calls
    }
  }
  if (item.expected._tag !== "Bfcl") {
    return {
      valid: false,
      error: ["item has no BFCL possible answer"],
      errorType: "checker_exception",
      decoded: decode.calls
    }
  }
  return {
    ...bfclAstChecker(item.tools, decode.calls, item.expected.possibleAnswers, item.category, options),
    decoded: decode.calls
  }
}

/** Model outputs in BFCL's decoded shape from parsed calls. */
export const toBfclDecoded = (
  calls: ReadonlyArray<{ readonly name: string; readonly arguments: PyDict }>
): BfclDecoded =>
  calls.map((c) => {
    const d: Record<string, PyValue> = {}
    Object.defineProperty(d, c.name, { value: c.arguments, enumerable: true, writable: true, configurable: true })
    return d
  })

/**
 * A concrete acceptable value from a list of possible answers: the first one that is not `""`;
 * dict answers (`{key: [acceptable…]}`) and lists of them become concrete dicts, recursively.
 * `undefined` when only `""` (omit) is acceptable.
 */
export const firstAcceptable = (values: ReadonlyArray<PyValue>): PyValue | undefined => {
  const v = values.find((x) => !pyEquals(x, ""))
  return v === undefined ? undefined : concreteAnswer(v)
}

const concreteAnswer = (v: PyValue): PyValue => {
  if (isPyDict(v)) {
    const out: Record<string, PyValue> = {}
    for (const k of Object.keys(v)) {
      const options = v[k] as PyValue
      const x = Array.isArray(options) ? firstAcceptable(options as ReadonlyArray<PyValue>) : options
      if (x !== undefined)
        Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true })
    }
    return out
  }
  if (Array.isArray(v) && v.length > 0 && v.every((x) => isPyDict(x as PyValue)))
    return v.map((x) => concreteAnswer(x as PyValue))
  return v
}

/**
 * A model call built from one BFCL possible answer (first acceptable value of every parameter).
 * With `docs`, an optional parameter (one with `""` among its answers) that the function doc does
 * not declare is omitted: a few BFCL answers list such parameters, which only omission satisfies.
 */
export const possibleAnswerToCall = (
  answer: PyDict,
  docs: ReadonlyArray<ToolSpec> = [],
  pick: (values: ReadonlyArray<PyValue>) => PyValue | undefined = firstAcceptable
): { readonly name: string; readonly arguments: PyDict } => {
  const name = firstKey(answer)
  const params = answer[name] as PyDict
  const doc = findDescription(docs, name)
  const declared =
    doc !== undefined && isPyDict(doc.parameters.properties ?? null) ? (doc.parameters.properties as PyDict) : undefined
  const args: Record<string, PyValue> = {}
  for (const k of Object.keys(params)) {
    const options = params[k] as ReadonlyArray<PyValue>
    if (declared !== undefined && !hasOwn(declared, k) && pyIn("", options)) continue
    const v = pick(options)
    if (v !== undefined)
      Object.defineProperty(args, k, { value: v, enumerable: true, writable: true, configurable: true })
  }
  return { name, arguments: args as PyDict }
}
