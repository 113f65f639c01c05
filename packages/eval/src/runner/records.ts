/**
 * One JSON record per (run, item), written as JSON lines, incrementally: each record is appended
 * as soon as its item is scored, so an interrupted run loses at most the item in flight. On
 * restart the runner reads the file back, skips items already there, and truncates a half-written
 * last line if the process died mid-write.
 */
import { appendJsonLine, type JsonLinesError, readJsonLines } from "@crosscode/core"
import { Effect, type FileSystem, type Path } from "effect"
import { EvalIOError } from "../errors.js"
import type { BlockTrace, CallFlag, ParseIssue, ParseResult, ThinkTrace } from "../parse/parseToolCalls.js"
import type { MetricValue } from "../scorers/Scorer.js"

/** The parse trace stored in a record (the text itself is in `response`). */
export interface ParseTrace {
  readonly cutAt: string | undefined
  readonly calls: ReadonlyArray<{ name: string; arguments: unknown; block: number; flags: ReadonlyArray<CallFlag> }>
  readonly blocks: ReadonlyArray<Omit<BlockTrace, "content">>
  readonly think: ThinkTrace | undefined
  readonly response: string | undefined
  readonly textOutside: string
  readonly issues: ReadonlyArray<ParseIssue>
  readonly flags: ReadonlyArray<CallFlag>
}

export const parseTrace = (r: ParseResult): ParseTrace => ({
  cutAt: r.cutAt,
  calls: r.calls.map((c) => ({ name: c.name, arguments: c.arguments, block: c.block, flags: c.flags })),
  blocks: r.blocks.map(({ content: _content, ...b }) => b),
  think: r.think,
  response: r.response,
  textOutside: r.textOutside,
  issues: r.issues,
  flags: r.flags
})

/**
 * Why an item's record is incomplete: its parse, one of its scorers, or its serialization failed.
 * The run goes on; the item's metrics from failed scorers are absent and the summary counts it.
 */
export interface ItemFailure {
  readonly stage: "parse" | "score" | "serialize"
  /** The scorer, for stage "score". */
  readonly scorer?: string
  readonly message: string
}

export interface EvalRecord {
  /** `${run}|${itemId}`: what resuming matches on. */
  readonly key: string
  readonly run: string
  readonly task: string
  readonly itemId: string
  /** Position of the item in the task. */
  readonly index: number
  readonly source: string
  readonly category: string
  readonly model: { readonly name: string; readonly family: string; readonly path?: string }
  readonly intervention: { readonly name: string; readonly settings?: Readonly<Record<string, unknown>> }
  /** Everything that defines the experiment (generation, prompt style, scorers, model, intervention). */
  readonly settings: Readonly<Record<string, unknown>>
  /** Hash of `settings`; a resumed file must hold the same hash for the same key. */
  readonly settingsHash: string
  /** Hash of the item itself; a resumed file must hold the same hash for the same key. */
  readonly itemHash: string
  readonly prompt: {
    /** The rendered prompt (omitted with `recordPromptText: false`). */
    readonly text?: string
    /** Tokens given to the model (after truncation). */
    readonly tokens: number
    /** Tokens before truncation. */
    readonly originalTokens: number
    readonly truncated: boolean
  }
  /** The generated text (decoded new tokens). */
  readonly response: string
  readonly generation: {
    readonly newTokens: number
    readonly stopReason: "stop_token" | "max_new_tokens"
    readonly tokenIds?: ReadonlyArray<number>
  }
  readonly parse: ParseTrace
  /** Flat `${scorer}.${metric}` → value. */
  readonly metrics: Readonly<Record<string, MetricValue>>
  /** Scorer name → its detail. */
  readonly details: Readonly<Record<string, unknown>>
  readonly meta?: Readonly<Record<string, unknown>>
  /** Present when this item's parse, a scorer or the record's serialization failed. */
  readonly failures?: ReadonlyArray<ItemFailure>
  /** Wall time spent on this item's batch, divided by the batch size. */
  readonly elapsedMs: number
  readonly finishedAt: string
}

const ioError = (e: JsonLinesError): EvalIOError => new EvalIOError({ path: e.path, message: e.message })

/**
 * `record` if it serializes to JSON; otherwise the record without what cannot (scorer details,
 * call arguments, metrics), with a `serialize` failure saying why. Never throws.
 */
export const serializableRecord = (record: EvalRecord): EvalRecord => {
  try {
    JSON.stringify(record)
    return record
  } catch (e) {
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e)
    return {
      ...record,
      parse: { ...record.parse, calls: record.parse.calls.map((c) => ({ ...c, arguments: null })) },
      metrics: Object.fromEntries(
        Object.entries(record.metrics).filter(([, v]) => v === null || typeof v === "boolean" || Number.isFinite(v))
      ),
      details: {},
      ...(record.meta !== undefined ? { meta: {} } : {}),
      failures: [...(record.failures ?? []), { stage: "serialize", message }]
    }
  }
}

/** Reads a records file (core's `readJsonLines`: missing = empty, a cut-off last line is dropped). */
export const readRecords = (file: string): Effect.Effect<Array<EvalRecord>, EvalIOError, FileSystem.FileSystem> =>
  Effect.mapError(readJsonLines<EvalRecord>(file), ioError)

/** Appends one record as a JSON line (creating the directory and file as needed). */
export const appendRecord = (
  file: string,
  record: EvalRecord
): Effect.Effect<void, EvalIOError, FileSystem.FileSystem | Path.Path> =>
  Effect.mapError(appendJsonLine(file, record), ioError)
