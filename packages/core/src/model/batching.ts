/**
 * Ragged token sequences → one padded batch: ids, the key mask, rotary positions and the index of
 * each row's last real token, for left or right padding. Validation of token ids happens here, so
 * a bad id is reported with its sequence and position before any tensor is built.
 */
import { ModelInputError, type Padding } from "./LanguageModel.js"

export interface PaddedBatch {
  readonly batchSize: number
  readonly seqLen: number
  readonly padding: Padding
  /** `[B*T]` ids, padding filled with `padId`. */
  readonly ids: Int32Array
  /** `[B*T]` 1 = real token, 0 = padding. */
  readonly mask: Int32Array
  /** `[B*T]` positions 0..len-1 over real tokens, 0 at padding. */
  readonly positions: Int32Array
  /** `[B]` real length of each row. */
  readonly lengths: Int32Array
  /** `[B]` column of the first real token (0 for right padding). */
  readonly offsets: Int32Array
  /** `[B]` column of the last real token. */
  readonly lastIndex: Int32Array
}

/** Checks every id is an integer in `[0, vocabSize)` and no sequence is empty. */
export const validateTokenIds = (
  sequences: ReadonlyArray<ReadonlyArray<number>>,
  vocabSize: number,
  what = "sequence"
): ModelInputError | undefined => {
  for (let s = 0; s < sequences.length; s++) {
    const seq = sequences[s]!
    if (seq.length === 0) return new ModelInputError({ message: `${what} ${s} is empty` })
    for (let p = 0; p < seq.length; p++) {
      const id = seq[p]!
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        return new ModelInputError({
          message: `token id ${id} at ${what} ${s}, position ${p} is out of range [0, ${vocabSize})`
        })
      }
    }
  }
  return undefined
}

export const padBatch = (
  sequences: ReadonlyArray<ReadonlyArray<number>>,
  padding: Padding,
  padId: number
): PaddedBatch => {
  const B = sequences.length
  let T = 0
  for (const s of sequences) T = Math.max(T, s.length)
  const ids = new Int32Array(B * T).fill(padId)
  const mask = new Int32Array(B * T)
  const positions = new Int32Array(B * T)
  const lengths = new Int32Array(B)
  const offsets = new Int32Array(B)
  const lastIndex = new Int32Array(B)
  for (let b = 0; b < B; b++) {
    const seq = sequences[b]!
    const off = padding === "left" ? T - seq.length : 0
    lengths[b] = seq.length
    offsets[b] = off
    lastIndex[b] = off + seq.length - 1
    for (let t = 0; t < seq.length; t++) {
      ids[b * T + off + t] = seq[t]!
      mask[b * T + off + t] = 1
      positions[b * T + off + t] = t
    }
  }
  return { batchSize: B, seqLen: T, padding, ids, mask, positions, lengths, offsets, lastIndex }
}
