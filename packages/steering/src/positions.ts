/**
 * Where an intervention acts, as one of three modes:
 *
 * - `"lastPrompt"`: the last prompt token, in the prefill pass only (the paper: the hook replaces
 *   `output[0][0, -1, :]` once; later decode steps are not patched but attend to the patched
 *   position's downstream keys and values).
 * - `"prompt"`: every prompt token, in the prefill pass only.
 * - `"all"`: every token, the prompt during prefill and each generated token in its decode step
 *   (the golden steering convention: a forward hook adding a vector on every pass).
 *
 * Hooks of this package only touch their own batch row (`HookRequest.row`), so interventions for
 * several prompts can share one batched `generate` call.
 */
import type { HookContext, HookWhen } from "@crosscode/core"

export type PositionMode = "lastPrompt" | "prompt" | "all"

export const PositionModes: ReadonlyArray<PositionMode> = ["lastPrompt", "prompt", "all"]

/** The hook phase that a mode needs. */
export const whenFor = (mode: PositionMode): HookWhen => (mode === "all" ? "always" : "prefill")

/** The columns of `row`'s real (non-padding) tokens in this pass, in order. */
export const realColumns = (ctx: HookContext, row: number): Array<number> => {
  const out: Array<number> = []
  if (row < 0 || row >= ctx.batchSize) return out
  for (let t = 0; t < ctx.seqLen; t++) if (ctx.attentionMask[row * ctx.seqLen + t] !== 0) out.push(t)
  return out
}

/** The columns of `row` that `mode` selects in this pass (empty when it does not act in this phase). */
export const selectedColumns = (mode: PositionMode, ctx: HookContext, row: number): Array<number> => {
  if (row < 0 || row >= ctx.batchSize) return []
  if (ctx.phase === "decode") return mode === "all" ? realColumns(ctx, row) : []
  if (mode === "lastPrompt") {
    const t = ctx.lastPromptIndex[row] ?? -1
    return t >= 0 ? [t] : []
  }
  return realColumns(ctx, row)
}

/** A `[batchSize * seqLen]` 0/1 mask of the selected columns of `row`. */
export const rowMask = (mode: PositionMode, ctx: HookContext, row: number): Float32Array => {
  const mask = new Float32Array(ctx.batchSize * ctx.seqLen)
  for (const t of selectedColumns(mode, ctx, row)) mask[row * ctx.seqLen + t] = 1
  return mask
}
