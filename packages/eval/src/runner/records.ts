/**
 * One JSON record per (run, item), written as JSON lines, incrementally: each record is appended
 * as soon as its item is scored, so an interrupted run loses at most the item in flight. On
 * restart the runner reads the file back, skips items already there, and truncates a half-written
 * last line if the process died mid-write.
 */
import { appendFile, mkdir, readFile, truncate } from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
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

/** A stable JSON string (object keys sorted), for hashing settings. */
export const stableStringify = (v: unknown): string => {
  if (v === undefined) return "null"
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null"
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(",")}]`
  const o = v as Record<string, unknown>
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(",")}}`
}

/** 64-bit FNV-1a of a string, as 16 hex digits. */
export const fnv1a64 = (s: string): string => {
  let h = 0xcbf29ce484222325n
  const prime = 0x100000001b3n
  for (let i = 0; i < s.length; i++) {
    h ^= BigInt(s.charCodeAt(i))
    h = (h * prime) & 0xffffffffffffffffn
  }
  return h.toString(16).padStart(16, "0")
}

const isMissing = (e: unknown): boolean => (e as { code?: string } | undefined)?.code === "ENOENT"

const ioError = (file: string) => (e: unknown) =>
  new EvalIOError({ path: file, message: e instanceof Error ? e.message : String(e) })

/**
 * Reads a JSONL file written by appending one value per line (records here; steering's sweep
 * cells). A missing file is empty; a last line without its newline (a write cut short) is dropped
 * and the file truncated to the last complete line; any other unparseable line is an error naming
 * its line number.
 */
export const readJsonLines = <A>(file: string): Effect.Effect<Array<A>, EvalIOError> =>
  Effect.tryPromise({
    try: async () => {
      let text: string
      try {
        text = await readFile(file, "utf8")
      } catch (e) {
        if (isMissing(e)) return []
        throw e
      }
      const complete = text.endsWith("\n") ? text : text.slice(0, text.lastIndexOf("\n") + 1)
      if (complete.length !== text.length) await truncate(file, Buffer.byteLength(complete, "utf8"))
      const out: Array<A> = []
      const lines = complete.split("\n")
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i] as string
        if (line.trim() === "") continue
        try {
          out.push(JSON.parse(line) as A)
        } catch (e) {
          throw new Error(`line ${i + 1} is not valid JSON (${(e as Error).message})`)
        }
      }
      return out
    },
    catch: ioError(file)
  })

/** Appends `value` as one JSON line (creating the directory and file as needed). */
export const appendJsonLine = (file: string, value: unknown): Effect.Effect<void, EvalIOError> =>
  Effect.tryPromise({
    try: async () => {
      await mkdir(path.dirname(file), { recursive: true })
      await appendFile(file, `${JSON.stringify(value)}\n`, "utf8")
    },
    catch: ioError(file)
  })

/** Reads a records file (see {@link readJsonLines}). */
export const readRecords = (file: string): Effect.Effect<Array<EvalRecord>, EvalIOError> =>
  readJsonLines<EvalRecord>(file)

/** Appends one record as a JSON line (creating the directory and file as needed). */
export const appendRecord = (file: string, record: EvalRecord): Effect.Effect<void, EvalIOError> =>
  appendJsonLine(file, record)
