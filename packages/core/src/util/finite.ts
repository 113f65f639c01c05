/**
 * Finding NaN and ±Inf in float data: weights are checked on load and logits before a token is
 * chosen, so a broken checkpoint or an overflowing hook is an error that says where, never a
 * silent wrong token.
 */

/** Index of the first NaN or ±Inf in `data[offset .. offset+length)` (relative to `offset`), or -1. */
export const firstNonFinite = (data: ArrayLike<number>, offset = 0, length = data.length - offset): number => {
  for (let i = 0; i < length; i++) {
    const v = data[offset + i]!
    // v - v is 0 for finite v and NaN for NaN and ±Inf: one subtraction and compare per value.
    if (v - v !== 0) return i
  }
  return -1
}

/**
 * Index of the first NaN or ±Inf among bfloat16 values packed two per int32 (element 2i in the
 * low half), or -1: an exponent of all ones, tested one int32 (two values) at a time.
 */
export const firstNonFiniteBF16 = (packed: Int32Array): number => {
  for (let i = 0; i < packed.length; i++) {
    const e = packed[i]! & 0x7f807f80
    if ((e & 0xffff) === 0x7f80) return 2 * i
    if (e >>> 16 === 0x7f80) return 2 * i + 1
  }
  return -1
}

/** `NaN`, `Infinity` or `-Infinity` as text, with the count of non-finite values in the range. */
export const describeNonFinite = (data: ArrayLike<number>, offset = 0, length = data.length - offset): string => {
  let nan = 0
  let posInf = 0
  let negInf = 0
  for (let i = 0; i < length; i++) {
    const v = data[offset + i]!
    if (Number.isNaN(v)) nan++
    else if (v === Number.POSITIVE_INFINITY) posInf++
    else if (v === Number.NEGATIVE_INFINITY) negInf++
  }
  const parts = [
    nan > 0 ? `${nan} NaN` : "",
    posInf > 0 ? `${posInf} +Inf` : "",
    negInf > 0 ? `${negInf} -Inf` : ""
  ].filter((s) => s !== "")
  return `${parts.join(", ")} of ${length} values`
}
