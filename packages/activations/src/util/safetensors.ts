/**
 * A minimal safetensors codec for activation shards and statistics files.
 *
 * Format (https://github.com/huggingface/safetensors): u64 little-endian header length N, then N
 * bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`
 * (space-padded to a multiple of 8), then the raw little-endian tensor bytes; offsets are relative
 * to the end of the header. Files written here load with `safetensors.numpy.load_file` /
 * `safetensors.torch.load_file`. This package keeps its own codec (instead of a whole-file loader)
 * because the reader needs random access to single rows at known byte offsets.
 */

export type SafetensorsDtype = "F64" | "F32" | "F16" | "BF16" | "I32" | "I64" | "U8"

const dtypeBytes: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1 }

export interface TensorToWrite {
  readonly name: string
  readonly dtype: SafetensorsDtype
  readonly shape: ReadonlyArray<number>
  /** Little-endian bytes, exactly `prod(shape) * sizeof(dtype)` long. */
  readonly bytes: Uint8Array
}

export interface TensorEntry {
  readonly dtype: SafetensorsDtype
  readonly shape: ReadonlyArray<number>
  /** Absolute byte offsets in the file. */
  readonly begin: number
  readonly end: number
}

export interface SafetensorsHeader {
  /** Absolute offset of the data section. */
  readonly dataStart: number
  readonly tensors: ReadonlyMap<string, TensorEntry>
  readonly metadata: Readonly<Record<string, string>>
}

export class SafetensorsFormatError extends Error {}

const numel = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/** The file as a list of byte chunks (header first), ready to be written in order. */
export const encodeSafetensors = (
  tensors: ReadonlyArray<TensorToWrite>,
  metadata: Readonly<Record<string, string>> = {}
): Array<Uint8Array> => {
  const header: Record<string, unknown> = {}
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata
  let offset = 0
  for (const t of tensors) {
    const expected = numel(t.shape) * dtypeBytes[t.dtype]
    if (t.bytes.byteLength !== expected) {
      throw new SafetensorsFormatError(`tensor ${t.name}: ${t.bytes.byteLength} bytes, expected ${expected}`)
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + expected] }
    offset += expected
  }
  let json = JSON.stringify(header)
  const raw = new TextEncoder().encode(json)
  const padded = Math.ceil(raw.byteLength / 8) * 8
  json = json + " ".repeat(padded - raw.byteLength)
  const headerBytes = new TextEncoder().encode(json)
  const prefix = new Uint8Array(8)
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true)
  return [prefix, headerBytes, ...tensors.map((t) => t.bytes)]
}

/** Header length from the first 8 bytes (throws if implausible for a file of `fileSize` bytes). */
export const headerLength = (first8: Uint8Array, fileSize: number): number => {
  if (first8.byteLength < 8 || fileSize < 8) throw new SafetensorsFormatError(`file too short (${fileSize} bytes)`)
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true)
  if (n > BigInt(Math.min(fileSize - 8, 100_000_000))) {
    throw new SafetensorsFormatError(`header length ${n} does not fit in a ${fileSize}-byte file`)
  }
  return Number(n)
}

/** Parse and validate a header. `headerBytes` is the JSON part, `fileSize` the whole file's size. */
export const parseHeader = (headerBytes: Uint8Array, fileSize: number): SafetensorsHeader => {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes))
  } catch (e) {
    throw new SafetensorsFormatError(`header is not valid JSON: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new SafetensorsFormatError("header is not a JSON object")
  }
  const dataStart = 8 + headerBytes.byteLength
  const tensors = new Map<string, TensorEntry>()
  let metadata: Record<string, string> = {}
  const spans: Array<[number, number, string]> = []
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = (v ?? {}) as Record<string, string>
      continue
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown }
    const dtype = e.dtype as SafetensorsDtype
    if (typeof e.dtype !== "string" || !(dtype in dtypeBytes)) {
      throw new SafetensorsFormatError(`tensor ${name}: unsupported dtype ${String(e.dtype)}`)
    }
    const shape = e.shape
    const offsets = e.data_offsets
    if (
      !Array.isArray(shape) ||
      !shape.every((d) => Number.isInteger(d) && d >= 0) ||
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((d) => Number.isInteger(d) && d >= 0)
    ) {
      throw new SafetensorsFormatError(`tensor ${name}: bad shape or data_offsets`)
    }
    const [b, en] = offsets as [number, number]
    if (en - b !== numel(shape as Array<number>) * dtypeBytes[dtype]) {
      throw new SafetensorsFormatError(`tensor ${name}: data_offsets [${b}, ${en}] do not match shape and dtype`)
    }
    spans.push([b, en, name])
    tensors.set(name, { dtype, shape: shape as Array<number>, begin: dataStart + b, end: dataStart + en })
  }
  spans.sort((x, y) => x[0] - y[0])
  let pos = 0
  for (const [b, en, name] of spans) {
    if (b !== pos) throw new SafetensorsFormatError(`tensor ${name}: data is not contiguous (gap or overlap at ${b})`)
    pos = en
  }
  if (dataStart + pos !== fileSize) {
    throw new SafetensorsFormatError(`file is ${fileSize} bytes but the header describes ${dataStart + pos}`)
  }
  return { dataStart, tensors, metadata }
}

/** Parse a whole file held in memory. */
export const parseSafetensors = (file: Uint8Array): SafetensorsHeader => {
  const n = headerLength(file.subarray(0, 8), file.byteLength)
  return parseHeader(file.subarray(8, 8 + n), file.byteLength)
}

/** The bytes of one tensor of a file held in memory. */
export const tensorBytes = (file: Uint8Array, header: SafetensorsHeader, name: string): Uint8Array => {
  const t = header.tensors.get(name)
  if (t === undefined) throw new SafetensorsFormatError(`tensor ${name} is missing`)
  return file.subarray(t.begin, t.end)
}

/** Copy little-endian bytes into an aligned typed array. */
export const toInt32Array = (bytes: Uint8Array): Int32Array => {
  const out = new Int32Array(bytes.byteLength / 4)
  new Uint8Array(out.buffer).set(bytes)
  return out
}
export const toFloat64Array = (bytes: Uint8Array): Float64Array => {
  const out = new Float64Array(bytes.byteLength / 8)
  new Uint8Array(out.buffer).set(bytes)
  return out
}
export const bytesOf = (a: Int32Array | Float64Array | Float32Array): Uint8Array =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
