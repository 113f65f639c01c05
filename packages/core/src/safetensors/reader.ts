/**
 * Lazy safetensors reader: `openSafetensors(path)` reads and validates only the header; each
 * `read*(name)` then reads exactly that tensor's byte range through an open file handle, so
 * getting one tensor of a multi-GB file costs one tensor of memory. The handle is closed when the
 * enclosing `Scope` closes.
 */

import { type FileHandle, open } from "node:fs/promises"
import { Effect, type Scope } from "effect"
import {
  type DecodedArray,
  decodeBytes,
  decodeFloat32,
  isFloatDtype,
  isReadableDtype,
  type SafetensorsDtype
} from "./dtypes.js"
import {
  SafetensorsDtypeError,
  type SafetensorsError,
  SafetensorsIOError,
  SafetensorsMissingTensorError,
  SafetensorsTruncatedError
} from "./errors.js"
import { parseHeaderJson, parseHeaderLength, type SafetensorsHeader, type TensorInfo } from "./header.js"

export interface SafetensorsTensor<A extends DecodedArray = DecodedArray> {
  readonly name: string
  /** Storage dtype in the file. */
  readonly dtype: SafetensorsDtype
  readonly shape: ReadonlyArray<number>
  readonly data: A
}

export interface SafetensorsFile {
  readonly path: string
  readonly header: SafetensorsHeader
  /** Tensor names in header order. */
  readonly names: ReadonlyArray<string>
  readonly metadata: Readonly<Record<string, string>> | undefined
  has(name: string): boolean
  info(name: string): Effect.Effect<TensorInfo, SafetensorsMissingTensorError>
  /** The raw little-endian bytes of one tensor. */
  readBytes(
    name: string
  ): Effect.Effect<Uint8Array, SafetensorsMissingTensorError | SafetensorsIOError | SafetensorsTruncatedError>
  /** One tensor decoded to its natural typed array (F16/BF16 → Float32Array, I64 → BigInt64Array). */
  read(name: string): Effect.Effect<SafetensorsTensor, SafetensorsError>
  /** One float tensor (F32/F16/BF16/F64) as float32; other dtypes fail with SafetensorsDtypeError. */
  readFloat32(name: string): Effect.Effect<SafetensorsTensor<Float32Array>, SafetensorsError>
  /** Tensor-data bytes read so far through `readBytes` / `read` / `readFloat32` (the header excluded). */
  bytesRead(): number
}

const ioMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** Largest single `read` call (Node refuses reads over 2 GiB). */
const MAX_READ = 1 << 30

const readFully = (
  fh: FileHandle,
  path: string,
  target: Uint8Array,
  position: number
): Effect.Effect<void, SafetensorsIOError | SafetensorsTruncatedError> =>
  Effect.tryPromise({
    try: async () => {
      let done = 0
      while (done < target.byteLength) {
        const length = Math.min(MAX_READ, target.byteLength - done)
        const { bytesRead } = await fh.read(target, done, length, position + done)
        if (bytesRead === 0) return done
        done += bytesRead
      }
      return done
    },
    catch: (e) => new SafetensorsIOError({ path, message: `${path}: read failed: ${ioMessage(e)}` })
  }).pipe(
    Effect.flatMap((done) =>
      done === target.byteLength
        ? Effect.void
        : Effect.fail(
            new SafetensorsTruncatedError({
              path,
              expectedBytes: position + target.byteLength,
              actualBytes: position + done,
              message: `${path}: truncated safetensors file: wanted bytes up to ${position + target.byteLength}, file ended at ${position + done}`
            })
          )
    )
  )

/** Wraps a validated header and a byte-range reader into a `SafetensorsFile`. */
export const makeSafetensorsFile = (
  path: string,
  header: SafetensorsHeader,
  readRangeRaw: (
    position: number,
    length: number
  ) => Effect.Effect<Uint8Array, SafetensorsIOError | SafetensorsTruncatedError>
): SafetensorsFile => {
  let dataBytesRead = 0
  const readRange = (position: number, length: number) => {
    dataBytesRead += length
    return readRangeRaw(position, length)
  }
  const info = (name: string) => {
    const t = header.tensors.get(name)
    return t === undefined
      ? Effect.fail(
          new SafetensorsMissingTensorError({
            path,
            tensor: name,
            message: `${path}: no tensor named "${name}" in this file`
          })
        )
      : Effect.succeed(t)
  }
  const readBytes = (name: string) =>
    Effect.flatMap(info(name), (t) => readRange(header.dataOffset + t.begin, t.end - t.begin))
  const read = (name: string) =>
    Effect.gen(function* () {
      const t = yield* info(name)
      if (!isReadableDtype(t.dtype)) {
        return yield* new SafetensorsDtypeError({
          path,
          tensor: name,
          dtype: t.dtype,
          message: `${path}: tensor "${name}" has dtype ${t.dtype}, which this reader cannot decode`
        })
      }
      const bytes = yield* readRange(header.dataOffset + t.begin, t.end - t.begin)
      return { name, dtype: t.dtype, shape: t.shape, data: decodeBytes(t.dtype, bytes) } satisfies SafetensorsTensor
    })
  const readFloat32 = (name: string) =>
    Effect.gen(function* () {
      const t = yield* info(name)
      if (!isFloatDtype(t.dtype)) {
        return yield* new SafetensorsDtypeError({
          path,
          tensor: name,
          dtype: t.dtype,
          message: `${path}: tensor "${name}" has dtype ${t.dtype}, not a float dtype (F32/F16/BF16/F64)`
        })
      }
      const bytes = yield* readRange(header.dataOffset + t.begin, t.end - t.begin)
      return {
        name,
        dtype: t.dtype,
        shape: t.shape,
        data: decodeFloat32(t.dtype, bytes)
      } satisfies SafetensorsTensor<Float32Array>
    })
  return {
    path,
    header,
    names: [...header.tensors.keys()],
    metadata: header.metadata,
    has: (name) => header.tensors.has(name),
    info,
    readBytes,
    read,
    readFloat32,
    bytesRead: () => dataBytesRead
  }
}

/**
 * Opens a safetensors file and validates its header. Tensor data is read on demand; the file
 * handle stays open until the scope closes.
 */
export const openSafetensors = Effect.fn("openSafetensors")(function* (
  path: string
): Effect.fn.Return<SafetensorsFile, SafetensorsError, Scope.Scope> {
  const fh = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: () => open(path, "r"),
      catch: (e) => new SafetensorsIOError({ path, message: `${path}: cannot open: ${ioMessage(e)}` })
    }),
    (h) => Effect.promise(() => h.close().catch(() => undefined))
  )
  const size = yield* Effect.tryPromise({
    try: async () => (await fh.stat()).size,
    catch: (e) => new SafetensorsIOError({ path, message: `${path}: cannot stat: ${ioMessage(e)}` })
  })
  const readRange = (position: number, length: number) =>
    Effect.suspend(() => {
      // A fresh ArrayBuffer per tensor: aligned for every element type, and owned by the caller.
      const target = new Uint8Array(length)
      return Effect.as(readFully(fh, path, target, position), target)
    })
  const prefix = new Uint8Array(8)
  if (size >= 8) yield* readFully(fh, path, prefix, 0)
  const n = yield* parseHeaderLength(path, prefix, size)
  const headerBytes = yield* readRange(8, n)
  const header = yield* parseHeaderJson(path, headerBytes, size)
  return makeSafetensorsFile(path, header, readRange)
})

/** Parses an in-memory safetensors buffer (tests, small files); reads are views copied per tensor. */
export const parseSafetensors = Effect.fn("parseSafetensors")(function* (
  bytes: Uint8Array,
  path = "<memory>"
): Effect.fn.Return<SafetensorsFile, SafetensorsError> {
  const n = yield* parseHeaderLength(path, bytes.subarray(0, 8), bytes.byteLength)
  const header = yield* parseHeaderJson(path, bytes.subarray(8, 8 + n), bytes.byteLength)
  return makeSafetensorsFile(path, header, (position, length) =>
    Effect.succeed(bytes.slice(position, position + length))
  )
})

/** Reads every tensor of a (small) file. For large files use `openSafetensors` and read by name. */
export const readSafetensors = (
  path: string
): Effect.Effect<
  {
    readonly tensors: ReadonlyMap<string, SafetensorsTensor>
    readonly metadata: Readonly<Record<string, string>> | undefined
  },
  SafetensorsError
> =>
  Effect.scoped(
    Effect.gen(function* () {
      const file = yield* openSafetensors(path)
      const tensors = new Map<string, SafetensorsTensor>()
      for (const name of file.names) tensors.set(name, yield* file.read(name))
      return { tensors, metadata: file.metadata }
    })
  )
