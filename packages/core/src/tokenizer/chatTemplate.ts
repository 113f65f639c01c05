/**
 * Chat templates rendered with `@huggingface/jinja` as transformers renders them
 * (`trim_blocks`/`lstrip_blocks`, `tojson` = Python `json.dumps(x, ensure_ascii=False)`).
 *
 * @huggingface/jinja 0.5.11's own `tojson` already uses Python's separators and keeps non-ASCII,
 * but prints numbers with `JSON.stringify` (`0.00001` where Python prints `1e-05`, `1e+21`
 * formatting, `null` for NaN/Infinity). During our render calls its `tojson` filter is replaced by
 * `pythonJsonDumps` (all keyword and positional arguments of transformers' filter supported).
 */
import { Environment, Interpreter, Template } from "@huggingface/jinja"
import { dumpPyValue, type PyJsonNode, type PyJsonOptions } from "./pyjson.js"

interface RuntimeValueLike {
  readonly type: string
  readonly value: unknown
}

/** A template runtime value → PyJsonNode (Python's json would refuse functions and namespaces). */
const fromRuntime = (v: RuntimeValueLike): PyJsonNode => {
  switch (v.type) {
    case "NullValue":
    case "UndefinedValue":
      return { kind: "null" }
    case "BooleanValue":
      return { kind: "bool", value: v.value as boolean }
    case "IntegerValue":
      // JS cannot tell 1e21 from an int; beyond 2^53 it was almost surely a float (as in pyjson.fromJs).
      return Number.isSafeInteger(v.value)
        ? { kind: "int", value: v.value as number }
        : { kind: "float", value: v.value as number }
    case "FloatValue":
      return { kind: "float", value: v.value as number }
    case "StringValue":
      return { kind: "str", value: v.value as string }
    case "ArrayValue":
    case "TupleValue":
      return { kind: "list", items: (v.value as Array<RuntimeValueLike>).map(fromRuntime) }
    case "ObjectValue":
    case "KeywordArgumentsValue":
      return {
        kind: "dict",
        entries: [...(v.value as Map<string, RuntimeValueLike>).entries()].map(([k, x]) => [k, fromRuntime(x)] as const)
      }
    default:
      throw new TypeError(`Object of type ${v.type.replace(/Value$/, "")} is not JSON serializable`)
  }
}

let stringValueClass: (new (value: string) => unknown) | undefined
const makeString = (s: string): unknown => {
  if (stringValueClass === undefined) {
    stringValueClass = (new Environment().set("__s", "") as object).constructor as new (value: string) => unknown
  }
  return new stringValueClass(s)
}

interface FilterNode {
  readonly type: string
  readonly value?: string
  readonly callee?: { readonly type: string; readonly value: string }
  readonly args?: ReadonlyArray<unknown>
}

type ApplyFilter = (this: unknown, operand: RuntimeValueLike, filterNode: FilterNode, environment: unknown) => unknown

const tojsonOptions = (args: ReadonlyArray<RuntimeValueLike>, kwargs: Map<string, RuntimeValueLike>): PyJsonOptions => {
  const names = ["ensure_ascii", "indent", "separators", "sort_keys"] as const
  const get = (i: number) => kwargs.get(names[i]!) ?? args[i]
  const ensureAscii = get(0)
  const indent = get(1)
  const separators = get(2)
  const sortKeys = get(3)
  const sep =
    separators !== undefined && separators.type !== "NullValue"
      ? (separators.value as Array<RuntimeValueLike>).map((x) => String(x.value))
      : undefined
  if (sep !== undefined && sep.length !== 2) throw new Error("tojson: separators must be a pair of strings")
  return {
    ensureAscii: ensureAscii?.value === true,
    indent: indent === undefined || indent.type === "NullValue" ? null : (indent.value as number | string),
    separators: sep === undefined ? null : [sep[0]!, sep[1]!],
    sortKeys: sortKeys?.value === true
  }
}

/** Runs `f` with @huggingface/jinja's `tojson` filter replaced by Python-exact JSON. Synchronous. */
const withPythonToJson = <A>(f: () => A): A => {
  const proto = Interpreter.prototype as unknown as { applyFilter: ApplyFilter }
  const original = proto.applyFilter
  proto.applyFilter = function (this: unknown, operand, filterNode, environment) {
    if (filterNode.type === "Identifier" && filterNode.value === "tojson") {
      return makeString(dumpPyValue(fromRuntime(operand)))
    }
    if (
      filterNode.type === "CallExpression" &&
      filterNode.callee?.type === "Identifier" &&
      filterNode.callee.value === "tojson"
    ) {
      const [args, kwargs] = (
        this as {
          evaluateArguments: (a: unknown, e: unknown) => [Array<RuntimeValueLike>, Map<string, RuntimeValueLike>]
        }
      ).evaluateArguments(filterNode.args, environment)
      return makeString(dumpPyValue(fromRuntime(operand), tojsonOptions(args, kwargs)))
    }
    return original.call(this, operand, filterNode, environment)
  }
  try {
    return f()
  } finally {
    proto.applyFilter = original
  }
}

/** A compiled chat template. */
export interface ChatTemplate {
  readonly source: string
  /** Renders with the given variables (messages, tools, add_generation_prompt, special tokens, ...). Throws on template errors. */
  render(variables: Readonly<Record<string, unknown>>): string
}

/** Compiles a template (throws on syntax errors). */
export const compileChatTemplate = (source: string): ChatTemplate => {
  const template = new Template(source)
  return { source, render: (variables) => withPythonToJson(() => template.render({ ...variables })) }
}
