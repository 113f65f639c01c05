/**
 * Adapter over @crosscode/core's safetensors reader/writer: the checkpoint code reads and writes
 * through these two functions and gets `CheckpointError`s naming the file.
 */
import { readSafetensors as coreRead, writeSafetensors as coreWrite } from "@crosscode/core"
import { Effect } from "effect"
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
  /** F16/BF16 are decoded to Float32Array, I64/U64 to Float64Array. */
  readonly data:
    | Float32Array
    | Float64Array
    | Int32Array
    | Uint8Array
    | Int8Array
    | Int16Array
    | Uint16Array
    | Uint32Array
}

const toCheckpointError = (path: string) => (e: { readonly message: string }) =>
  new CheckpointError({ path, message: e.message })

/** Writes a safetensors file atomically (temporary file + rename). */
export const writeSafetensors = (
  path: string,
  tensors: ReadonlyArray<StTensorToWrite>,
  metadata?: Readonly<Record<string, string>>
): Effect.Effect<void, CheckpointError> =>
  coreWrite(path, tensors, metadata).pipe(Effect.mapError(toCheckpointError(path)))

/** Reads every tensor of a file. */
export const readSafetensors = (
  path: string
): Effect.Effect<
  { readonly tensors: ReadonlyMap<string, StTensor>; readonly metadata: Readonly<Record<string, string>> | undefined },
  CheckpointError
> =>
  coreRead(path).pipe(
    Effect.mapError(toCheckpointError(path)),
    Effect.map(({ tensors, metadata }) => {
      const out = new Map<string, StTensor>()
      for (const [name, t] of tensors) {
        const data =
          t.data instanceof BigInt64Array || t.data instanceof BigUint64Array
            ? Float64Array.from(t.data, Number)
            : t.data
        out.set(name, { name, dtype: t.dtype, shape: t.shape, data })
      }
      return { tensors: out, metadata }
    })
  )
