/**
 * Which token positions of each text become rows of the store.
 *
 * - `lastToken` (the paper): one row per text, at its last real token. The index comes from the
 *   attention mask of the padded batch (the last position whose mask is 1), which is correct for
 *   both left and right padding. The reference code computes `attention_mask.sum(1) - 1`, which is
 *   only right for right padding; with its left padding every shorter sequence of a batch is read at
 *   a wrong (often pad) position. We do not reproduce that bug.
 * - `allTokens`: every real (non-padding) position, minus the filters below.
 */

export interface NormOutlierFilter {
  /** Drop a position when, for any source, ‖x‖₂ > `multiple` × the median ‖x‖₂ of that source. */
  readonly multiple: number
  /**
   * Where the median comes from:
   * - `"batch"` (default): the candidate positions of the current harvest batch (all texts of the
   *   batch, after the other filters). Cheap and adaptive, but which rows are kept then depends on
   *   how texts were batched, so a resumed harvest may keep slightly different rows near the
   *   threshold than an uninterrupted one.
   * - `{ warmupBatches: k }`: the candidates of the first k batches fix one median per source for
   *   the whole harvest; it is stored in the manifest, so resume is exact.
   * - `{ fixed: [m₀, m₁, ...] }`: one median per source (model-major, then site), given.
   */
  readonly median?: "batch" | { readonly warmupBatches: number } | { readonly fixed: ReadonlyArray<number> }
}

export type PositionPolicy =
  | { readonly _tag: "LastToken" }
  | {
      readonly _tag: "AllTokens"
      /** Skip the first n real positions of every text (attention-sink / BOS region). Default 0. */
      readonly skipFirst?: number
      /** Skip the tokenizer's special tokens (BOS, `<|im_start|>`, ...). Default true. */
      readonly skipSpecialTokens?: boolean
      /** Further token ids to skip. */
      readonly skipTokenIds?: ReadonlyArray<number>
      readonly normOutlier?: NormOutlierFilter
    }

export const Policy = {
  lastToken: { _tag: "LastToken" } as PositionPolicy,
  allTokens: (
    options: {
      readonly skipFirst?: number
      readonly skipSpecialTokens?: boolean
      readonly skipTokenIds?: ReadonlyArray<number>
      readonly normOutlier?: NormOutlierFilter
    } = {}
  ): PositionPolicy => ({ _tag: "AllTokens", ...options })
} as const

/** Real-token positions of one text that are candidates (before the norm-outlier filter). */
export const candidatePositions = (
  policy: PositionPolicy,
  tokens: ReadonlyArray<number>,
  skipIds: ReadonlySet<number>
): Array<number> => {
  const n = tokens.length
  if (n === 0) return []
  if (policy._tag === "LastToken") return [n - 1]
  const out: Array<number> = []
  for (let p = Math.max(0, policy.skipFirst ?? 0); p < n; p++) {
    if (!skipIds.has(tokens[p] as number)) out.push(p)
  }
  return out
}

/** The median of `xs` (average of the two middle values for even length); NaN when empty. */
export const median = (xs: ArrayLike<number>): number => {
  const n = xs.length
  if (n === 0) return Number.NaN
  const a = Float64Array.from(xs as ArrayLike<number>).sort()
  return n % 2 === 1 ? (a[(n - 1) / 2] as number) : ((a[n / 2 - 1] as number) + (a[n / 2] as number)) / 2
}
