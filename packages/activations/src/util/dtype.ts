/**
 * Storage dtypes of activation shards. The codecs are core's safetensors ones (round to nearest,
 * ties to even, as PyTorch / NumPy casts); this module adds what the store writer needs on top:
 * encoding into its shard buffer while reporting the first value that does not survive.
 */
import { decodeFloat32Into, dtypeBytes, encodeBF16, encodeF16 } from "@crosscode/core"

export type StoreDtype = "f32" | "f16" | "bf16"

export const StoreDtypes: ReadonlyArray<StoreDtype> = ["f32", "f16", "bf16"]

/** safetensors dtype names. */
export const safetensorsDtype = (dtype: StoreDtype): "F32" | "F16" | "BF16" =>
  dtype === "f32" ? "F32" : dtype === "f16" ? "F16" : "BF16"

export const bytesPerElement = (dtype: StoreDtype): number => dtypeBytes(safetensorsDtype(dtype))

/**
 * Encode float32 values into `out` (little-endian bytes, aligned for the element size). Returns the
 * index of the first value that is not finite after encoding (NaN, ±Infinity or a float16
 * overflow), or -1. `rounded`, when given, receives the values as they will read back.
 */
export const encodeInto = (
  src: Float32Array,
  dtype: StoreDtype,
  out: Uint8Array,
  rounded: Float32Array = new Float32Array(src.length)
): number => {
  const n = src.length
  if (dtype === "f32") {
    new Float32Array(out.buffer, out.byteOffset, n).set(src)
    rounded.set(src)
  } else {
    const bits = new Uint16Array(out.buffer, out.byteOffset, n)
    if (dtype === "f16") encodeF16(src, bits)
    else encodeBF16(src, bits)
    decodeFloat32Into(safetensorsDtype(dtype), out.subarray(0, n * 2), rounded)
  }
  for (let i = 0; i < n; i++) if (!Number.isFinite(rounded[i] as number)) return i
  return -1
}
