/**
 * Storage dtypes of activation shards and their (de)coding to float32.
 * Encoding rounds to nearest, ties to even (as PyTorch / NumPy casts do).
 */
import { endianness } from "node:os"

export type StoreDtype = "f32" | "f16" | "bf16"

export const StoreDtypes: ReadonlyArray<StoreDtype> = ["f32", "f16", "bf16"]

export const bytesPerElement = (dtype: StoreDtype): number => (dtype === "f32" ? 4 : 2)

/** safetensors dtype names. */
export const safetensorsDtype = (dtype: StoreDtype): "F32" | "F16" | "BF16" =>
  dtype === "f32" ? "F32" : dtype === "f16" ? "F16" : "BF16"

export const littleEndian = endianness() === "LE"

const scratchF = new Float32Array(1)
const scratchU = new Uint32Array(scratchF.buffer)

/** float32 → IEEE half bits, round to nearest even. Overflow gives ±Infinity. */
export const f32ToF16Bits = (v: number): number => {
  scratchF[0] = v
  const x = scratchU[0] as number
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0)
  const e = exp - 112
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    const half = 1 << (shift - 1)
    let m = mant >>> shift
    const rem = mant & ((1 << shift) - 1)
    if (rem > half || (rem === half && (m & 1) === 1)) m++
    return sign | m
  }
  const m = mant >>> 13
  const rem = mant & 0x1fff
  let out = sign | (e << 10) | m
  if (rem > 0x1000 || (rem === 0x1000 && (m & 1) === 1)) out++
  return out
}

let f16Table: Float32Array | undefined
/** 65536-entry half → float32 table. */
export const f16DecodeTable = (): Float32Array => {
  if (f16Table !== undefined) return f16Table
  const t = new Float32Array(65536)
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1
    const exp = (h >>> 10) & 0x1f
    const mant = h & 0x3ff
    t[h] =
      exp === 0
        ? sign * mant * 2 ** -24
        : exp === 0x1f
          ? mant === 0
            ? sign * Infinity
            : Number.NaN
          : sign * (1 + mant / 1024) * 2 ** (exp - 15)
  }
  f16Table = t
  return t
}

/** float32 → bfloat16 bits, round to nearest even; NaN stays NaN. */
export const f32ToBf16Bits = (v: number): number => {
  scratchF[0] = v
  const x = scratchU[0] as number
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff
}

/**
 * Encode float32 values into `out` (little-endian bytes). Returns the index of the first value
 * that is not finite after encoding (NaN, ±Infinity or a float16 overflow), or -1.
 * `rounded`, when given, receives the values as they will read back.
 */
export const encodeInto = (src: Float32Array, dtype: StoreDtype, out: Uint8Array, rounded?: Float32Array): number => {
  const n = src.length
  let bad = -1
  if (dtype === "f32") {
    const dst = new Float32Array(out.buffer, out.byteOffset, n)
    if (littleEndian) dst.set(src)
    else {
      const dv = new DataView(out.buffer, out.byteOffset, n * 4)
      for (let i = 0; i < n; i++) dv.setFloat32(i * 4, src[i] as number, true)
    }
    for (let i = 0; i < n; i++) {
      const v = src[i] as number
      if (!Number.isFinite(v)) {
        bad = i
        break
      }
    }
    if (rounded !== undefined) rounded.set(src)
    return bad
  }
  const dv = new DataView(out.buffer, out.byteOffset, n * 2)
  if (dtype === "f16") {
    const table = f16DecodeTable()
    for (let i = 0; i < n; i++) {
      const bits = f32ToF16Bits(src[i] as number)
      dv.setUint16(i * 2, bits, true)
      const back = table[bits] as number
      if (bad < 0 && !Number.isFinite(back)) bad = i
      if (rounded !== undefined) rounded[i] = back
    }
    return bad
  }
  const u = new Uint32Array(1)
  const f = new Float32Array(u.buffer)
  for (let i = 0; i < n; i++) {
    const bits = f32ToBf16Bits(src[i] as number)
    dv.setUint16(i * 2, bits, true)
    u[0] = bits << 16
    const back = f[0] as number
    if (bad < 0 && !Number.isFinite(back)) bad = i
    if (rounded !== undefined) rounded[i] = back
  }
  return bad
}

/** Decode `count` elements of little-endian `dtype` bytes at `bytes` into `out` (float32). */
export const decodeInto = (bytes: Uint8Array, dtype: StoreDtype, out: Float32Array, count = out.length): void => {
  if (dtype === "f32") {
    if (littleEndian && bytes.byteOffset % 4 === 0) {
      out.set(new Float32Array(bytes.buffer, bytes.byteOffset, count))
    } else {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, count * 4)
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true)
    }
    return
  }
  let u16: Uint16Array
  if (littleEndian && bytes.byteOffset % 2 === 0) u16 = new Uint16Array(bytes.buffer, bytes.byteOffset, count)
  else {
    u16 = new Uint16Array(count)
    const dv = new DataView(bytes.buffer, bytes.byteOffset, count * 2)
    for (let i = 0; i < count; i++) u16[i] = dv.getUint16(i * 2, true)
  }
  if (dtype === "f16") {
    const table = f16DecodeTable()
    for (let i = 0; i < count; i++) out[i] = table[u16[i] as number] as number
    return
  }
  const outU = new Uint32Array(out.buffer, out.byteOffset, count)
  for (let i = 0; i < count; i++) outU[i] = (u16[i] as number) << 16
}
