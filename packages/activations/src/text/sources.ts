/**
 * Built-in text sources: in-memory samples, JSONL, plain text, parquet (hyparquet) and ToolRL rows.
 * Every source reads its file lazily each time its stream runs, so streams are re-runnable.
 */

import { createReadStream } from "node:fs"
import { readFile } from "node:fs/promises"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { Stream } from "effect"
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from "hyparquet"
import { TextSourceError } from "../errors.js"
import { makeTextSource, type TextSample, type TextSourceShape } from "./TextSource.js"

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** A source from an async generator factory; thrown `TextSourceError`s pass through, other throws are wrapped. */
export const fromAsyncGenerator = (
  name: string,
  make: () => AsyncGenerator<TextSample, void, undefined>
): TextSourceShape =>
  makeTextSource(
    name,
    Stream.suspend(() =>
      Stream.fromAsyncIterable(make(), (e) =>
        e instanceof TextSourceError ? e : new TextSourceError({ source: name, message: errorMessage(e) })
      )
    )
  )

/** A source over samples held in memory. */
export const fromSamples = (name: string, samples: ReadonlyArray<TextSample>): TextSourceShape =>
  makeTextSource(name, Stream.fromIterable(samples))

/** Texts in memory, tagged with one dataset; ids are `${dataset}:${index}`. */
export const fromTexts = (dataset: string, texts: ReadonlyArray<string>): TextSourceShape =>
  fromSamples(
    `texts(${dataset},${texts.length})`,
    texts.map((text, i) => ({ text, dataset, id: `${dataset}:${i}` }))
  )

const baseName = (file: string): string => path.basename(file).replace(/\.[^.]*$/, "")

/** `a.b.c` lookup in a parsed JSON value. */
export const getPath = (row: unknown, field: string): unknown => {
  let v: unknown = row
  for (const key of field.split(".")) {
    if (v === null || typeof v !== "object") return undefined
    v = (v as Record<string, unknown>)[key]
  }
  return v
}

async function* readLines(file: string): AsyncGenerator<string, void, undefined> {
  const input = createReadStream(file, { encoding: "utf8" })
  const rl = createInterface({ input, crlfDelay: Infinity })
  try {
    for await (const line of rl) yield line
  } finally {
    rl.close()
    input.destroy()
  }
}

export interface JsonlSourceOptions {
  readonly path: string
  /** Dot path of the text field (default "text"). Ignored when `select` is given. */
  readonly field?: string
  /** Custom extraction; return `undefined` to skip the row. */
  readonly select?: (row: unknown) => string | undefined
  /** Dataset tag (default: file name without extension). */
  readonly dataset?: string
  /** Dot path of an id field (default: `${file}:${line}`). */
  readonly idField?: string
  /** What to do with a row whose field is missing or not a string (default "fail"). */
  readonly onMissing?: "fail" | "skip"
}

/** One JSON object per line; blank lines are skipped; a bad line fails naming `file:line`. */
export const jsonlSource = (options: JsonlSourceOptions): TextSourceShape => {
  const field = options.field ?? "text"
  const dataset = options.dataset ?? baseName(options.path)
  const file = path.basename(options.path)
  const name = `jsonl(${options.path},${options.select === undefined ? `field=${field}` : "select"},dataset=${dataset})`
  return fromAsyncGenerator(name, async function* () {
    let lineNo = 0
    for await (const line of readLines(options.path)) {
      lineNo++
      if (line.trim() === "") continue
      let row: unknown
      try {
        row = JSON.parse(line)
      } catch (e) {
        throw new TextSourceError({
          source: name,
          message: `${options.path}:${lineNo}: invalid JSON (${errorMessage(e)})`
        })
      }
      const text = options.select !== undefined ? options.select(row) : getPath(row, field)
      if (typeof text !== "string") {
        if (options.onMissing === "skip" || (options.select !== undefined && text === undefined)) continue
        throw new TextSourceError({
          source: name,
          message: `${options.path}:${lineNo}: field "${field}" is ${text === undefined ? "missing" : `a ${typeof text}, not a string`}`
        })
      }
      const idv = options.idField !== undefined ? getPath(row, options.idField) : undefined
      yield { text, dataset, id: idv !== undefined ? String(idv) : `${file}:${lineNo}` }
    }
  })
}

export interface PlainTextSourceOptions {
  /** One file or several (read in order). */
  readonly path: string | ReadonlyArray<string>
  /** "line": each non-blank line is a document; "paragraph": blocks separated by blank lines; "file": the whole file. */
  readonly split?: "line" | "paragraph" | "file"
  readonly dataset?: string
}

/** Plain UTF-8 text. Ids are `${file}:${n}` with n the 1-based line (line/paragraph start) or 0 for "file". */
export const plainTextSource = (options: PlainTextSourceOptions): TextSourceShape => {
  const files = typeof options.path === "string" ? [options.path] : [...options.path]
  const split = options.split ?? "line"
  const dataset = options.dataset ?? baseName(files[0] ?? "text")
  const name = `text(${files.join("|")},split=${split},dataset=${dataset})`
  return fromAsyncGenerator(name, async function* () {
    for (const f of files) {
      const file = path.basename(f)
      if (split === "file") {
        yield { text: await readFile(f, "utf8"), dataset, id: `${file}:0` }
        continue
      }
      let lineNo = 0
      let para: Array<string> = []
      let paraStart = 0
      for await (const line of readLines(f)) {
        lineNo++
        if (split === "line") {
          if (line.trim() !== "") yield { text: line, dataset, id: `${file}:${lineNo}` }
          continue
        }
        if (line.trim() === "") {
          if (para.length > 0) yield { text: para.join("\n"), dataset, id: `${file}:${paraStart}` }
          para = []
        } else {
          if (para.length === 0) paraStart = lineNo
          para.push(line)
        }
      }
      if (para.length > 0) yield { text: para.join("\n"), dataset, id: `${file}:${paraStart}` }
    }
  })
}

export interface ParquetSourceOptions {
  readonly path: string
  /** Column holding the text (default "text"); a dot path reaches into struct columns ("extra_info.instruction"). Ignored when `select` is given. */
  readonly column?: string
  /** Custom extraction from the row object; return `undefined` to skip the row. */
  readonly select?: (row: Record<string, unknown>) => string | undefined
  /** Columns to read (default: `[column]`, or all columns with `select`). */
  readonly columns?: ReadonlyArray<string>
  readonly dataset?: string
  /** Column used as id (default `${file}:${row}`). */
  readonly idColumn?: string
  /** Rows decoded per read (default 512). */
  readonly batchRows?: number
  readonly onMissing?: "fail" | "skip"
}

/** Apache Parquet through hyparquet; rows are decoded `batchRows` at a time. */
export const parquetSource = (options: ParquetSourceOptions): TextSourceShape => {
  const column = options.column ?? "text"
  const dataset = options.dataset ?? baseName(options.path)
  const file = path.basename(options.path)
  const batchRows = Math.max(1, options.batchRows ?? 512)
  const columns =
    options.columns !== undefined
      ? [...options.columns]
      : options.select !== undefined
        ? undefined
        : [
            ...new Set(
              [column, ...(options.idColumn !== undefined ? [options.idColumn] : [])].map(
                (c) => c.split(".")[0] as string
              )
            )
          ]
  const name = `parquet(${options.path},${options.select === undefined ? `column=${column}` : "select"},dataset=${dataset})`
  return fromAsyncGenerator(name, async function* () {
    const buffer = await asyncBufferFromFile(options.path)
    const metadata = await parquetMetadataAsync(buffer)
    const total = Number(metadata.num_rows)
    for (let start = 0; start < total; start += batchRows) {
      const end = Math.min(total, start + batchRows)
      const rows = (await parquetReadObjects({
        file: buffer,
        metadata,
        rowStart: start,
        rowEnd: end,
        ...(columns !== undefined ? { columns } : {})
      })) as Array<Record<string, unknown>>
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i] as Record<string, unknown>
        const text = options.select !== undefined ? options.select(row) : getPath(row, column)
        if (typeof text !== "string") {
          if (options.onMissing === "skip" || (options.select !== undefined && text === undefined)) continue
          throw new TextSourceError({
            source: name,
            message: `${options.path}: row ${start + i}: column "${column}" is ${text === undefined || text === null ? "missing" : `a ${typeof text}`}`
          })
        }
        const idv = options.idColumn !== undefined ? getPath(row, options.idColumn) : undefined
        yield { text, dataset, id: idv !== undefined && idv !== null ? String(idv) : `${file}:${start + i}` }
      }
    }
  })
}

/**
 * The paper's ToolRL text: the non-empty (stripped) `instruction`, `input` and `output` fields
 * joined with a blank line (`run_cache.py: get_toolrl_iter._format`). Rows of the RL parquet files
 * (verl format) keep these fields under `extra_info`; they are read from there when the row has
 * none at the top level.
 */
export const formatToolRLRow = (row: unknown): string => {
  const parts: Array<string> = []
  const top = ["instruction", "input", "output"].some((c) => getPath(row, c) !== undefined)
  const base = top ? row : getPath(row, "extra_info")
  for (const col of ["instruction", "input", "output"]) {
    const v = getPath(base, col)
    if (typeof v === "string" && v.trim() !== "") parts.push(v.trim())
  }
  return parts.join("\n\n")
}

export interface ToolRLSourceOptions {
  /**
   * `rlla_sft.json` (a JSON array), a `.jsonl` file or a `.parquet` file whose rows hold
   * instruction/input/output (at the top level or under `extra_info`).
   */
  readonly path: string
  readonly dataset?: string
}

/**
 * ToolRL rows formatted as `instruction\n\ninput\n\noutput`. Rows whose formatted text is shorter
 * than 3 characters are skipped (the reference's `len(text.strip()) >= 3`).
 */
export const toolrlSource = (options: ToolRLSourceOptions): TextSourceShape => {
  const dataset = options.dataset ?? "toolrl"
  const file = path.basename(options.path)
  const name = `toolrl(${options.path},dataset=${dataset})`
  const emit = (row: unknown, i: number): TextSample | undefined => {
    const text = formatToolRLRow(row)
    return text.trim().length >= 3 ? { text, dataset, id: `${file}:${i}` } : undefined
  }
  if (options.path.endsWith(".parquet")) {
    const inner = parquetSource({ path: options.path, select: formatToolRLRow, dataset })
    return makeTextSource(
      name,
      inner.stream.pipe(
        Stream.mapError((e) => new TextSourceError({ source: name, message: e.message })),
        Stream.filter((s) => s.text.trim().length >= 3)
      )
    )
  }
  if (options.path.endsWith(".jsonl")) {
    return fromAsyncGenerator(name, async function* () {
      let i = 0
      for await (const line of readLines(options.path)) {
        if (line.trim() === "") continue
        let row: unknown
        try {
          row = JSON.parse(line)
        } catch (e) {
          throw new TextSourceError({
            source: name,
            message: `${options.path}: row ${i}: invalid JSON (${errorMessage(e)})`
          })
        }
        const s = emit(row, i++)
        if (s !== undefined) yield s
      }
    })
  }
  return fromAsyncGenerator(name, async function* () {
    let rows: unknown
    try {
      rows = JSON.parse(await readFile(options.path, "utf8"))
    } catch (e) {
      throw new TextSourceError({ source: name, message: `${options.path}: ${errorMessage(e)}` })
    }
    if (!Array.isArray(rows)) {
      throw new TextSourceError({
        source: name,
        message: `${options.path}: expected a JSON array of {instruction, input, output} rows`
      })
    }
    for (let i = 0; i < rows.length; i++) {
      const s = emit(rows[i], i)
      if (s !== undefined) yield s
    }
  })
}
