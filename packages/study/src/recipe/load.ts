/**
 * Reading a recipe: JSON → `${VAR}` expansion → `--set` overrides → Schema decoding → cross-field
 * checks → paths resolved (inputs against the recipe's directory, `runDir` against the current
 * directory) → command-line overrides of the model and tokenizer directories.
 */
import * as path from "node:path"
import { parseSite, platformErrorMessage, readTextFile } from "@crosscode/core"
import { Effect, type FileSystem, type Path, Schema } from "effect"
import { errorMessage, RecipeError } from "./errors.js"
import { maxPositionsOf } from "./positions.js"
import { type MixSourceSpec, type PromptSetSpec, Recipe, type TextSourceSpec } from "./schema.js"
import { expectedHarvestRows } from "./sources.js"

export interface RecipeOverrides {
  /** Model directories (flags `--model-a`, `--model-b`), relative to the current directory. */
  readonly modelA?: string
  readonly modelB?: string
  readonly tokenizer?: string
  readonly runDir?: string
  /** `dotted.path=value` assignments applied before decoding; value is JSON, else a string. */
  readonly set?: ReadonlyArray<string>
  /** Environment for `${VAR}` references (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Base directory for `runDir` and override paths (default `process.cwd()`). */
  readonly cwd?: string
}

export interface LoadedRecipe {
  /** Absolute path of the recipe file ("<inline>" for recipes given as values). */
  readonly file: string
  /** The decoded recipe with every path absolute. */
  readonly recipe: Recipe
  /** The decoded recipe as written (paths unresolved), for records. */
  readonly raw: unknown
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/** Expands `${VAR}` and `${VAR:-default}` in every string of a JSON value. */
export const expandEnv = (
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  at: Array<string | number> = []
): { value: unknown; missing: Array<string> } => {
  const missing: Array<string> = []
  const go = (v: unknown, where: Array<string | number>): unknown => {
    if (typeof v === "string") {
      return v.replace(VAR, (_m, name: string, dflt: string | undefined) => {
        const got = env[name]
        if (got !== undefined && got !== "") return got
        if (dflt !== undefined) return dflt
        missing.push(`${name} (at ${formatPath(where)})`)
        return ""
      })
    }
    if (Array.isArray(v)) return v.map((x, i) => go(x, [...where, i]))
    if (typeof v === "object" && v !== null) {
      const out: Record<string, unknown> = {}
      for (const [k, x] of Object.entries(v)) out[k] = go(x, [...where, k])
      return out
    }
    return v
  }
  return { value: go(value, at), missing }
}

const formatPath = (p: ReadonlyArray<string | number>) => p.map((k) => `[${JSON.stringify(k)}]`).join("") || "<root>"

/** Applies `a.b.0.c=value` to a JSON value (value parsed as JSON, else kept as a string). */
export const applySet = (value: unknown, assignment: string): { value: unknown; error?: string } => {
  const eq = assignment.indexOf("=")
  if (eq <= 0) return { value, error: `--set "${assignment}": expected key.path=value` }
  const keys = assignment.slice(0, eq).split(".")
  const text = assignment.slice(eq + 1)
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = text
  }
  const root = structuredClone(value) as Record<string, unknown>
  let node: unknown = root
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i]!
    const container = node as Record<string, unknown>
    if (typeof container !== "object" || container === null)
      return { value, error: `--set "${assignment}": ${keys.slice(0, i).join(".")} is not an object` }
    if (container[k] === undefined) container[k] = /^\d+$/.test(keys[i + 1]!) ? [] : {}
    node = container[k]
  }
  if (typeof node !== "object" || node === null)
    return { value, error: `--set "${assignment}": ${keys.slice(0, -1).join(".")} is not an object` }
  ;(node as Record<string, unknown>)[keys[keys.length - 1]!] = parsed
  return { value: root }
}

/** Cross-field checks the schema cannot express. */
export const checkRecipe = (r: Recipe): Array<string> => {
  const problems: Array<string> = []
  const text = r.harvest.text
  if (text.kind === "mix" && text.samplesPerSource === undefined) {
    text.sources.forEach((s, i) => {
      if (s.samples === undefined)
        problems.push(`["harvest"]["text"]["sources"][${i}]["samples"]: give it, or the mix's samplesPerSource`)
    })
  }
  const names = r.crosscoders.map((c) => c.name)
  const dup = names.find((n, i) => names.indexOf(n) !== i)
  if (dup !== undefined) problems.push(`["crosscoders"]: the name "${dup}" is used twice`)
  r.crosscoders.forEach((c, i) => {
    if (c.k > c.features) problems.push(`["crosscoders"][${i}]["k"]: k = ${c.k} exceeds features = ${c.features}`)
    // Caught here (and by --dry-run) rather than after the harvest has run.
    const rows = expectedHarvestRows(text)
    if (c.batchSize !== undefined && rows > 0 && c.batchSize > rows)
      problems.push(
        `["crosscoders"][${i}]["batchSize"]: ${c.batchSize} exceeds the ${rows} rows the harvest yields at most (one per text); lower it or harvest more texts`
      )
    if (c.partition !== "none") {
      for (const m of Object.keys(c.partition)) {
        if (m !== "A" && m !== "B")
          problems.push(`["crosscoders"][${i}]["partition"]: unknown model "${m}" (models are A and B)`)
      }
      const total = Object.values(c.partition).reduce((a, b) => a + b, 0)
      if (total >= 1)
        problems.push(
          `["crosscoders"][${i}]["partition"]: exclusive shares sum to ${total}, leaving no shared features`
        )
    }
  })
  const known = (where: string, list: ReadonlyArray<string> | undefined) => {
    for (const n of list ?? [])
      if (!names.includes(n)) problems.push(`${where}: unknown crosscoder "${n}" (defined: ${names.join(", ")})`)
  }
  known(`["evaluate"]["crosscoders"]`, r.evaluate.crosscoders)
  known(`["rank"]["crosscoders"]`, r.rank.crosscoders)
  known(`["steer"]["crosscoder"]`, [r.steer.crosscoder])
  const ranked = r.rank.crosscoders ?? names
  if (names.includes(r.steer.crosscoder) && !ranked.includes(r.steer.crosscoder)) {
    problems.push(`["steer"]["crosscoder"]: "${r.steer.crosscoder}" is not ranked (add it to rank.crosscoders)`)
  }
  const target = r.steer.target ?? "A"
  if (target !== "A" && target !== "B") problems.push(`["steer"]["target"]: "${target}" is not a model (A or B)`)
  return problems
}

const resolveSource = <S extends TextSourceSpec | MixSourceSpec>(s: S, base: string): S => ({
  ...s,
  path: path.resolve(base, s.path)
})
const resolvePrompts = (s: PromptSetSpec, base: string): PromptSetSpec => ({ ...s, path: path.resolve(base, s.path) })

/** Decodes and resolves a recipe value (as read from `file`). */
/**
 * `"site": "blocks.13.hook_resid_post"` (TransformerLens) or `"block_output.13"` stands for
 * `"site": { "layer": 13 }`; the study reads block outputs, so a block input is refused.
 */
const siteByName = (json: unknown): { readonly value: unknown; readonly error?: string } => {
  if (typeof json !== "object" || json === null || !("site" in json) || typeof json.site !== "string")
    return { value: json }
  const site = parseSite(json.site)
  if (site === undefined)
    return {
      value: json,
      error: `site: "${json.site}" is not a site name (e.g. "blocks.13.hook_resid_post", or { "layer": 13 })`
    }
  if (site.point !== "block_output")
    return {
      value: json,
      error: `site: "${json.site}" is a block input; the study reads block outputs${
        site.layer > 0
          ? `: use "blocks.${site.layer - 1}.hook_resid_post" (the same activations) or { "layer": ${site.layer - 1} }`
          : " (block 0's input is the embeddings)"
      }`
    }
  return { value: { ...json, site: { layer: site.layer } } }
}

export const decodeRecipe = Effect.fn("decodeRecipe")(function* (
  json: unknown,
  file: string,
  overrides: RecipeOverrides = {}
): Effect.fn.Return<LoadedRecipe, RecipeError, FileSystem.FileSystem | Path.Path> {
  const fail = (message: string) => new RecipeError({ file, message })
  let value = json
  for (const s of overrides.set ?? []) {
    const r = applySet(value, s)
    if (r.error !== undefined) return yield* fail(r.error)
    value = r.value
  }
  const expanded = expandEnv(value, overrides.env ?? process.env)
  if (expanded.missing.length > 0) {
    return yield* fail(`environment variables not set and without a default: ${expanded.missing.join(", ")}`)
  }
  const named = siteByName(expanded.value)
  if (named.error !== undefined) return yield* fail(named.error)
  const decoded = yield* Schema.decodeUnknownEffect(Recipe)(named.value, {
    errors: "all",
    onExcessProperty: "error"
  }).pipe(
    Effect.mapError((e) => {
      const field = firstIssuePath(e.message)
      return new RecipeError({
        file,
        ...(field !== undefined ? { field } : {}),
        message: `invalid recipe:\n${e.message}`
      })
    })
  )
  const problems = checkRecipe(decoded)
  if (problems.length > 0) return yield* fail(`invalid recipe:\n${problems.join("\n")}`)
  const base = file === "<inline>" ? (overrides.cwd ?? process.cwd()) : path.dirname(file)
  const cwd = overrides.cwd ?? process.cwd()
  const models = {
    A: overrides.modelA !== undefined ? path.resolve(cwd, overrides.modelA) : path.resolve(base, decoded.models.A),
    B: overrides.modelB !== undefined ? path.resolve(cwd, overrides.modelB) : path.resolve(base, decoded.models.B)
  }
  const tokenizer =
    overrides.tokenizer !== undefined
      ? path.resolve(cwd, overrides.tokenizer)
      : decoded.tokenizer !== undefined
        ? path.resolve(base, decoded.tokenizer)
        : models.B
  const text = decoded.harvest.text
  const recipe: Recipe = {
    ...decoded,
    runDir: path.resolve(cwd, overrides.runDir ?? decoded.runDir),
    models,
    tokenizer,
    harvest: {
      ...decoded.harvest,
      text:
        text.kind === "paper"
          ? { ...text, web: resolveSource(text.web, base), tool: resolveSource(text.tool, base) }
          : {
              ...text,
              sources: text.sources.map((s) => resolveSource(s, base)) as [TextSourceSpec, ...Array<TextSourceSpec>]
            }
    },
    evaluate: { ...decoded.evaluate, prompts: resolvePrompts(decoded.evaluate.prompts, base) },
    rank: {
      ...decoded.rank,
      toolPrompts: resolvePrompts(decoded.rank.toolPrompts, base),
      generalTexts: resolveSource(decoded.rank.generalTexts, base)
    },
    steer: {
      ...decoded.steer,
      ...(decoded.steer.prompts !== undefined ? { prompts: resolvePrompts(decoded.steer.prompts, base) } : {})
    }
  }
  const limits = yield* checkLimits(recipe)
  if (limits.length > 0) {
    return yield* new RecipeError({
      file,
      field: (limits[0] as Limit).field,
      message: `invalid recipe:\n${limits.map((l) => l.message).join("\n")}`
    })
  }
  return { file, recipe, raw: expanded.value }
})

interface Limit {
  readonly field: string
  readonly message: string
}

/**
 * Checks a resolved recipe against what the models can hold (issue 15 item 5): token budgets
 * given explicitly that exceed a model's `max_position_embeddings`.
 */
export const checkLimits = Effect.fnUntraced(function* (r: Recipe) {
  const out: Array<Limit> = []
  for (const m of ["A", "B"] as const) {
    const max = yield* maxPositionsOf(r.models[m])
    if (max === undefined) continue
    const over = (field: string, what: string, n: number | undefined) => {
      if (n !== undefined && n > max)
        out.push({
          field,
          message: `[${field
            .split(".")
            .map((k) => `"${k}"`)
            .join(
              "]["
            )}]: ${what} ${n} exceeds model ${m}'s ${max} positions (max_position_embeddings in ${r.models[m]}/config.json)`
        })
    }
    over("harvest.maxLength", "max length", r.harvest.maxLength)
    over("rank.maxLength", "max length", r.rank.maxLength)
    const gen = (stage: "evaluate" | "steer") => {
      const s = r[stage]
      if (s.maxPromptTokens !== undefined)
        over(`${stage}.maxPromptTokens`, "maxPromptTokens + maxNewTokens", s.maxPromptTokens + (s.maxNewTokens ?? 200))
      else over(`${stage}.maxNewTokens`, "maxNewTokens", s.maxNewTokens)
    }
    gen("evaluate")
    gen("steer")
  }
  return out
})

/** `crosscoders.0.k` from the first `at ["crosscoders"][0]["k"]` of a schema error message. */
const firstIssuePath = (message: string): string | undefined => {
  const m = /^\s*at ((?:\[[^\]]+\])+)\s*$/m.exec(message)
  if (m === null) return undefined
  return [...m[1]!.matchAll(/\[("?)(.*?)\1\]/g)].map((x) => x[2]).join(".")
}

/** Reads, decodes and resolves a recipe file. */
export const loadRecipe = Effect.fn("loadRecipe")(function* (
  file: string,
  overrides: RecipeOverrides = {}
): Effect.fn.Return<LoadedRecipe, RecipeError, FileSystem.FileSystem | Path.Path> {
  const abs = path.resolve(overrides.cwd ?? process.cwd(), file)
  const text = yield* readTextFile(abs).pipe(
    Effect.mapError(
      (e) => new RecipeError({ file: abs, message: `cannot read the recipe: ${platformErrorMessage(e)}` })
    )
  )
  const json = yield* Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (e) => new RecipeError({ file: abs, message: `not valid JSON: ${errorMessage(e)}` })
  })
  return yield* decodeRecipe(json, abs, overrides)
})
