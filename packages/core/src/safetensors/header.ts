/**
 * The safetensors header: an unsigned 64-bit little-endian length N, then N bytes of UTF-8 JSON
 * (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}`,
 * possibly padded with spaces), then the raw data. Offsets are relative to the start of the data.
 *
 * `parseHeader` checks everything the format promises: the length fits the file, the JSON is an
 * object, every entry has a known dtype, a shape of non-negative integers and offsets whose span
 * equals `prod(shape) * bytes(dtype)`, and the entries tile the data region exactly (sorted by
 * offset: start at 0, no gap, no overlap, end at the end of the file).
 */
import { Effect } from "effect"
import { dtypeBytes, isSafetensorsDtype, type SafetensorsDtype } from "./dtypes.js"
import {
  SafetensorsDtypeError,
  SafetensorsHeaderError,
  SafetensorsShapeError,
  SafetensorsTruncatedError
} from "./errors.js"

export interface TensorInfo {
  readonly name: string
  readonly dtype: SafetensorsDtype
  readonly shape: ReadonlyArray<number>
  /** Byte offsets relative to the start of the data region. */
  readonly begin: number
  readonly end: number
}

export interface SafetensorsHeader {
  /** Entries in header order. */
  readonly tensors: ReadonlyMap<string, TensorInfo>
  /** `__metadata__` (string → string), if present. */
  readonly metadata: Readonly<Record<string, string>> | undefined
  /** N, the JSON header length in bytes (including padding). */
  readonly headerLength: number
  /** Absolute file offset of the data region: 8 + N. */
  readonly dataOffset: number
  /** Bytes in the data region. */
  readonly dataLength: number
}

/** Headers larger than this are refused (as the reference implementation does). */
export const MAX_HEADER_BYTES = 100_000_000

export const elementCount = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const isNonNegInt = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= 0

/**
 * Reads N from the first 8 bytes. Fails when the file is too short for the prefix or the header.
 */
export const parseHeaderLength = Effect.fnUntraced(function* (
  path: string,
  prefix: Uint8Array,
  fileSize: number
): Effect.fn.Return<number, SafetensorsTruncatedError | SafetensorsHeaderError> {
  if (fileSize < 8 || prefix.byteLength < 8) {
    return yield* new SafetensorsTruncatedError({
      path,
      expectedBytes: 8,
      actualBytes: Math.min(fileSize, prefix.byteLength),
      message: `${path}: truncated safetensors file: ${fileSize} bytes, shorter than the 8-byte header length prefix`
    })
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true)
  if (n > BigInt(MAX_HEADER_BYTES)) {
    return yield* new SafetensorsHeaderError({
      path,
      message: `${path}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`
    })
  }
  const len = Number(n)
  if (len < 2) {
    return yield* new SafetensorsHeaderError({
      path,
      message: `${path}: header length ${len} is too small for a JSON object`
    })
  }
  if (8 + len > fileSize) {
    return yield* new SafetensorsTruncatedError({
      path,
      expectedBytes: 8 + len,
      actualBytes: fileSize,
      message: `${path}: truncated safetensors file: the header needs ${8 + len} bytes but the file has ${fileSize}`
    })
  }
  return len
})

/** Parses and validates the JSON header; `fileSize` is the whole file's size in bytes. */
export const parseHeaderJson = Effect.fnUntraced(function* (
  path: string,
  headerBytes: Uint8Array,
  fileSize: number
): Effect.fn.Return<
  SafetensorsHeader,
  SafetensorsHeaderError | SafetensorsDtypeError | SafetensorsShapeError | SafetensorsTruncatedError
> {
  const headerLength = headerBytes.byteLength
  const bad = (message: string, tensor?: string) =>
    new SafetensorsHeaderError(
      tensor === undefined ? { path, message: `${path}: ${message}` } : { path, tensor, message: `${path}: ${message}` }
    )
  let text: string
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes)
  } catch {
    return yield* bad("header is not valid UTF-8")
  }
  if (!text.startsWith("{")) return yield* bad("header does not start with '{'")
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return yield* bad(`header is not valid JSON (${e instanceof Error ? e.message : String(e)})`)
  }
  if (!isRecord(json)) return yield* bad("header is not a JSON object")

  const dataOffset = 8 + headerLength
  const dataLength = fileSize - dataOffset
  let metadata: Record<string, string> | undefined
  const tensors = new Map<string, TensorInfo>()
  for (const [name, entry] of Object.entries(json)) {
    if (name === "__metadata__") {
      if (!isRecord(entry)) return yield* bad("__metadata__ is not an object")
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== "string") return yield* bad(`__metadata__["${k}"] is not a string`)
      }
      metadata = entry as Record<string, string>
      continue
    }
    if (!isRecord(entry)) return yield* bad(`entry "${name}" is not an object`, name)
    const { dtype, shape, data_offsets: offsets } = entry
    if (typeof dtype !== "string") return yield* bad(`entry "${name}" has no string "dtype"`, name)
    if (!isSafetensorsDtype(dtype)) {
      return yield* new SafetensorsDtypeError({
        path,
        tensor: name,
        dtype,
        message: `${path}: tensor "${name}" has unknown dtype "${dtype}"`
      })
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      return yield* bad(
        `tensor "${name}" has an invalid "shape" ${JSON.stringify(shape)} (want an array of non-negative integers)`,
        name
      )
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
      return yield* bad(
        `tensor "${name}" has invalid "data_offsets" ${JSON.stringify(offsets)} (want [begin, end])`,
        name
      )
    }
    const [begin, end] = offsets as [number, number]
    if (end < begin) return yield* bad(`tensor "${name}" has data_offsets [${begin}, ${end}] with end < begin`, name)
    const expected = elementCount(shape) * dtypeBytes(dtype)
    if (end - begin !== expected) {
      return yield* new SafetensorsShapeError({
        path,
        tensor: name,
        message: `${path}: tensor "${name}" (${dtype}, shape [${shape.join(", ")}]) needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`
      })
    }
    tensors.set(name, { name, dtype, shape: shape as Array<number>, begin, end })
  }

  // The entries must tile [0, dataLength) exactly.
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end)
  let cursor = 0
  for (const t of sorted) {
    if (t.begin !== cursor) {
      return yield* bad(
        t.begin > cursor
          ? `tensor "${t.name}" starts at ${t.begin} but the previous data ends at ${cursor} (gap in the data region)`
          : `tensor "${t.name}" starts at ${t.begin}, overlapping data that ends at ${cursor}`,
        t.name
      )
    }
    cursor = t.end
  }
  if (cursor > dataLength) {
    return yield* new SafetensorsTruncatedError({
      path,
      expectedBytes: dataOffset + cursor,
      actualBytes: fileSize,
      message: `${path}: truncated safetensors file: the header describes ${cursor} data bytes but only ${dataLength} follow the header`
    })
  }
  if (cursor < dataLength) {
    return yield* bad(`${dataLength - cursor} bytes at the end of the data region belong to no tensor`)
  }
  return { tensors, metadata, headerLength, dataOffset, dataLength }
})
