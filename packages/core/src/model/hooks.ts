/**
 * Hook points on the residual stream of a decoder-only transformer.
 *
 * A hook sees the residual stream at one site (the input or the output of decoder block `layer`)
 * as a `[batch, positions, hidden]` tensor and may return a replacement. The paper reads and
 * patches the **output of block L**, which is Hugging Face's `hidden_states[L + 1]`.
 *
 * Hooks are synchronous on purpose: they run inside the forward pass, between two blocks, on the
 * same TensorFlow.js engine. Anything that needs I/O is computed before the pass and closed over.
 */
import type * as tf from "@tensorflow/tfjs-core"

export type HookPoint = "block_input" | "block_output"

export interface HookSite {
  /** 0-based decoder block index. */
  readonly layer: number
  readonly point: HookPoint
}

/** The residual stream after decoder block `layer` (= HF `hidden_states[layer + 1]`). */
export const blockOutput = (layer: number): HookSite => ({ layer, point: "block_output" })
/** The residual stream entering decoder block `layer` (= HF `hidden_states[layer]`). */
export const blockInput = (layer: number): HookSite => ({ layer, point: "block_input" })

export const siteKey = (site: HookSite): string => `${site.point}.${site.layer}`

/**
 * The TransformerLens name of a site, as researchers write it: the output of block L is
 * `blocks.L.hook_resid_post`, its input `blocks.L.hook_resid_pre`.
 */
export const transformerLensName = (site: HookSite): string =>
  `blocks.${site.layer}.hook_resid_${site.point === "block_output" ? "post" : "pre"}`

/**
 * A site from its name: a TransformerLens name (`blocks.13.hook_resid_post`, `blocks.13.hook_resid_pre`)
 * or a `siteKey` (`block_output.13`, `block_input.13`). `undefined` for anything else (e.g.
 * `hook_resid_mid` or attention hooks, which are not hook points here).
 */
export const parseSite = (name: string): HookSite | undefined => {
  const lens = /^blocks\.(\d+)\.hook_resid_(pre|post)$/.exec(name.trim())
  if (lens !== null) return { layer: Number(lens[1]), point: lens[2] === "post" ? "block_output" : "block_input" }
  const key = /^(block_output|block_input)\.(\d+)$/.exec(name.trim())
  if (key !== null) return { layer: Number(key[2]), point: key[1] as HookPoint }
  return undefined
}

/** Which forward passes a hook fires on during generation. A plain forward is a prefill. */
export type HookWhen = "prefill" | "decode" | "always"

export interface HookContext {
  readonly site: HookSite
  /** "prefill" for the pass over the prompt (and for a plain forward), "decode" for each generated step. */
  readonly phase: "prefill" | "decode"
  /** 0 for the prefill pass, k ≥ 1 for the k-th decode step. */
  readonly step: number
  readonly batchSize: number
  /** Positions in this pass: the padded prompt length in prefill, 1 in a cached decode step. */
  readonly seqLen: number
  /** Row-major `[batchSize * seqLen]`: 1 for a real token, 0 for padding. */
  readonly attentionMask: Int32Array
  /** Row-major `[batchSize * seqLen]`: the RoPE position of each token (padding gets 0 or 1; ignore it). */
  readonly positionIds: Int32Array
  /**
   * Per row, the index within this pass of the last real prompt token (prefill), correct for
   * left and right padding; -1 in decode steps.
   */
  readonly lastPromptIndex: Int32Array
  /**
   * Reads `tensor` after the pass and hands its values to `then`. The read is asynchronous
   * (`await tensor.data()`), so it works on every backend, webgpu included, where a synchronous
   * `dataSync()` fails in Node; the tensor is kept past the pass and disposed after the read. Set
   * by `LanguageModel` passes; absent when an engine is driven directly (read synchronously then).
   */
  readonly readAfterPass?: (tensor: tf.Tensor, then: (values: Float32Array) => void) => void
}

export interface Hook {
  readonly site: HookSite
  readonly when: HookWhen
  /**
   * Called with the activation `h` (`[batchSize, seqLen, hidden]`, float32). Return a tensor of the
   * same shape to replace it, or `undefined` to leave it unchanged. Do not dispose `h`. The call
   * runs inside `tf.tidy`: read out what must outlive it with `ctx.readAfterPass`.
   */
  readonly run: (h: tf.Tensor3D, ctx: HookContext) => tf.Tensor3D | undefined
}

/** Which positions an intervention touches. */
export type PositionSelector =
  | { readonly _tag: "All" }
  /** The last real prompt token of each row, prefill pass only (the paper's choice). */
  | { readonly _tag: "LastPrompt" }
  /** Every real token: the prompt during prefill, the new token in each decode step. */
  | { readonly _tag: "Real" }
  /** An explicit choice, given the pass: return a `[batchSize * seqLen]` 0/1 mask. */
  | { readonly _tag: "Mask"; readonly mask: (ctx: HookContext) => ArrayLike<number> }

export const Positions = {
  all: { _tag: "All" } as PositionSelector,
  lastPrompt: { _tag: "LastPrompt" } as PositionSelector,
  real: { _tag: "Real" } as PositionSelector,
  mask: (mask: (ctx: HookContext) => ArrayLike<number>): PositionSelector => ({ _tag: "Mask", mask })
} as const

/** The 0/1 mask (`[batchSize * seqLen]`) of positions that `selector` selects in this pass. */
export const positionMask = (selector: PositionSelector, ctx: HookContext): Float32Array => {
  const n = ctx.batchSize * ctx.seqLen
  const out = new Float32Array(n)
  switch (selector._tag) {
    case "All":
      out.fill(1)
      return out
    case "Real":
      for (let i = 0; i < n; i++) out[i] = ctx.attentionMask[i] === 0 ? 0 : 1
      return out
    case "LastPrompt":
      if (ctx.phase !== "prefill") return out
      for (let b = 0; b < ctx.batchSize; b++) {
        const t = ctx.lastPromptIndex[b] ?? -1
        if (t >= 0) out[b * ctx.seqLen + t] = 1
      }
      return out
    case "Mask": {
      const m = selector.mask(ctx)
      if (m.length !== n) {
        throw new RangeError(`position mask has length ${m.length}, expected batchSize*seqLen = ${n}`)
      }
      for (let i = 0; i < n; i++) out[i] = m[i] ? 1 : 0
      return out
    }
  }
}

/** The selected `(row, position)` pairs, in row-major order. */
export const selectedPositions = (
  selector: PositionSelector,
  ctx: HookContext
): Array<{ readonly row: number; readonly position: number }> => {
  const mask = positionMask(selector, ctx)
  const out: Array<{ row: number; position: number }> = []
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] === 1) out.push({ row: Math.floor(i / ctx.seqLen), position: i % ctx.seqLen })
  }
  return out
}
