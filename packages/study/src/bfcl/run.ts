/**
 * `crosscode bfcl`: a local model on BFCL v4's non-live categories, scored with BFCL's AST checker,
 * in either of BFCL's prompt styles:
 *
 * - `qwen`: Qwen2.5's native tool prompt (`PromptStyles.qwenTools()`, the functions in the chat
 *   template's `<tools>` block, answers as `<tool_call>` blocks), judged with BFCL's Qwen FC decoder;
 * - `python`: BFCL's prompting ("non-FC") prompt (`PromptStyles.bfclPrompting()`, BFCL's default
 *   system prompt with the functions as JSON, answers as `[f(a=1), …]`), judged with BFCL's
 *   prompting decoder.
 *
 * Function docs carry BFCL's language hint, as BFCL v4 loads them. Per category: a seeded sample
 * (`random.seed(seed); random.sample(items, n)` as CPython), greedy generation through the eval
 * runner with one JSONL records file per category in the output directory (rerunning resumes), then
 * accuracy with Wilson intervals, BFCL's aggregates and `summary.json`.
 *
 * Prompt rendering: the tokenizer's chat template when it has one; without one, the `qwen` style
 * falls back to the built-in Qwen2.5 template (`qwen25ChatRenderer`: the `<tool_call>` format is
 * defined by that template) and the `python` style uses plain text (BFCL's system prompt and the
 * question joined by a blank line, see `bfclRawPrompt`).
 */
import * as path from "node:path"
import {
  cleanIntervention,
  findSharedDir,
  loadModel,
  loadTokenizer,
  Progress,
  platformErrorMessage,
  readTextFile,
  TensorBackend
} from "@crosscode/core"
import {
  BfclCategories,
  bfclQuestionFile,
  bfclTask,
  type ChatRenderer,
  describePromptStyle,
  type EvalItem,
  type EvalRecord,
  isBfclCategory,
  loadBfclCategory,
  makeEvalRunner,
  PromptStyles,
  pythonSample,
  qwen25ChatRenderer,
  tokenizerRenderer
} from "@crosscode/eval"
import { Clock, Effect, FileSystem, type PlatformError } from "effect"
import { defaultBatchSize } from "../recipe/context.js"
import { BfclDataError, BfclSettingsError, ModelDirError, UnknownCategoryError } from "./errors.js"
import { type BfclAggregate, bfclAggregate, type CategoryResult, categoryResult, formatBfclTable } from "./summary.js"

export const BFCL_STYLES = ["qwen", "python"] as const
export type BfclStyle = (typeof BFCL_STYLES)[number]

/** The run label of every record (record key = `bfcl|<item id>`). */
export const BFCL_RUN = "bfcl"

export interface BfclOptions {
  /** Model directory (Hugging Face layout). */
  readonly model: string
  /** Tokenizer directory (default: the model's). */
  readonly tokenizer?: string
  /** BFCL data directory (default: `<shared>/data/bfcl`, see {@link defaultBfclDataDir}). */
  readonly data?: string
  /** Categories to evaluate, in order (default: all five; "all" stands for them). */
  readonly categories?: ReadonlyArray<string>
  /** Items per category (default: all); a seeded sample when smaller than the category. */
  readonly n?: number
  readonly seed?: number
  readonly style?: BfclStyle
  readonly maxNewTokens?: number
  /** Default: the model's context (`max_position_embeddings`) minus `maxNewTokens`. */
  readonly maxPromptTokens?: number
  /** Prompts per generate call (default 1 on wasm/cpu, 8 elsewhere). */
  readonly batchSize?: number
  /** Output directory (records, summary.json). */
  readonly out: string
}

export interface BfclSummary {
  readonly benchmark: string
  readonly model: { readonly name: string; readonly dir: string }
  readonly tokenizer: string
  readonly data: string
  readonly style: BfclStyle
  readonly task: string
  readonly promptStyle: Record<string, unknown>
  /** How prompts were rendered (chat template, built-in Qwen2.5 template, or plain text). */
  readonly rendering: string
  /** The metric behind `accuracy`. */
  readonly metric: string
  readonly settings: {
    readonly n: number | null
    readonly seed: number
    readonly maxNewTokens: number
    readonly maxPromptTokens: number
    readonly truncation: "left"
    readonly batchSize: number
    readonly languageHint: true
    readonly backend: string
  }
  readonly categories: ReadonlyArray<CategoryResult>
  readonly aggregate: BfclAggregate
  readonly items: number
  readonly generated: number
  readonly resumed: number
  readonly seconds: number
  readonly finishedAt: string
}

/** `<shared>/data/bfcl` (`$CROSSCODE_SHARED` or `../shared` next to the checkout), else `../shared/data/bfcl`. */
export const defaultBfclDataDir = (): string => {
  const shared = findSharedDir()
  return shared !== undefined ? path.join(shared, "data", "bfcl") : path.resolve("..", "shared", "data", "bfcl")
}

/** Whether the tokenizer directory has a chat template (as `loadTokenizer` finds one). */
export const tokenizerHasChatTemplate = (dir: string) =>
  Effect.gen(function* () {
    if (yield* exists(path.join(dir, "chat_template.jinja"))) return true
    const config = yield* readJsonOr<{ chat_template?: unknown }>(path.join(dir, "tokenizer_config.json"), {})
    const t = config.chat_template
    return typeof t === "string" ? t.length > 0 : Array.isArray(t) && t.length > 0
  })

/** A JSON file, or `fallback` when it cannot be read or parsed. */
const readJsonOr = <A>(file: string, fallback: A) =>
  readTextFile(file).pipe(
    Effect.flatMap((text) => Effect.try(() => JSON.parse(text) as A)),
    Effect.catch(() => Effect.succeed(fallback))
  )

/** `max_position_embeddings` of the model's config.json (Qwen2's default 32768 when absent). */
const contextLength = (dir: string) =>
  Effect.map(readJsonOr<{ max_position_embeddings?: unknown }>(path.join(dir, "config.json"), {}), (c) =>
    typeof c.max_position_embeddings === "number" ? c.max_position_embeddings : 32768
  )

const exists = (p: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.exists(p)).pipe(Effect.catch(() => Effect.succeed(false)))
const isDir = (p: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.stat(p)).pipe(
    Effect.map((s) => s.type === "Directory"),
    Effect.catch(() => Effect.succeed(false))
  )

/** Checks the category names: each must be a BFCL v4 non-live category ("all" = every one). */
export const resolveCategories = (
  names: ReadonlyArray<string> | undefined
): Effect.Effect<ReadonlyArray<string>, UnknownCategoryError> =>
  Effect.gen(function* () {
    const wanted = (names ?? ["all"]).flatMap((s) => s.split(",")).map((s) => s.trim())
    const out: Array<string> = []
    for (const c of wanted) {
      if (c === "") continue
      const expanded = c === "all" ? [...BfclCategories] : [c]
      for (const x of expanded) {
        if (!isBfclCategory(x)) {
          return yield* new UnknownCategoryError({
            category: x,
            message: `unknown BFCL category "${x}" (known: ${BfclCategories.join(", ")}, or "all")`
          })
        }
        if (!out.includes(x)) out.push(x)
      }
    }
    if (out.length === 0) {
      return yield* new UnknownCategoryError({
        category: "",
        message: `no category given (known: ${BfclCategories.join(", ")}, or "all")`
      })
    }
    return out
  })

const positiveInt = (name: string, v: number | undefined) =>
  v === undefined || (Number.isInteger(v) && v >= 1)
    ? Effect.void
    : Effect.fail(new BfclSettingsError({ message: `${name} must be a positive integer, got ${v}` }))

/** Checked inputs and the sampled items of a run (what {@link prepareBfcl} returns). */
export interface BfclPlan {
  readonly options: BfclOptions
  readonly style: BfclStyle
  readonly seed: number
  readonly maxNewTokens: number
  readonly data: string
  readonly modelDir: string
  readonly tokenizerDir: string
  readonly sampled: ReadonlyArray<{
    readonly category: string
    readonly available: number
    readonly items: ReadonlyArray<EvalItem>
  }>
}

/**
 * Checks the flags, the data, model and tokenizer directories (typed errors naming what is wrong)
 * and samples the items; needs no tensor backend.
 */
export const prepareBfcl = Effect.fn("prepareBfcl")(function* (options: BfclOptions) {
  const style: BfclStyle = options.style ?? "qwen"
  const seed = options.seed ?? 42
  const maxNewTokens = options.maxNewTokens ?? 512
  yield* positiveInt("--n", options.n)
  yield* positiveInt("--max-new-tokens", maxNewTokens)
  yield* positiveInt("--max-prompt-tokens", options.maxPromptTokens)
  yield* positiveInt("--batch-size", options.batchSize)
  const categories = yield* resolveCategories(options.categories)

  // inputs, checked before anything is loaded
  const data = path.resolve(options.data ?? defaultBfclDataDir())
  if (!(yield* isDir(data))) {
    return yield* new BfclDataError({
      dir: data,
      message: `BFCL data directory ${data} not found: pass --data DIR, the directory holding BFCL_v4_<category>.json and possible_answer/ (by default <shared>/data/bfcl; set CROSSCODE_SHARED to the shared directory)`
    })
  }
  for (const c of categories) {
    const file = bfclQuestionFile(data, c)
    if (!(yield* exists(file)))
      return yield* new BfclDataError({ dir: data, message: `${file} not found: no data for category "${c}"` })
  }
  const modelDir = path.resolve(options.model)
  const tokenizerDir = path.resolve(options.tokenizer ?? options.model)
  const modelIsDir = yield* isDir(modelDir)
  if (!modelIsDir || !(yield* exists(path.join(modelDir, "config.json")))) {
    return yield* new ModelDirError({
      dir: modelDir,
      message: `model directory ${modelDir} ${modelIsDir ? "has no config.json" : "does not exist"} (a Hugging Face model directory: config.json, *.safetensors, tokenizer files)`
    })
  }
  if (!(yield* exists(path.join(tokenizerDir, "tokenizer.json")))) {
    return yield* new ModelDirError({
      dir: tokenizerDir,
      message: `tokenizer directory ${tokenizerDir} has no tokenizer.json (pass --tokenizer DIR)`
    })
  }

  // items: per category, a seeded sample, with BFCL's language hint on the docs
  const sampled: Array<{ category: string; available: number; items: ReadonlyArray<EvalItem> }> = []
  for (const c of categories) {
    const all = yield* loadBfclCategory(data, c, { languageHint: true })
    const items = options.n !== undefined && options.n < all.length ? pythonSample(all, options.n, seed) : all
    sampled.push({ category: c, available: all.length, items })
  }
  const plan: BfclPlan = { options, style, seed, maxNewTokens, data, modelDir, tokenizerDir, sampled }
  return plan
})

/** Runs a prepared evaluation and writes `<out>/<category>.jsonl` and `<out>/summary.json`. */
export const runBfcl = Effect.fn("runBfcl")(function* (plan: BfclPlan) {
  const { options, style, seed, maxNewTokens, data, modelDir, tokenizerDir, sampled } = plan
  const progress = yield* Progress
  const t0 = yield* Clock.currentTimeMillis
  const categories = sampled.map((s) => s.category)

  const model = yield* loadModel(modelDir, { name: path.basename(modelDir) }).pipe(
    Effect.mapError((e) => new ModelDirError({ dir: modelDir, message: `cannot load the model: ${e.message}` }))
  )
  const tokenizer = yield* loadTokenizer(tokenizerDir).pipe(
    Effect.mapError((e) => new ModelDirError({ dir: tokenizerDir, message: `cannot load the tokenizer: ${e.message}` }))
  )
  const hasTemplate = yield* tokenizerHasChatTemplate(tokenizerDir)
  const prompt =
    style === "python"
      ? PromptStyles.bfclPrompting(hasTemplate ? {} : { chatTemplate: false })
      : PromptStyles.qwenTools()
  const renderer: ChatRenderer = hasTemplate ? tokenizerRenderer(tokenizer) : qwen25ChatRenderer
  const rendering = hasTemplate
    ? `the tokenizer's chat template (${tokenizerDir})`
    : style === "python"
      ? "plain text (the tokenizer has no chat template): BFCL's system prompt, a blank line, the question"
      : "the built-in Qwen2.5 chat template (the tokenizer has no chat template)"
  const backendName = (yield* TensorBackend).name
  const batchSize = options.batchSize ?? defaultBatchSize(backendName)
  const maxPromptTokens = options.maxPromptTokens ?? Math.max(1, (yield* contextLength(modelDir)) - maxNewTokens)
  yield* Effect.logInfo(
    `bfcl: model ${model.info.name} (${modelDir}), style ${style}, prompts rendered with ${rendering}; ${categories.length} categories, ${
      options.n !== undefined ? `n = ${options.n} per category (seed ${seed})` : "every item"
    }; max ${maxNewTokens} new tokens, prompts cut to their last ${maxPromptTokens} tokens; backend ${backendName}, batch size ${batchSize}`
  )

  // resumable generation, one records file per category
  const fs = yield* FileSystem.FileSystem
  const outError = (e: PlatformError.PlatformError) =>
    new BfclDataError({ dir: options.out, message: `cannot write the output: ${platformErrorMessage(e)}` })
  yield* fs.makeDirectory(options.out, { recursive: true }).pipe(Effect.mapError(outError))
  const fileOf = (c: string) => `${c}.jsonl`
  // one bar of categories here; the eval runner draws each category's bar of items
  const bar = progress.start(`bfcl ${style}`, sampled.length, "categories")
  const runner = makeEvalRunner({ model, tokenizer, renderer })
  const settings = { maxNewTokens, maxPromptTokens, truncation: "left" as const, batchSize }
  const results: Array<CategoryResult> = []
  let generated = 0
  let resumed = 0
  let taskName = ""
  for (const s of sampled) {
    const task = bfclTask(s.items, prompt)
    taskName = task.name
    const r = yield* runner.run({
      run: BFCL_RUN,
      task,
      intervention: cleanIntervention,
      output: path.join(options.out, fileOf(s.category)),
      settings
    })
    generated += r.generated
    resumed += r.resumed
    results.push(categoryResult(s.category, r.records as ReadonlyArray<EvalRecord>, s.available, fileOf(s.category)))
    bar.update(results.length)
  }
  bar.finish()

  const aggregate = bfclAggregate(results)
  const t1 = yield* Clock.currentTimeMillis
  const summary: BfclSummary = {
    benchmark: "BFCL v4 non-live, AST checker",
    model: { name: model.info.name, dir: modelDir },
    tokenizer: tokenizerDir,
    data,
    style,
    task: taskName,
    promptStyle: describePromptStyle(prompt),
    rendering,
    metric: "bfcl.ast_official",
    settings: {
      n: options.n ?? null,
      seed,
      maxNewTokens,
      maxPromptTokens,
      truncation: "left",
      batchSize,
      languageHint: true,
      backend: backendName
    },
    categories: results,
    aggregate,
    items: sampled.reduce((n, s) => n + s.items.length, 0),
    generated,
    resumed,
    seconds: (t1 - t0) / 1000,
    finishedAt: new Date(t1).toISOString()
  }
  yield* fs
    .writeFileString(path.join(options.out, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`)
    .pipe(Effect.mapError(outError))
  return { summary, table: formatBfclTable(results, aggregate) }
})
