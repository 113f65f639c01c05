/**
 * Minimal safetensors reader/writer used by the checkpoint code (F32, F64, I32, U8 write; also
 * F16/BF16/I64 read). The signatures mirror @crosscode/core's safetensors module
 * (`writeSafetensors(path, tensors, metadata)`, `readSafetensors(path)`); switch to it once core
 * exports it.
 */
import { Effect } from "effect"
import { open, readFile, rename, rm } from "node:fs/promises"
import { CheckpointError } from "../errors.js"

export type StDtype = "F32" | "F64" | "I32" | "U8"

export interface StTensorToWrite {
  readonly name: string
  readonly dtype: StDtype
  readonly shape: ReadonlyArray<number>
  readonly data: Float32Array | Float64Array | Int32Array | Uint8Array
}

export interface StTensor {
  readonly name: string
  readonly dtype: string
  readonly shape: ReadonlyArray<number>
  readonly data: Float32Array | Float64Array | Int32Array | Uint8Array
}

const BYTES: Record<string, number> = { F32: 4, F64: 8, I32: 4, U8: 1, F16: 2, BF16: 2, I64: 8 }
const CTOR = { F32: Float32Array, F64: Float64Array, I32: Int32Array, U8: Uint8Array } as const

const err = (path: string, message: string) => new CheckpointError({ path, message })

export const writeSafetensors = (
  path: string,
  tensors: ReadonlyArray<StTensorToWrite>,
  metadata?: Readonly<Record<string, string>>
): Effect.Effect<void, CheckpointError> =>
  Effect.gen(function* () {
    const header: Record<string, unknown> = {}
    if (metadata !== undefined) header.__metadata__ = metadata
    let offset = 0
    for (const t of tensors) {
      const n = t.shape.reduce((a, b) => a * b, 1)
      if (n !== t.data.length) return yield* err(path, `tensor ${t.name}: shape [${t.shape.join(", ")}] but ${t.data.length} values`)
      if (!(t.data instanceof CTOR[t.dtype])) return yield* err(path, `tensor ${t.name}: data is not a ${t.dtype} array`)
      const bytes = n * BYTES[t.dtype]!
      header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] }
      offset += bytes
    }
    const json = new TextEncoder().encode(JSON.stringify(header))
    const padded = Math.ceil(json.byteLength / 8) * 8
    const head = new Uint8Array(8 + padded).fill(0x20)
    new DataView(head.buffer).setBigUint64(0, BigInt(padded), true)
    head.set(json, 8)
    const tmp = `${path}.tmp-${process.pid}`
    yield* Effect.tryPromise({
      try: async () => {
        const fh = await open(tmp, "w")
        try {
          const writeAll = async (b: Uint8Array) => {
            let done = 0
            while (done < b.byteLength) done += (await fh.write(b, done, Math.min(1 << 30, b.byteLength - done))).bytesWritten
          }
          await writeAll(head)
          for (const t of tensors) await writeAll(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
        } finally {
          await fh.close()
        }
        await rename(tmp, path)
      },
      catch: (e) => err(path, `write failed: ${e instanceof Error ? e.message : String(e)}`)
    }).pipe(Effect.tapError(() => Effect.promise(() => rm(tmp, { force: true }).catch(() => undefined))))
  })

const decode = (path: string, name: string, dtype: string, bytes: Uint8Array): StTensor["data"] | string => {
  const copy = bytes.slice() // aligned, owned
  const buf = copy.buffer
  switch (dtype) {
    case "F32":
      return new Float32Array(buf)
    case "F64":
      return new Float64Array(buf)
    case "I32":
      return new Int32Array(buf)
    case "U8":
    case "BOOL":
      return copy
    case "I64": {
      const b = new BigInt64Array(buf)
      const out = new Float64Array(b.length)
      for (let i = 0; i < b.length; i++) out[i] = Number(b[i]!)
      return out
    }
    case "F16":
    case "BF16": {
      const u = new Uint16Array(buf)
      const out = new Float32Array(u.length)
      const f = new Float32Array(1)
      const i32 = new Uint32Array(f.buffer)
      for (let i = 0; i < u.length; i++) {
        const h = u[i]!
        if (dtype === "BF16") {
          i32[0] = h << 16
          out[i] = f[0]!
        } else {
          const s = h & 0x8000 ? -1 : 1
          const e = (h >> 10) & 0x1f
          const m = h & 0x3ff
          out[i] = e === 0 ? s * 2 ** -14 * (m / 1024) : e === 31 ? (m ? Number.NaN : s * Number.POSITIVE_INFINITY) : s * 2 ** (e - 15) * (1 + m / 1024)
        }
      }
      return out
    }
    default:
      return `${path}: tensor ${name} has unsupported dtype ${dtype}`
  }
}

/** Parses a whole safetensors buffer. */
export const parseSafetensorsBytes = (
  path: string,
  bytes: Uint8Array
): Effect.Effect<{ readonly tensors: ReadonlyMap<string, StTensor>; readonly metadata: Readonly<Record<string, string>> | undefined }, CheckpointError> =>
  Effect.gen(function* () {
    if (bytes.byteLength < 8) return yield* err(path, "file shorter than the 8-byte header length")
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true))
    if (8 + n > bytes.byteLength) return yield* err(path, `header length ${n} exceeds the file size ${bytes.byteLength}`)
    let header: Record<string, { dtype: string; shape: Array<number>; data_offsets: [number, number] } | Record<string, string>>
    try {
      header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))
    } catch (e) {
      return yield* err(path, `header is not JSON: ${e instanceof Error ? e.message : String(e)}`)
    }
    const base = 8 + n
    const tensors = new Map<string, StTensor>()
    for (const [name, info] of Object.entries(header)) {
      if (name === "__metadata__") continue
      const t = info as { dtype: string; shape: Array<number>; data_offsets: [number, number] }
      const [a, b] = t.data_offsets
      const count = t.shape.reduce((x, y) => x * y, 1)
      const width = BYTES[t.dtype] ?? (t.dtype === "BOOL" ? 1 : undefined)
      if (width === undefined) return yield* err(path, `tensor ${name} has unsupported dtype ${t.dtype}`)
      if (b - a !== count * width || base + b > bytes.byteLength) {
        return yield* err(path, `tensor ${name}: offsets [${a}, ${b}) do not match shape [${t.shape.join(", ")}] ${t.dtype} or the file size`)
      }
      const data = decode(path, name, t.dtype, bytes.subarray(base + a, base + b))
      if (typeof data === "string") return yield* err(path, data)
      tensors.set(name, { name, dtype: t.dtype, shape: t.shape, data })
    }
    return { tensors, metadata: header.__metadata__ as Record<string, string> | undefined }
  })

export const readSafetensors = (path: string) =>
  Effect.tryPromise({
    try: () => readFile(path),
    catch: (e) => err(path, `cannot read: ${e instanceof Error ? e.message : String(e)}`)
  }).pipe(Effect.flatMap((buf) => parseSafetensorsBytes(path, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength))))
