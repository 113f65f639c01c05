/**
 * The evaluation runner: model × task (items, prompt style, scorers) × intervention → greedy
 * generations → parse → scores → one JSON record per item (appended to a JSONL file as it is made)
 * and a summary.
 *
 * Dependencies are explicit values: `makeEvalRunner({ model, tokenizer })` (programs comparing two
 * models make one runner per model; the study gets both from its `StudyModels` cache).
 *
 * Per item: build the prompt ({@link buildPrompt}) → `tokenizer.encode` (special tokens as the
 * settings say; HF's `tokenizer(prompt)` default adds them, which for Qwen adds nothing) → truncate
 * to `maxPromptTokens` (`right` keeps the first tokens, HF's default `truncation_side`; `left`
 * keeps the last ones, which preserves the generation prompt of a chat template) → ask the
 * intervention for hooks → `model.generate` (greedy by default, `maxNewTokens`, the model's EOS ids
 * as stop tokens unless given) → `tokenizer.decode` of the new tokens (skipping special tokens by
 * default, as the paper's harness does; `<tool_call>` is not special in Qwen2.5 so it stays) →
 * `parseToolCalls` → every scorer → record.
 *
 * Resuming: with `output`, records already in the file for this run (`key = run|itemId`) are
 * reused and their items not generated again; a record made with other settings, or for an item
 * that changed under the same id, is a `ResumeMismatchError` (use another `run` label or file). Progress goes to
 * core's `Progress` service (one bar of items per run, `eval <run>`, updated every batch) and, as
 * items/s and ETA, to `Effect.logInfo` every `progressEverySeconds` and at the end.
 */
import {
  cleanIntervention,
  fingerprint,
  Greedy,
  type Intervention,
  type LanguageModelShape,
  type ModelInputError,
  Progress,
  type ProgressBar,
  type Sampling,
  type TokenizerShape
} from "@crosscode/core"
import { Clock, Effect, type FileSystem, type Path } from "effect"
import {
  type EvalIOError,
  EvalSettingsError,
  type PromptBuildError,
  ResumeMismatchError,
  type ScorerError
} from "../errors.js"
import { parseToolCallsSafely } from "../parse/parseToolCalls.js"
import { buildPrompt, type ChatRenderer, describePromptStyle, tokenizerRenderer } from "../prompt/prompts.js"
import { runScorersRecordingFailures } from "../scorers/Scorer.js"
import type { InterventionContext } from "./Intervention.js"
import {
  appendRecord,
  type EvalRecord,
  type ItemFailure,
  parseTrace,
  readRecords,
  serializableRecord
} from "./records.js"
import { formatSummaryTable, type RunSummary, summarizeRun } from "./summary.js"
import { type Task, validateTask } from "./Task.js"

export interface GenerationSettings {
  /** New tokens per prompt (paper: 200). */
  readonly maxNewTokens: number
  /** Prompts longer than this are truncated (paper: 2048). */
  readonly maxPromptTokens: number
  /** Which end to cut: "right" keeps the first tokens (HF default), "left" the last. */
  readonly truncation: "right" | "left"
  /** Prompts per `generate` call (default 1, the paper's setting). */
  readonly batchSize: number
  /** Default greedy. */
  readonly sampling: Sampling
  /** Stop tokens (default: the model's EOS ids). */
  readonly stopTokenIds?: ReadonlyArray<number>
  /** `tokenizer.encode(prompt, { addSpecialTokens })` (default true, as HF's `tokenizer(prompt)`). */
  readonly addSpecialTokens: boolean
  /** `tokenizer.decode(newTokens, { skipSpecialTokens })` (default true, as the paper). */
  readonly skipSpecialTokens: boolean
  /** KV cache in generation (default true). */
  readonly useCache: boolean
}

export const defaultGenerationSettings: GenerationSettings = {
  maxNewTokens: 200,
  maxPromptTokens: 2048,
  truncation: "right",
  batchSize: 1,
  sampling: Greedy,
  addSpecialTokens: true,
  skipSpecialTokens: true,
  useCache: true
}

export interface RunSpec<E = never, R = never> {
  /** Label of this condition (e.g. "A-clean"); part of every record's key. */
  readonly run: string
  readonly task: Task
  /** Default: `cleanIntervention` (no hooks). */
  readonly intervention?: Intervention<E, R, InterventionContext>
  readonly settings?: Partial<GenerationSettings>
  /** JSONL file to append records to and resume from. */
  readonly output?: string
  /** Reuse records already in `output` (default true). With false, an existing record for a key is an error. */
  readonly resume?: boolean
  /** Evaluate only the first `limit` items of the task. */
  readonly limit?: number
  /** Seconds between progress lines (default 30). */
  readonly progressEverySeconds?: number
  /** Store the rendered prompt in each record (default true). */
  readonly recordPromptText?: boolean
  /** Store the generated token ids in each record (default false). */
  readonly recordTokenIds?: boolean
}

export interface RunResult {
  /** One record per item of the run, in task order (resumed ones included). */
  readonly records: ReadonlyArray<EvalRecord>
  /** Items taken from the output file. */
  readonly resumed: number
  /** Items generated in this call. */
  readonly generated: number
  readonly summary: RunSummary
  /** `formatSummaryTable(summary)`. */
  readonly table: string
}

export type EvalRunError =
  | EvalSettingsError
  | EvalIOError
  | ResumeMismatchError
  | PromptBuildError
  | ScorerError
  | ModelInputError

export interface EvalRunnerShape {
  /** Records files go through the platform `FileSystem` and `Path` (provide `NodeServices.layer` on Node). */
  run<E = never, R = never>(
    spec: RunSpec<E, R>
  ): Effect.Effect<RunResult, EvalRunError | E, R | FileSystem.FileSystem | Path.Path>
}

export interface EvalRunnerDeps {
  readonly model: LanguageModelShape
  readonly tokenizer: TokenizerShape
  /** Chat template renderer (default: the tokenizer's `applyChatTemplate`). */
  readonly renderer?: ChatRenderer
  /**
   * The model's positions (`max_position_embeddings`): a prompt whose tokens (after truncation)
   * plus `maxNewTokens` exceed it is an `EvalSettingsError` naming the item, not a generation
   * past the positions the model was trained on.
   */
  readonly maxPositions?: number
}

const checkSettings = (s: GenerationSettings): EvalSettingsError | undefined => {
  const positiveInt = (x: number) => Number.isInteger(x) && x >= 1
  if (!positiveInt(s.maxNewTokens))
    return new EvalSettingsError({ message: `maxNewTokens must be a positive integer, got ${s.maxNewTokens}` })
  if (!positiveInt(s.maxPromptTokens)) {
    return new EvalSettingsError({ message: `maxPromptTokens must be a positive integer, got ${s.maxPromptTokens}` })
  }
  if (!positiveInt(s.batchSize))
    return new EvalSettingsError({ message: `batchSize must be a positive integer, got ${s.batchSize}` })
  if (s.truncation !== "right" && s.truncation !== "left") {
    return new EvalSettingsError({ message: `truncation must be "right" or "left", got ${String(s.truncation)}` })
  }
  return undefined
}

/** Truncates token ids to `max` ("right" keeps the head, "left" the tail). */
export const truncateIds = (ids: ReadonlyArray<number>, max: number, side: "right" | "left"): ReadonlyArray<number> =>
  ids.length <= max ? ids : side === "right" ? ids.slice(0, max) : ids.slice(ids.length - max)

const formatDuration = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return "?"
  const s = Math.round(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`
}

/** Builds a runner over one model and tokenizer. */
export const makeEvalRunner = (deps: EvalRunnerDeps): EvalRunnerShape => {
  const { model, tokenizer } = deps
  const renderer = deps.renderer ?? tokenizerRenderer(tokenizer)

  const run = <E, R>(
    spec: RunSpec<E, R>
  ): Effect.Effect<RunResult, EvalRunError | E, R | FileSystem.FileSystem | Path.Path> => {
    let bar: ProgressBar | undefined
    return Effect.gen(function* () {
      const settings: GenerationSettings = { ...defaultGenerationSettings, ...spec.settings }
      const bad = checkSettings(settings)
      if (bad !== undefined) return yield* bad
      const task = validateTask(spec.task)
      if (task instanceof EvalSettingsError) return yield* task
      const intervention = (spec.intervention ?? cleanIntervention) as Intervention<E, R, InterventionContext>
      const items = spec.limit !== undefined ? task.items.slice(0, Math.max(0, spec.limit)) : task.items
      const modelInfo = {
        name: model.info.name,
        family: model.info.family,
        ...(model.info.path !== undefined ? { path: model.info.path } : {})
      }
      const recordSettings = {
        generation: { ...settings, stopTokenIds: settings.stopTokenIds ?? model.info.eosTokenIds },
        prompt: describePromptStyle(task.prompt),
        task: task.name,
        scorers: task.scorers.map((s) => s.name),
        model: modelInfo,
        intervention: { name: intervention.name, settings: intervention.settings ?? {} }
      }
      const settingsHash = fingerprint(recordSettings)
      const keyOf = (itemId: string) => `${spec.run}|${itemId}`

      const itemHashes = new Map(items.map((i) => [keyOf(i.id), fingerprint(i)]))
      const done = new Map<string, EvalRecord>()
      if (spec.output !== undefined) {
        for (const r of yield* readRecords(spec.output)) {
          const itemHash = itemHashes.get(r.key)
          if (itemHash === undefined) continue
          const problem =
            spec.resume === false
              ? `${spec.output} already has a record for ${r.key} and resume is off`
              : r.settingsHash !== settingsHash
                ? `${spec.output} has a record for ${r.key} made with other settings (hash ${r.settingsHash}, now ${settingsHash}); use another run label or file`
                : r.itemHash !== itemHash
                  ? `${spec.output} has a record for ${r.key} made for a different item with the same id; use another run label or file`
                  : undefined
          if (problem !== undefined)
            return yield* new ResumeMismatchError({ path: spec.output, key: r.key, message: problem })
          done.set(r.key, r)
        }
      }
      const todo = items.map((item, index) => ({ item, index })).filter(({ item }) => !done.has(keyOf(item.id)))
      const resumed = items.length - todo.length
      const annotate = Effect.annotateLogs({ run: spec.run, task: task.name, model: model.info.name })
      yield* Effect.logInfo(
        `eval ${spec.run}: ${items.length} items, ${resumed} already in ${spec.output ?? "(no file)"}, ${todo.length} to generate`
      ).pipe(annotate)

      const progress = (yield* Progress).start(`eval ${spec.run}`, items.length, "items", resumed)
      bar = progress
      const fresh = new Map<string, EvalRecord>()
      const start = yield* Clock.currentTimeMillis
      let lastLog = start
      const everyMs = (spec.progressEverySeconds ?? 30) * 1000

      for (let b = 0; b < todo.length; b += settings.batchSize) {
        // Generation is long synchronous work: yield so an interrupt (Ctrl-C, timeout) lands between batches.
        yield* Effect.yieldNow
        const batch = todo.slice(b, b + settings.batchSize)
        const t0 = yield* Clock.currentTimeMillis
        const prepared = []
        for (const { item, index } of batch) {
          const prompt = yield* buildPrompt(item, task.prompt, renderer)
          const ids = tokenizer.encode(prompt, { addSpecialTokens: settings.addSpecialTokens })
          const kept = truncateIds(ids, settings.maxPromptTokens, settings.truncation)
          if (deps.maxPositions !== undefined && kept.length + settings.maxNewTokens > deps.maxPositions) {
            return yield* new EvalSettingsError({
              message: `item ${item.id}: a prompt of ${kept.length} tokens (maxPromptTokens ${settings.maxPromptTokens}) plus maxNewTokens ${settings.maxNewTokens} exceeds the model's ${deps.maxPositions} positions (max_position_embeddings); lower maxPromptTokens or maxNewTokens`
            })
          }
          prepared.push({ item, index, prompt, originalTokens: ids.length, ids: kept })
        }
        const hooks = []
        for (let row = 0; row < prepared.length; row++) {
          const p = prepared[row] as (typeof prepared)[number]
          hooks.push(
            ...(yield* intervention.hooks({
              promptIds: p.ids,
              promptIndex: p.index,
              item: p.item,
              row,
              batchSize: prepared.length
            }))
          )
        }
        const generations = yield* model.generate({
          prompts: prepared.map((p) => p.ids),
          maxNewTokens: settings.maxNewTokens,
          sampling: settings.sampling,
          useCache: settings.useCache,
          ...(settings.stopTokenIds !== undefined ? { stopTokenIds: settings.stopTokenIds } : {}),
          ...(hooks.length > 0 ? { hooks } : {})
        })
        const t1 = yield* Clock.currentTimeMillis
        for (let row = 0; row < prepared.length; row++) {
          const p = prepared[row] as (typeof prepared)[number]
          const g = generations[row]
          if (g === undefined) {
            return yield* new EvalSettingsError({
              message: `model returned ${generations.length} generations for ${prepared.length} prompts`
            })
          }
          const response = tokenizer.decode(g.tokens, { skipSpecialTokens: settings.skipSpecialTokens })
          // One item's parse, scorer or serialization failure is recorded on the item, never fatal to the run.
          const failures: Array<ItemFailure> = []
          const { parse, failure: parseFailure } = parseToolCallsSafely(response)
          if (parseFailure !== undefined) failures.push({ stage: "parse", message: parseFailure })
          const scored = yield* runScorersRecordingFailures(task.scorers, {
            item: p.item,
            prompt: p.prompt,
            response,
            parse
          })
          for (const f of scored.failures) failures.push({ stage: "score", scorer: f.scorer, message: f.message })
          const record: EvalRecord = serializableRecord({
            key: keyOf(p.item.id),
            run: spec.run,
            task: task.name,
            itemId: p.item.id,
            index: p.index,
            source: p.item.source,
            category: p.item.category,
            model: modelInfo,
            intervention: {
              name: intervention.name,
              ...(intervention.settings !== undefined ? { settings: intervention.settings } : {})
            },
            settings: recordSettings,
            settingsHash,
            itemHash: itemHashes.get(keyOf(p.item.id)) ?? "",
            prompt: {
              ...(spec.recordPromptText === false ? {} : { text: p.prompt }),
              tokens: p.ids.length,
              originalTokens: p.originalTokens,
              truncated: p.ids.length < p.originalTokens
            },
            response,
            generation: {
              newTokens: g.tokens.length,
              stopReason: g.stopReason,
              ...(spec.recordTokenIds === true ? { tokenIds: g.tokens } : {})
            },
            parse: parseTrace(parse),
            metrics: scored.metrics,
            details: scored.details,
            ...(p.item.meta !== undefined ? { meta: p.item.meta } : {}),
            ...(failures.length > 0 ? { failures } : {}),
            elapsedMs: (t1 - t0) / prepared.length,
            finishedAt: new Date(t1).toISOString()
          })
          if (record.failures !== undefined) {
            yield* Effect.logWarning(
              `eval ${spec.run}: item ${p.item.id} recorded with failures: ${record.failures
                .map((f) => `${f.stage}${f.scorer !== undefined ? ` (${f.scorer})` : ""}: ${f.message}`)
                .join("; ")}`
            ).pipe(annotate)
          }
          if (spec.output !== undefined) yield* appendRecord(spec.output, record)
          fresh.set(record.key, record)
        }
        const now = yield* Clock.currentTimeMillis
        const n = Math.min(b + settings.batchSize, todo.length)
        progress.update(resumed + n)
        if (now - lastLog >= everyMs || n === todo.length) {
          lastLog = now
          const rate = n / Math.max(1e-9, (now - start) / 1000)
          yield* Effect.logInfo(
            `eval ${spec.run}: ${resumed + n}/${items.length} items (${rate.toFixed(2)} items/s, ETA ${formatDuration((todo.length - n) / rate)})`
          ).pipe(annotate)
        }
      }

      const records = items.map((item) => {
        const k = keyOf(item.id)
        return (fresh.get(k) ?? done.get(k)) as EvalRecord
      })
      const summary = summarizeRun(records)
      return { records, resumed, generated: fresh.size, summary, table: formatSummaryTable(summary) }
    }).pipe(Effect.ensuring(Effect.sync(() => bar?.finish())))
  }

  return { run }
}
