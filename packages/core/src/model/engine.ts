/**
 * `DecoderEngine`: the tensor-level contract a decoder-only model family implements. Given one
 * padded pass (ids, key mask, RoPE positions, optional KV cache, a hook callback) it returns
 * logits for chosen rows, hidden states and the updated cache. `makeDecoderLanguageModel` turns any
 * engine into a full `LanguageModelShape` (padding, validation, hooks with contexts, batched
 * generation with a KV cache, sampling), so a new family only writes its forward pass.
 */
import type * as tf from "@tensorflow/tfjs-core"
import type { HookSite } from "./hooks.js"

/** Per-layer past keys and values, `[batch, kvHeads, pastLen, headDim]` each (layout is the engine's business). */
export interface KVCache {
  readonly layers: ReadonlyArray<{ readonly k: tf.Tensor; readonly v: tf.Tensor }>
  /** Number of cached positions (columns of the key mask already consumed). */
  readonly length: number
}

export const emptyKVCache: KVCache = { layers: [], length: 0 }

export const disposeKVCache = (cache: KVCache | undefined): void => {
  if (cache === undefined) return
  for (const l of cache.layers) {
    l.k.dispose()
    l.v.dispose()
  }
}

export interface EnginePass {
  /** `[batchSize * seqLen]` row-major token ids (already validated against the vocabulary). */
  readonly inputIds: Int32Array
  readonly batchSize: number
  readonly seqLen: number
  /**
   * `[batchSize * (pastLen + seqLen)]` row-major key mask over cached and current positions:
   * 1 = attend, 0 = padding. Attention is also causal.
   */
  readonly keyMask: Int32Array
  /** `[batchSize * seqLen]` rotary positions of the current tokens. */
  readonly positionIds: Int32Array
  /** Past keys/values; when given, the result carries the extended cache. */
  readonly cache?: KVCache
  /** Return a cache (prefill of a generation). Implied by `cache`. */
  readonly useCache?: boolean
  /** Run blocks 0..stopAtLayer only (no final norm, no logits). */
  readonly stopAtLayer?: number
  /** Collect HF-style hidden states (see ForwardRequest.hiddenStates). */
  readonly hiddenStates?: boolean
  /** Rows of the flattened `[batchSize * seqLen]` positions to compute logits for (none if absent). */
  readonly logitRows?: Int32Array
  /** Called at every hook site with `[batchSize, seqLen, hidden]`; returns the (possibly replaced) activation. */
  readonly hook?: (site: HookSite, h: tf.Tensor3D) => tf.Tensor3D
}

export interface EngineResult {
  /** `[logitRows.length, vocab]`. */
  readonly logits?: tf.Tensor2D
  /** `[batchSize, seqLen, hidden]` per entry. */
  readonly hiddenStates?: ReadonlyArray<tf.Tensor3D>
  readonly cache?: KVCache
}

export interface DecoderEngine {
  readonly numLayers: number
  readonly hiddenSize: number
  readonly vocabSize: number
  /** False when the model was loaded without an LM head: passes must not ask for logits. Default true. */
  readonly hasLogits?: boolean
  /**
   * Set when only blocks `0..maxLayer` were loaded (no final norm, no LM head): passes must stop at
   * a layer ≤ maxLayer. Absent: every block is loaded.
   */
  readonly maxLayer?: number
  /**
   * One forward pass. Runs synchronously inside the caller's `tf.tidy`: returned tensors are kept
   * by the caller, everything else is freed. Must not dispose `pass.cache` (the caller does).
   */
  run(pass: EnginePass): EngineResult
  /** Frees the weights. */
  dispose(): void
}
