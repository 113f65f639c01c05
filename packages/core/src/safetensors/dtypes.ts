/**
 * Element types of the safetensors format and their conversions. Data is little-endian.
 * F16 and BF16 decode to float32 exactly (every half / bfloat16 value is a float32 value);
 * encoding rounds to nearest, ties to even (as PyTorch's `.to(torch.bfloat16)` / `.half()`).
 */

/** Every dtype of the format's specification. */
export const SafetensorsDtypes = [
  "BOOL",
  "U8",
  "I8",
  "F8_E5M2",
  "F8_E4M3",
  "I16",
  "U16",
  "F16",
  "BF16",
  "I32",
  "U32",
  "F32",
  "F64",
  "I64",
  "U64"
] as const
export type SafetensorsDtype = (typeof SafetensorsDtypes)[number]

/** The dtypes this module reads: all but the 8-bit floats. */
export type ReadableDtype = Exclude<SafetensorsDtype, "F8_E5M2" | "F8_E4M3">
export const ReadableDtypes: ReadonlyArray<ReadableDtype> = SafetensorsDtypes.filter(
  (d): d is ReadableDtype => d !== "F8_E5M2" && d !== "F8_E4M3"
)

/** The dtypes this module writes. */
export const WritableDtypes = ["U8", "I8", "F16", "BF16", "I32", "F32", "F64", "I64"] as const
export type WritableDtype = (typeof WritableDtypes)[number]

/** Float dtypes that decode to a Float32Array. */
export const FloatDtypes = ["F16", "BF16", "F32", "F64"] as const
export type FloatDtype = (typeof FloatDtypes)[number]

const BYTES: Record<SafetensorsDtype, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8
}

export const isSafetensorsDtype = (s: string): s is SafetensorsDtype => Object.hasOwn(BYTES, s)
export const isReadableDtype = (s: string): s is ReadableDtype => (ReadableDtypes as ReadonlyArray<string>).includes(s)
export const isWritableDtype = (s: string): s is WritableDtype => (WritableDtypes as ReadonlyArray<string>).includes(s)
export const isFloatDtype = (s: string): s is FloatDtype => (FloatDtypes as ReadonlyArray<string>).includes(s)

/** Bytes per element. */
export const dtypeBytes = (dtype: SafetensorsDtype): number => BYTES[dtype]

/** The usual name of a dtype elsewhere (`torch_dtype`, ModelInfo.weightDtype). */
export const dtypeLongName = (dtype: string): string =>
  ({
    F32: "float32",
    F16: "float16",
    BF16: "bfloat16",
    F64: "float64",
    I64: "int64",
    I32: "int32",
    U8: "uint8",
    I8: "int8"
  })[dtype] ?? dtype.toLowerCase()

// ---------------------------------------------------------------------------------------------
// Half precision

let halfTable: Float32Array | undefined
/** float32 value of every IEEE half bit pattern (256 KiB, built once). */
const halfToFloatTable = (): Float32Array => {
  if (halfTable !== undefined) return halfTable
  const t = new Float32Array(65536)
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1
    const exp = (h >> 10) & 0x1f
    const frac = h & 0x3ff
    if (exp === 0) t[h] = sign * frac * 2 ** -24
    else if (exp === 31) t[h] = frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15)
  }
  halfTable = t
  return t
}

export const decodeF16 = (src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array => {
  const t = halfToFloatTable()
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!
  return out
}

/** BF16 → float32: the 16 bits are the high half of the float32 bit pattern. */
export const decodeBF16 = (src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array => {
  const u32 = new Uint32Array(out.buffer, out.byteOffset, out.length)
  for (let i = 0; i < src.length; i++) u32[i] = src[i]! << 16
  return out
}

const f32Scratch = new Float32Array(1)
const u32Scratch = new Uint32Array(f32Scratch.buffer)

/** float32 → half bits, round to nearest even; overflow gives ±inf, NaN stays NaN. */
export const floatToHalfBits = (value: number): number => {
  f32Scratch[0] = value
  const x = u32Scratch[0]!
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0)
  const e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    let half = mant >>> shift
    const rem = mant & ((1 << shift) - 1)
    const mid = 1 << (shift - 1)
    if (rem > mid || (rem === mid && (half & 1) === 1)) half++
    return sign | half
  }
  let half = (e << 10) | (mant >>> 13)
  const rem = mant & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++
  return sign | half
}

/** float32 → bfloat16 bits, round to nearest even; NaN stays NaN. */
export const floatToBF16Bits = (value: number): number => {
  f32Scratch[0] = value
  const x = u32Scratch[0]!
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) & 0x8000) | 0x7fc0
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff
}

/** float values → half bits (into `out`, e.g. a view of an output buffer, when given). */
export const encodeF16 = (src: ArrayLike<number>, out: Uint16Array = new Uint16Array(src.length)): Uint16Array => {
  for (let i = 0; i < src.length; i++) out[i] = floatToHalfBits(src[i]!)
  return out
}

/** float values → bfloat16 bits (into `out`, e.g. a view of an output buffer, when given). */
export const encodeBF16 = (src: ArrayLike<number>, out: Uint16Array = new Uint16Array(src.length)): Uint16Array => {
  if (src instanceof Float32Array) {
    const u32 = new Uint32Array(src.buffer, src.byteOffset, src.length)
    for (let i = 0; i < src.length; i++) {
      const x = u32[i]!
      out[i] =
        (x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0
          ? ((x >>> 16) & 0x8000) | 0x7fc0
          : ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff
    }
    return out
  }
  for (let i = 0; i < src.length; i++) out[i] = floatToBF16Bits(src[i]!)
  return out
}

/** The JS typed array a dtype decodes to. F16/BF16 decode to Float32Array, BOOL to Uint8Array. */
export type DecodedArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | BigInt64Array
  | BigUint64Array

/**
 * Decodes little-endian bytes of `dtype` (a copy is made only when the bytes are not aligned for
 * the element size). Assumes a little-endian host (every platform Node supports).
 */
export const decodeBytes = (dtype: ReadableDtype, bytes: Uint8Array): DecodedArray => {
  const size = BYTES[dtype]
  const n = bytes.byteLength / size
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice()
  const buf = aligned.buffer
  const off = aligned.byteOffset
  switch (dtype) {
    case "BOOL":
    case "U8":
      return new Uint8Array(buf, off, n)
    case "I8":
      return new Int8Array(buf, off, n)
    case "I16":
      return new Int16Array(buf, off, n)
    case "U16":
      return new Uint16Array(buf, off, n)
    case "F16":
      return decodeF16(new Uint16Array(buf, off, n))
    case "BF16":
      return decodeBF16(new Uint16Array(buf, off, n))
    case "I32":
      return new Int32Array(buf, off, n)
    case "U32":
      return new Uint32Array(buf, off, n)
    case "F32":
      return new Float32Array(buf, off, n)
    case "F64":
      return new Float64Array(buf, off, n)
    case "I64":
      return new BigInt64Array(buf, off, n)
    case "U64":
      return new BigUint64Array(buf, off, n)
  }
}

/**
 * Decodes little-endian bytes of a float dtype into the first `bytes.byteLength / dtypeBytes(dtype)`
 * elements of a preallocated `out` (F64 is rounded), and returns `out`. The bytes are copied first
 * only when they are not aligned for the element size. Throws a RangeError when the byte count is
 * not a whole number of elements or `out` is too short.
 */
export const decodeFloat32Into = (dtype: FloatDtype, bytes: Uint8Array, out: Float32Array): Float32Array => {
  const n = bytes.byteLength / BYTES[dtype]
  if (!Number.isInteger(n) || n > out.length) {
    throw new RangeError(`decodeFloat32Into: ${bytes.byteLength} bytes of ${dtype} do not fit ${out.length} float32s`)
  }
  if (dtype === "F16") decodeF16(decodeBytes("U16", bytes) as Uint16Array, out)
  else if (dtype === "BF16") decodeBF16(decodeBytes("U16", bytes) as Uint16Array, out)
  else out.set(decodeBytes(dtype, bytes) as Float32Array | Float64Array)
  return out
}

/** Decodes any float dtype to float32 (F64 is rounded). */
export const decodeFloat32 = (dtype: FloatDtype, bytes: Uint8Array): Float32Array => {
  const d = decodeBytes(dtype, bytes)
  return d instanceof Float32Array ? d : Float32Array.from(d as Float64Array)
}
