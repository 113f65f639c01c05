/**
 * safetensors writer. The header is compact JSON (`__metadata__` first, then tensors in the order
 * given, offsets contiguous from 0), padded with spaces so that 8 + N is a multiple of 8. Tensor
 * data may be given lazily (a thunk), so a large checkpoint is written one tensor at a time. Files
 * are written to a temporary name and renamed, so a failure never leaves a half-written file.
 */

import { open, rename, rm } from "node:fs/promises"
import { Effect } from "effect"
import { dtypeBytes, encodeBF16, encodeF16, isWritableDtype, type WritableDtype } from "./dtypes.js"
import { SafetensorsDtypeError, SafetensorsHeaderError, SafetensorsIOError, SafetensorsShapeError } from "./errors.js"
import { elementCount } from "./header.js"

export type TensorData = ArrayLike<number> | BigInt64Array

export interface TensorToWrite {
  readonly name: string
  readonly dtype: WritableDtype
  readonly shape: ReadonlyArray<number>
  /**
   * Values in row-major order (F16/BF16 are encoded from float values; I64 takes a BigInt64Array
   * or safe integers), or a thunk producing them (or a promise of them, e.g. `() => tensor.data()`,
   * which works on every TensorFlow.js backend) when the tensor is written.
   */
  readonly data: TensorData | (() => TensorData | PromiseLike<TensorData>)
}

export type SafetensorsWriteError =
  | SafetensorsDtypeError
  | SafetensorsHeaderError
  | SafetensorsShapeError
  | SafetensorsIOError

const byteView = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)

/** Encodes one tensor's values as little-endian bytes of `dtype`. */
export const encodeTensorData = Effect.fnUntraced(function* (
  path: string,
  t: Pick<TensorToWrite, "name" | "dtype" | "shape">,
  data: TensorData
): Effect.fn.Return<Uint8Array, SafetensorsShapeError | SafetensorsDtypeError> {
  const n = elementCount(t.shape)
  if (data.length !== n) {
    return yield* new SafetensorsShapeError({
      path,
      tensor: t.name,
      message: `${path}: tensor "${t.name}" has shape [${t.shape.join(", ")}] (${n} elements) but ${data.length} values were given`
    })
  }
  const notInteger = (i: number) =>
    new SafetensorsDtypeError({
      path,
      tensor: t.name,
      dtype: t.dtype,
      message: `${path}: tensor "${t.name}" (${t.dtype}) value at index ${i} is not an integer in range: ${String(data[i])}`
    })
  switch (t.dtype) {
    case "F32":
      return byteView(data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>))
    case "F64":
      return byteView(data instanceof Float64Array ? data : Float64Array.from(data as ArrayLike<number>))
    case "F16":
      return byteView(encodeF16(data as ArrayLike<number>))
    case "BF16":
      return byteView(encodeBF16(data as ArrayLike<number>))
    case "I32":
    case "U8":
    case "I8": {
      if (
        (t.dtype === "I32" && data instanceof Int32Array) ||
        (t.dtype === "U8" && data instanceof Uint8Array) ||
        (t.dtype === "I8" && data instanceof Int8Array)
      ) {
        return byteView(data)
      }
      const [lo, hi] = t.dtype === "I32" ? [-(2 ** 31), 2 ** 31 - 1] : t.dtype === "U8" ? [0, 255] : [-128, 127]
      const out = t.dtype === "I32" ? new Int32Array(n) : t.dtype === "U8" ? new Uint8Array(n) : new Int8Array(n)
      for (let i = 0; i < n; i++) {
        const v = Number(data[i])
        if (!Number.isInteger(v) || v < lo || v > hi) return yield* notInteger(i)
        out[i] = v
      }
      return byteView(out)
    }
    case "I64": {
      if (data instanceof BigInt64Array) return byteView(data)
      const out = new BigInt64Array(n)
      for (let i = 0; i < n; i++) {
        const v = Number(data[i])
        if (!Number.isSafeInteger(v)) return yield* notInteger(i)
        out[i] = BigInt(v)
      }
      return byteView(out)
    }
  }
})

/** Builds the padded header (including the 8-byte length prefix) and each tensor's offsets. */
export const buildHeader = Effect.fnUntraced(function* (
  path: string,
  tensors: ReadonlyArray<Pick<TensorToWrite, "name" | "dtype" | "shape">>,
  metadata?: Readonly<Record<string, string>>
): Effect.fn.Return<Uint8Array, SafetensorsHeaderError | SafetensorsDtypeError> {
  const header: Record<string, unknown> = {}
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        return yield* new SafetensorsHeaderError({
          path,
          message: `${path}: metadata value for "${k}" is not a string`
        })
      }
    }
    header.__metadata__ = metadata
  }
  let offset = 0
  for (const t of tensors) {
    if (t.name === "" || t.name === "__metadata__") {
      return yield* new SafetensorsHeaderError({
        path,
        tensor: t.name,
        message: `${path}: invalid tensor name "${t.name}"`
      })
    }
    if (Object.hasOwn(header, t.name)) {
      return yield* new SafetensorsHeaderError({
        path,
        tensor: t.name,
        message: `${path}: duplicate tensor name "${t.name}"`
      })
    }
    if (!isWritableDtype(t.dtype)) {
      return yield* new SafetensorsDtypeError({
        path,
        tensor: t.name,
        dtype: String(t.dtype),
        message: `${path}: cannot write tensor "${t.name}" as ${String(t.dtype)} (writable: F32, F16, BF16, F64, I64, I32, I8, U8)`
      })
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      return yield* new SafetensorsHeaderError({
        path,
        tensor: t.name,
        message: `${path}: tensor "${t.name}" has an invalid shape [${t.shape.join(", ")}]`
      })
    }
    const bytes = elementCount(t.shape) * dtypeBytes(t.dtype)
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] }
    offset += bytes
  }
  const json = new TextEncoder().encode(JSON.stringify(header))
  const padded = Math.ceil(json.byteLength / 8) * 8
  const out = new Uint8Array(8 + padded).fill(0x20)
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true)
  out.set(json, 8)
  return out
})

const resolveData = (path: string, t: TensorToWrite): Effect.Effect<TensorData, SafetensorsIOError> => {
  const data = t.data
  if (typeof data !== "function") return Effect.succeed(data)
  return Effect.tryPromise({
    try: async () => data(),
    catch: (e) =>
      new SafetensorsIOError({
        path,
        message: `${path}: producing the data of tensor "${t.name}" failed: ${e instanceof Error ? e.message : String(e)}`
      })
  })
}

/** A tensor whose data is already little-endian bytes of its dtype. */
export interface EncodedTensor {
  readonly name: string
  readonly dtype: WritableDtype
  readonly shape: ReadonlyArray<number>
  /** Exactly `prod(shape) * dtypeBytes(dtype)` bytes. */
  readonly bytes: Uint8Array
}

/**
 * A file as chunks to write (or hash) in order: the header (`buildHeader`), then each tensor's
 * bytes as given (not copied). For writers that encode tensors into their own buffers and stream
 * them; `path` only names the file in errors. Fails when a tensor's byte count disagrees with its
 * shape and dtype.
 */
export const safetensorsChunks = Effect.fnUntraced(function* (
  path: string,
  tensors: ReadonlyArray<EncodedTensor>,
  metadata?: Readonly<Record<string, string>>
): Effect.fn.Return<Array<Uint8Array>, SafetensorsHeaderError | SafetensorsDtypeError | SafetensorsShapeError> {
  const header = yield* buildHeader(path, tensors, metadata)
  for (const t of tensors) {
    const expected = elementCount(t.shape) * dtypeBytes(t.dtype)
    if (t.bytes.byteLength !== expected) {
      return yield* new SafetensorsShapeError({
        path,
        tensor: t.name,
        message: `${path}: tensor "${t.name}" (${t.dtype}, shape [${t.shape.join(", ")}]) needs ${expected} bytes but ${t.bytes.byteLength} were given`
      })
    }
  }
  return [header, ...tensors.map((t) => t.bytes)]
})

/** Serialises to one in-memory buffer (small files, tests). */
export const encodeSafetensors = Effect.fn("encodeSafetensors")(function* (
  tensors: ReadonlyArray<TensorToWrite>,
  metadata?: Readonly<Record<string, string>>
): Effect.fn.Return<Uint8Array, SafetensorsWriteError> {
  const path = "<memory>"
  const header = yield* buildHeader(path, tensors, metadata)
  const parts: Array<Uint8Array> = [header]
  for (const t of tensors) parts.push(yield* encodeTensorData(path, t, yield* resolveData(path, t)))
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.byteLength
  }
  return out
})

/**
 * Writes a safetensors file tensor by tensor (lazy data is produced, encoded, written and dropped
 * one tensor at a time). Writes `<path>.tmp-<pid>` and renames it over `path` on success.
 */
export const writeSafetensors = Effect.fn("writeSafetensors")(function* (
  path: string,
  tensors: ReadonlyArray<TensorToWrite>,
  metadata?: Readonly<Record<string, string>>
): Effect.fn.Return<void, SafetensorsWriteError> {
  const header = yield* buildHeader(path, tensors, metadata)
  const tmp = `${path}.tmp-${process.pid}`
  const io = (what: string) => (e: unknown) =>
    new SafetensorsIOError({ path, message: `${path}: ${what}: ${e instanceof Error ? e.message : String(e)}` })
  const write = Effect.acquireUseRelease(
    Effect.tryPromise({ try: () => open(tmp, "w"), catch: io("cannot create") }),
    (fh) =>
      Effect.gen(function* () {
        const writeAll = (bytes: Uint8Array) =>
          Effect.tryPromise({
            try: async () => {
              let done = 0
              while (done < bytes.byteLength) {
                const { bytesWritten } = await fh.write(bytes, done, Math.min(1 << 30, bytes.byteLength - done))
                done += bytesWritten
              }
            },
            catch: io("write failed")
          })
        yield* writeAll(header)
        for (const t of tensors) yield* writeAll(yield* encodeTensorData(path, t, yield* resolveData(path, t)))
      }),
    (fh) => Effect.promise(() => fh.close().catch(() => undefined))
  )
  yield* write.pipe(
    Effect.flatMap(() =>
      Effect.tryPromise({ try: () => rename(tmp, path), catch: io("cannot rename temporary file") })
    ),
    Effect.onError(() => Effect.promise(() => rm(tmp, { force: true }).catch(() => undefined)))
  )
})
