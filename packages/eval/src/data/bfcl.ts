/**
 * BFCL v4 non-live data (Apache-2.0): `BFCL_v4_<category>.json` (JSON lines: `id`, `question` = list
 * of turns of messages, `function` = Gorilla-typed docs) and `possible_answer/BFCL_v4_<category>.json`
 * (`id`, `ground_truth` = `[{func: {param: [acceptable…]}}]`). Irrelevance has no answer file: its
 * items expect no call.
 *
 * Values are parsed with Python semantics (`5.0` stays a float) so BFCL's type checks are exact.
 * Data files are never part of the repository: pass the directory (e.g. `../shared/data/bfcl`).
 */
import * as path from "node:path"
import { platformErrorMessage, readTextFile } from "@crosscode/core"
import { Effect, type FileSystem } from "effect"
import { DatasetError } from "../errors.js"
import { isPyDict, type PyDict, type PyValue, pyJsonLoads } from "../json/pyjson.js"
import type { EvalItem, ToolSpec } from "./EvalItem.js"

export const BfclCategories = ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"] as const
export type BfclCategory = (typeof BfclCategories)[number]

/** Whether `s` is one of {@link BfclCategories}. */
export const isBfclCategory = (s: string): s is BfclCategory => (BfclCategories as ReadonlyArray<string>).includes(s)

/**
 * BFCL's language hint for a category (gorilla `bfcl_eval/utils.py`, `_get_language_specific_hint`):
 * Java and JavaScript categories get their own sentence, every other category the Python one.
 */
export const bfclLanguageHint = (category: string): string =>
  category.includes("javascript")
    ? " Note that the provided function is in JavaScript syntax."
    : category.includes("java")
      ? " Note that the provided function is in Java 8 SDK syntax."
      : " Note that the provided function is in Python 3 syntax."

/**
 * The item with BFCL's language hint appended to every function description, as BFCL v4's
 * `load_dataset_entry` does for every model, FC and prompting alike (gorilla `bfcl_eval/utils.py`,
 * `add_language_specific_hint_to_function_doc`; for the Python categories loaded here the hint is
 * the only change to the docs). Load with `{ languageHint: true }` to get BFCL's exact docs.
 */
export const withBfclLanguageHint = (item: EvalItem): EvalItem => ({
  ...item,
  tools: item.tools.map((t) => ({ ...t, description: t.description + bfclLanguageHint(item.category) }))
})

export interface BfclLoadOptions {
  /**
   * Append BFCL's language hint to every function description ({@link withBfclLanguageHint}), as
   * BFCL v4 does before building any prompt. Default false (the docs as in the data files).
   */
  readonly languageHint?: boolean
}

export const bfclQuestionFile = (dir: string, category: string): string => path.join(dir, `BFCL_v4_${category}.json`)
export const bfclAnswerFile = (dir: string, category: string): string =>
  path.join(dir, "possible_answer", `BFCL_v4_${category}.json`)

const readJsonLines = (file: string): Effect.Effect<Array<PyDict>, DatasetError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const text = yield* readTextFile(file).pipe(
      Effect.mapError((e) => new DatasetError({ path: file, message: `cannot read: ${platformErrorMessage(e)}` }))
    )
    const out: Array<PyDict> = []
    const lines = text.split("\n")
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string
      if (line.trim() === "") continue
      const r = pyJsonLoads(line)
      if (!r.ok) return yield* new DatasetError({ path: file, message: `line ${i + 1}: ${r.message}` })
      if (!isPyDict(r.value))
        return yield* new DatasetError({ path: file, message: `line ${i + 1}: not a JSON object` })
      out.push(r.value)
    }
    return out
  })

const toToolSpec = (doc: PyValue, where: string): ToolSpec | string => {
  if (!isPyDict(doc) || typeof doc.name !== "string") return `${where}: function doc without a name`
  const parameters = doc.parameters
  if (!isPyDict(parameters ?? null)) return `${where}: function ${doc.name} has no parameters object`
  return {
    name: doc.name,
    description: typeof doc.description === "string" ? doc.description : "",
    parameters: parameters as PyDict
  }
}

/** Builds BFCL items from parsed question and answer rows (pure; used by the loaders and tests). */
export const bfclItems = (
  category: string,
  questions: ReadonlyArray<PyDict>,
  answers: ReadonlyArray<PyDict> | undefined,
  where: string
): Array<EvalItem> | DatasetError => {
  const byId = new Map<string, PyValue>()
  for (const a of answers ?? []) if (typeof a.id === "string") byId.set(a.id, a.ground_truth as PyValue)
  const items: Array<EvalItem> = []
  for (const q of questions) {
    const id = q.id
    if (typeof id !== "string") return new DatasetError({ path: where, message: "question row without an id" })
    const turns = q.question
    const first = Array.isArray(turns) ? (turns as ReadonlyArray<PyValue>)[0] : undefined
    if (!Array.isArray(first))
      return new DatasetError({ path: where, message: `${id}: question is not a list of turns` })
    let messages = (first as ReadonlyArray<PyValue>).map((m) =>
      isPyDict(m) ? { ...m, role: String(m.role), content: String(m.content) } : { role: "user", content: String(m) }
    )
    let system: string | undefined
    if (messages[0]?.role === "system") {
      system = messages[0].content
      messages = messages.slice(1)
    }
    const docs = Array.isArray(q.function) ? (q.function as ReadonlyArray<PyValue>) : []
    const tools: Array<ToolSpec> = []
    for (const d of docs) {
      const t = toToolSpec(d, `${where}: ${id}`)
      if (typeof t === "string") return new DatasetError({ path: where, message: t })
      tools.push(t)
    }
    let expected: EvalItem["expected"]
    if (category.includes("irrelevance")) {
      expected = { _tag: "Calls", calls: [] }
    } else {
      const gt = byId.get(id)
      if (!Array.isArray(gt) || !(gt as ReadonlyArray<PyValue>).every((x) => isPyDict(x))) {
        return new DatasetError({ path: where, message: `${id}: no possible answer (or not a list of objects)` })
      }
      expected = { _tag: "Bfcl", possibleAnswers: gt as ReadonlyArray<PyDict> }
    }
    items.push({
      id,
      source: "bfcl",
      category,
      messages,
      ...(system !== undefined ? { system } : {}),
      tools,
      expected
    })
  }
  return items
}

/** Loads one BFCL category from `dir` (question file + `possible_answer/` file). */
export const loadBfclCategory = Effect.fn("loadBfclCategory")(function* (
  dir: string,
  category: string,
  options: BfclLoadOptions = {}
): Effect.fn.Return<Array<EvalItem>, DatasetError, FileSystem.FileSystem> {
  const qFile = bfclQuestionFile(dir, category)
  const questions = yield* readJsonLines(qFile)
  const answers = category.includes("irrelevance") ? undefined : yield* readJsonLines(bfclAnswerFile(dir, category))
  const items = bfclItems(category, questions, answers, qFile)
  if (items instanceof DatasetError) return yield* items
  return options.languageHint === true ? items.map(withBfclLanguageHint) : items
})

/** Loads several BFCL categories (default: all five non-live Python ones), in order. */
export const loadBfcl = (
  dir: string,
  categories: ReadonlyArray<string> = BfclCategories,
  options: BfclLoadOptions = {}
): Effect.Effect<Array<EvalItem>, DatasetError, FileSystem.FileSystem> =>
  Effect.forEach(categories, (c) => loadBfclCategory(dir, c, options)).pipe(Effect.map((xs) => xs.flat()))
