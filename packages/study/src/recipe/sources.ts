/**
 * Recipe specs → package values: text sources (@crosscode/activations) and prompt sets
 * (@crosscode/eval `EvalItem`s).
 */
import {
  cycleSource,
  jsonlSource,
  makeTextSource,
  mixSources,
  paperRecipe,
  parquetSource,
  plainTextSource,
  type TextSourceShape,
  takeSamples,
  toolrlSource
} from "@crosscode/activations"
import { platformErrorMessage, readTextFile } from "@crosscode/core"
import {
  type EvalItem,
  formatScorer,
  loadToolRlJson,
  loadToolRlParquet,
  makeTask,
  PromptStyles,
  paperRubricScorer,
  parseToolRlTools,
  pythonSample,
  type Task
} from "@crosscode/eval"
import { Effect, type FileSystem, Stream } from "effect"
import { errorMessage, StageError, stageFailure } from "./errors.js"
import type { HarvestText, MixSourceSpec, PromptSetSpec, TextSourceSpec } from "./schema.js"

export const textSource = (spec: TextSourceSpec | MixSourceSpec): TextSourceShape => {
  const dataset = spec.dataset !== undefined ? { dataset: spec.dataset } : {}
  switch (spec.kind) {
    case "jsonl":
      return jsonlSource({ path: spec.path, ...(spec.field !== undefined ? { field: spec.field } : {}), ...dataset })
    case "text":
      return plainTextSource({
        path: spec.path,
        ...(spec.split !== undefined ? { split: spec.split } : {}),
        ...dataset
      })
    case "parquet":
      return parquetSource({
        path: spec.path,
        ...(spec.column !== undefined ? { column: spec.column } : {}),
        ...dataset
      })
    case "toolrl":
      return toolrlSource({ path: spec.path, ...dataset })
  }
}

/** The sources one after the other. */
export const concatSources = (sources: ReadonlyArray<TextSourceShape>): TextSourceShape =>
  makeTextSource(
    `concat(${sources.map((s) => s.name).join(",")})`,
    sources.map((s) => s.stream).reduce((a, b) => Stream.concat(a, b))
  )

/** The harvest's text: the paper's recipe or a seeded mix of already-chunked sources. */
export const harvestSource = (text: HarvestText, seed: number): TextSourceShape =>
  text.kind === "paper"
    ? paperRecipe({
        web: textSource(text.web),
        tool: textSource(text.tool),
        samplesPerDataset: text.samplesPerDataset,
        seed,
        ...(text.targetWords !== undefined ? { targetWords: text.targetWords } : {}),
        ...(text.minChunkChars !== undefined ? { minChunkChars: text.minChunkChars } : {})
      })
    : text.order === "concat"
      ? concatSources(
          text.sources.map((s) => takeSamples(cycleSource(textSource(s)), s.samples ?? text.samplesPerSource!))
        )
      : text.sources.every((s) => s.samples === undefined || s.samples === text.samplesPerSource)
        ? mixSources(text.sources.map(textSource), { seed, samplesPerSource: text.samplesPerSource! })
        : mixSources(
            text.sources.map((s) => takeSamples(cycleSource(textSource(s)), s.samples ?? text.samplesPerSource!)),
            { seed, cycle: false }
          )

/** Upper bound of the rows a harvest text yields (one row per text; the paper filter may drop some). */
export const expectedHarvestRows = (text: HarvestText): number =>
  text.kind === "paper"
    ? 2 * text.samplesPerDataset
    : text.sources.reduce((a, s) => a + (s.samples ?? text.samplesPerSource ?? 0), 0)

/** The first `n` texts of a source. */
export const readTexts = (spec: TextSourceSpec, n: number, stage: string) =>
  takeSamples(textSource(spec), n).stream.pipe(
    Stream.map((s) => s.text),
    Stream.runCollect,
    Effect.mapError(stageFailure(stage, { kind: "data", context: spec.path }))
  )

interface PromptRow {
  readonly id: string
  readonly prompt: string
}

/** JSONL prompt rows → items whose ToolRL system prompt is the row's prompt, verbatim. */
const jsonlItems = (file: string, promptField: string, idField: string, stage: string) =>
  Effect.gen(function* () {
    const text = yield* readTextFile(file).pipe(
      Effect.mapError(
        (e) =>
          new StageError({
            stage,
            kind: "data",
            path: file,
            message: `cannot read prompts ${file}: ${platformErrorMessage(e)}`,
            cause: e
          })
      )
    )
    const items: Array<EvalItem> = []
    const seen = new Map<string, number>()
    const bad = (line: number, what: string) =>
      new StageError({ stage, kind: "data", path: file, message: `${file}:${line}: ${what}` })
    // a UTF-8 byte order mark is not JSON whitespace
    const lines = text.replace(/^\uFEFF/, "").split("\n")
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!
      if (line.trim() === "") continue
      let parsed: unknown
      try {
        parsed = JSON.parse(line)
      } catch (e) {
        return yield* bad(i + 1, `not JSON (${errorMessage(e)})`)
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
        return yield* bad(
          i + 1,
          `expected a JSON object, got ${parsed === null ? "null" : Array.isArray(parsed) ? "an array" : `a ${typeof parsed}`}`
        )
      const row = parsed as Record<string, unknown>
      const prompt = row[promptField]
      if (typeof prompt !== "string") {
        return yield* new StageError({
          stage,
          kind: "data",
          path: file,
          message: `${file}:${i + 1}: field "${promptField}" is not a string`
        })
      }
      const id = row[idField]
      if (id !== undefined && id !== null && typeof id !== "string" && typeof id !== "number")
        return yield* bad(
          i + 1,
          `field "${idField}" is ${Array.isArray(id) ? "a list" : typeof id === "object" ? "an object" : `a ${typeof id}`}, not a string or number`
        )
      const r: PromptRow = { id: typeof id === "string" || typeof id === "number" ? String(id) : `${i}`, prompt }
      // records are keyed by id: a repeated id would be skipped as already evaluated on resume
      const first = seen.get(r.id)
      if (first !== undefined) return yield* bad(i + 1, `id "${r.id}" repeats line ${first}`)
      seen.set(r.id, i + 1)
      items.push({
        id: r.id,
        source: "jsonl",
        category: "toolrl",
        messages: [],
        toolRlSystem: r.prompt,
        tools: parseToolRlTools(r.prompt) ?? [],
        expected: { _tag: "Unknown" },
        ...(row.proactive !== undefined ? { meta: { proactive: row.proactive } } : {})
      })
    }
    return items
  })

/** All items of a prompt set. */
export const loadPromptSet = (
  spec: PromptSetSpec,
  stage: string
): Effect.Effect<Array<EvalItem>, StageError, FileSystem.FileSystem> => {
  const wrap = <A, E extends { message: string }, R>(eff: Effect.Effect<A, E, R>) =>
    Effect.mapError(eff, stageFailure(stage, { kind: "data", context: spec.path }))
  switch (spec.kind) {
    case "jsonl":
      return jsonlItems(spec.path, spec.promptField ?? "prompt", spec.idField ?? "id", stage)
    case "toolrl-parquet":
      return wrap(spec.split !== undefined ? loadToolRlParquet(spec.path, spec.split) : loadToolRlParquet(spec.path))
    case "toolrl-json":
      return wrap(loadToolRlJson(spec.path))
  }
}

/** `n` items drawn as the paper does (`random.seed(seed); random.sample(items, n)`), capped at the set size. */
/** `n` prompts drawn from the set; asking for more than it holds is an error, never a quietly smaller run. */
export const samplePrompts = (spec: PromptSetSpec, n: number, seed: number, stage: string) =>
  Effect.flatMap(loadPromptSet(spec, stage), (items) =>
    n > items.length
      ? Effect.fail(
          new StageError({
            stage,
            message: `${stage}.n is ${n} but the prompt set ${spec.path} holds ${items.length} prompts; lower n or use a larger set`
          })
        )
      : Effect.succeed(pythonSample(items, n, seed))
  )

/**
 * The evaluation task: the paper's prompt (ToolRL system prompt only, no chat template) scored by
 * the paper rubric, plus the parse-level format metrics.
 */
export const studyTask = (items: ReadonlyArray<EvalItem>, name: string): Task =>
  makeTask({
    name,
    items,
    prompt: PromptStyles.paper,
    scorers: [paperRubricScorer(), formatScorer({ primary: "toolrl" })]
  })

/** The metric every stage compares. */
export const TOOL_METRIC = "paper.tool_correctness"
export const FORMAT_METRIC = "paper.format_accuracy"
export const SCORE_METRIC = "paper.overall_score"
