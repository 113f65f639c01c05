/**
 * Sparse crosscoder codes (compressed rows): a TopK code row holds k non-zeros out of F features, so
 * storing only those keeps per-token encodings of long prompts small.
 */

export interface SparseCodes {
  readonly rows: number
  readonly features: number
  /** `[rows + 1]`: row r's entries are `[rowPtr[r], rowPtr[r + 1])`. */
  readonly rowPtr: Int32Array
  /** Feature ids, ascending within a row. */
  readonly index: Int32Array
  readonly value: Float32Array
}

/** Sparse form of a row-major `[rows, features]` matrix (exact zeros dropped). */
export const sparseFromDense = (dense: Float32Array, rows: number, features: number): SparseCodes => {
  if (dense.length !== rows * features)
    throw new RangeError(`dense codes have ${dense.length} values, expected ${rows}·${features}`)
  let nnz = 0
  for (let i = 0; i < dense.length; i++) if (dense[i] !== 0) nnz++
  const rowPtr = new Int32Array(rows + 1)
  const index = new Int32Array(nnz)
  const value = new Float32Array(nnz)
  let k = 0
  for (let r = 0; r < rows; r++) {
    rowPtr[r] = k
    const base = r * features
    for (let j = 0; j < features; j++) {
      const v = dense[base + j]!
      if (v !== 0) {
        index[k] = j
        value[k] = v
        k++
      }
    }
  }
  rowPtr[rows] = k
  return { rows, features, rowPtr, index, value }
}

/** Concatenates sparse blocks row-wise. */
export const concatCodes = (blocks: ReadonlyArray<SparseCodes>, features: number): SparseCodes => {
  const rows = blocks.reduce((a, b) => a + b.rows, 0)
  const nnz = blocks.reduce((a, b) => a + b.index.length, 0)
  const rowPtr = new Int32Array(rows + 1)
  const index = new Int32Array(nnz)
  const value = new Float32Array(nnz)
  let r = 0
  let k = 0
  for (const b of blocks) {
    for (let i = 0; i < b.rows; i++) rowPtr[r + i] = k + b.rowPtr[i]!
    index.set(b.index, k)
    value.set(b.value, k)
    r += b.rows
    k += b.index.length
  }
  rowPtr[rows] = k
  return { rows, features, rowPtr, index, value }
}

/** The code of `feature` in `row` (0 when absent). */
export const codeAt = (codes: SparseCodes, row: number, feature: number): number => {
  let lo = codes.rowPtr[row]!
  let hi = codes.rowPtr[row + 1]! - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const j = codes.index[mid]!
    if (j === feature) return codes.value[mid]!
    if (j < feature) lo = mid + 1
    else hi = mid - 1
  }
  return 0
}

/** Rows `[start, end)` as a dense row-major `[end − start, features]` matrix. */
export const denseRows = (codes: SparseCodes, start = 0, end = codes.rows): Float32Array => {
  const F = codes.features
  const out = new Float32Array((end - start) * F)
  for (let r = start; r < end; r++) {
    for (let k = codes.rowPtr[r]!; k < codes.rowPtr[r + 1]!; k++)
      out[(r - start) * F + codes.index[k]!] = codes.value[k]!
  }
  return out
}

/** Bytes held by a sparse code block. */
export const codesBytes = (codes: SparseCodes): number =>
  codes.rowPtr.byteLength + codes.index.byteLength + codes.value.byteLength
