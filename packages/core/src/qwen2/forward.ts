/**
 * The Qwen2 forward pass on TensorFlow.js: embeddings → L × [RMSNorm → GQA attention with RoPE,
 * q/k/v biases, causal + padding mask → residual → RMSNorm → SwiGLU MLP → residual] → final
 * RMSNorm → LM head. Batched: `[B, T]` ids with a key mask and per-token rotary positions, an
 * optional KV cache, hook callbacks at every block input/output.
 *
 * Two entry points share the math:
 * - `runQwen2` (engine pass over `Qwen2Params`, used by the LanguageModel),
 * - `qwen2Forward` (pure function over a Hugging Face weights record, differentiable under
 *   `tf.variableGrads`, for training).
 */
import * as tf from "@tensorflow/tfjs-core"
import { wasmXnnFailureCount } from "../backend/TensorBackend.js"
import type { Qwen2Config } from "../config/qwen2Config.js"
import type { EnginePass, EngineResult, KVCache } from "../model/engine.js"
import { blockInput, blockOutput, type HookSite } from "../model/hooks.js"
import { decodeBF16, decodeF16 } from "../safetensors/dtypes.js"
import { groupedAttention } from "./attention.js"
import { gatherRows, type Linear, linear, rmsNorm, silu } from "./ops.js"
import { applyRope, RopeTable } from "./rope.js"
import { checkQwen2Weights, EMBED, FINAL_NORM, LM_HEAD, layerNames, type Qwen2Weights } from "./weights.js"

export interface Qwen2LayerParams {
  readonly inputNorm: tf.Tensor1D
  readonly q: Linear
  readonly k: Linear
  readonly v: Linear
  readonly o: Linear
  readonly postNorm: tf.Tensor1D
  readonly gate: Linear
  readonly up: Linear
  readonly down: Linear
}

/** How token ids become embeddings. */
export type EmbeddingLookup =
  /** `[V, H]` tensor, row gather (differentiable). */
  | { readonly kind: "rows"; readonly table: tf.Tensor2D }
  /** `[H, V]` tensor shared with a tied `[in, out]` LM head: column gather. */
  | { readonly kind: "columns"; readonly table: tf.Tensor2D }
  /** Rows kept in JS memory in their storage dtype (F32 / BF16 / F16 bits), decoded on lookup. */
  | {
      readonly kind: "compact"
      readonly dtype: "F32" | "BF16" | "F16"
      readonly data: Float32Array | Uint16Array
      readonly hidden: number
    }

export interface Qwen2Params {
  readonly config: Qwen2Config
  readonly embed: EmbeddingLookup
  /** Blocks `0..layers.length-1`; fewer than `num_hidden_layers` after a partial load (`maxLayer`). */
  readonly layers: ReadonlyArray<Qwen2LayerParams>
  /** Absent after a partial load (`maxLayer`): only passes with `stopAtLayer < layers.length` work. */
  readonly norm: tf.Tensor1D | undefined
  /** Absent when the model was loaded without an LM head (activation harvesting only). */
  readonly lmHead: Linear | undefined
}

const embedLookup = (e: EmbeddingLookup, ids: Int32Array): tf.Tensor2D => {
  switch (e.kind) {
    case "rows":
      return gatherRows(e.table, tf.tensor1d(ids, "int32"))
    case "columns":
      return tf.transpose(tf.gather(e.table, tf.tensor1d(ids, "int32"), 1)) as tf.Tensor2D
    case "compact": {
      const H = e.hidden
      const out = new Float32Array(ids.length * H)
      for (let r = 0; r < ids.length; r++) {
        const src = e.data.subarray(ids[r]! * H, (ids[r]! + 1) * H)
        const dst = out.subarray(r * H, (r + 1) * H)
        if (e.dtype === "F32") dst.set(src as Float32Array)
        else if (e.dtype === "BF16") decodeBF16(src as Uint16Array, dst)
        else decodeF16(src as Uint16Array, dst)
      }
      return tf.tensor2d(out, [ids.length, H])
    }
  }
}

/** Additive attention bias `[B, 1, 1, T, S]`: 0 where query i may attend key j, -1e9 elsewhere. */
const attentionBias = (keyMask: Int32Array, B: number, T: number, S: number): tf.Tensor => {
  const past = S - T
  const bias = new Float32Array(B * T * S)
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      const row = (b * T + i) * S
      const limit = past + i
      for (let j = 0; j < S; j++) {
        if (j > limit || keyMask[b * S + j] === 0) bias[row + j] = -1e9
      }
    }
  }
  return tf.tensor(bias, [B, 1, 1, T, S])
}

const isIdentity = (rows: Int32Array, n: number): boolean => {
  if (rows.length !== n) return false
  for (let i = 0; i < n; i++) if (rows[i] !== i) return false
  return true
}

interface BlockOut {
  readonly out: tf.Tensor3D
  readonly k: tf.Tensor4D
  readonly v: tf.Tensor4D
}

const decoderBlock = (
  cfg: Qwen2Config,
  p: Qwen2LayerParams,
  x: tf.Tensor3D,
  cos: tf.Tensor4D,
  signedSin: tf.Tensor4D,
  bias: tf.Tensor,
  past: { readonly k: tf.Tensor; readonly v: tf.Tensor } | undefined
): BlockOut => {
  const [B, T, H] = x.shape
  const D = cfg.head_dim
  const nH = cfg.num_attention_heads
  const nKV = cfg.num_key_value_heads
  const g = nH / nKV
  const eps = cfg.rms_norm_eps

  const n = tf.reshape(rmsNorm(x, p.inputNorm, eps), [B * T, H]) as tf.Tensor2D
  const q = applyRope(tf, tf.reshape(linear(n, p.q), [B, T, nH, D]), cos, signedSin)
  const kNew = applyRope(tf, tf.reshape(linear(n, p.k), [B, T, nKV, D]), cos, signedSin)
  const vNew = tf.reshape(linear(n, p.v), [B, T, nKV, D]) as tf.Tensor4D
  // [B, nH, T, D] → [B, nKV, g·T, D]: query head h uses kv head floor(h / g).
  const qh = tf.reshape(tf.transpose(q, [0, 2, 1, 3]), [B, nKV, g * T, D])
  let k = tf.transpose(kNew, [0, 2, 1, 3]) as tf.Tensor4D
  let v = tf.transpose(vNew, [0, 2, 1, 3]) as tf.Tensor4D
  if (past !== undefined) {
    k = tf.concat([past.k as tf.Tensor4D, k], 2)
    v = tf.concat([past.v as tf.Tensor4D, v], 2)
  }
  const ctx = groupedAttention(qh as tf.Tensor4D, k, v, bias)
  const merged = tf.reshape(tf.transpose(tf.reshape(ctx, [B, nH, T, D]), [0, 2, 1, 3]), [B * T, nH * D]) as tf.Tensor2D
  const h = tf.add(x, tf.reshape(linear(merged, p.o), [B, T, H])) as tf.Tensor3D

  const n2 = tf.reshape(rmsNorm(h, p.postNorm, eps), [B * T, H]) as tf.Tensor2D
  const act = tf.mul(silu(linear(n2, p.gate)), linear(n2, p.up)) as tf.Tensor2D
  const out = tf.add(h, tf.reshape(linear(act, p.down), [B, T, H])) as tf.Tensor3D
  return { out, k, v }
}

/**
 * One engine pass (see `EnginePass`). Runs inside the caller's `tf.tidy`.
 * Hidden states follow transformers: entry 0 = embeddings, entry i = output of block i-1 after its
 * output hooks and before block i's input hooks, last = final norm of the last block's output
 * (or, with `stopAtLayer`, the raw output of block `stopAtLayer`).
 */
export const runQwen2 = (params: Qwen2Params, rope: RopeTable, pass: EnginePass): EngineResult => {
  const cfg = params.config
  const B = pass.batchSize
  const T = pass.seqLen
  const H = cfg.hidden_size
  const L = cfg.num_hidden_layers
  const past = pass.cache?.length ?? 0
  const S = past + T
  if (pass.inputIds.length !== B * T)
    throw new RangeError(`inputIds has ${pass.inputIds.length} entries, expected ${B}×${T}`)
  if (pass.keyMask.length !== B * S)
    throw new RangeError(`keyMask has ${pass.keyMask.length} entries, expected ${B}×${S}`)
  if (pass.positionIds.length !== B * T)
    throw new RangeError(`positionIds has ${pass.positionIds.length} entries, expected ${B}×${T}`)
  const hook = pass.hook ?? ((_site: HookSite, h: tf.Tensor3D) => h)
  const stopAt = pass.stopAtLayer ?? L - 1
  if (stopAt >= params.layers.length || (pass.stopAtLayer === undefined && params.norm === undefined)) {
    throw new RangeError(
      `this model was loaded with blocks 0..${params.layers.length - 1} only (maxLayer); the pass needs ${pass.stopAtLayer === undefined ? "every block and the final norm" : `block ${stopAt}`}`
    )
  }
  const wantCache = pass.useCache === true || pass.cache !== undefined

  let x = tf.reshape(embedLookup(params.embed, pass.inputIds), [B, T, H]) as tf.Tensor3D
  const hidden: Array<tf.Tensor3D> | undefined = pass.hiddenStates === true ? [x] : undefined
  const { cos, signedSin } = rope.tables(pass.positionIds)
  const D = cfg.head_dim
  const cosT = tf.tensor4d(cos, [B, T, 1, D])
  const sinT = tf.tensor4d(signedSin, [B, T, 1, D])
  const bias = attentionBias(pass.keyMask, B, T, S)
  const cacheLayers: Array<{ k: tf.Tensor; v: tf.Tensor }> = []

  for (let l = 0; l <= stopAt; l++) {
    x = hook(blockInput(l), x)
    const xIn = x
    // Free the block's intermediates (attention scores, MLP activations: several times the
    // residual stream) as soon as it is done, not when the whole pass ends: peak activation
    // memory is then one block's, whatever the depth. Under a gradient tape the tensors the
    // backward pass needs are kept by the tape.
    const r = tf.tidy(() => {
      const b = decoderBlock(cfg, params.layers[l]!, xIn, cosT, sinT, bias, pass.cache?.layers[l])
      return (wantCache ? { out: b.out, k: b.k, v: b.v } : { out: b.out }) as tf.NamedTensorMap
    }) as unknown as { out: tf.Tensor3D; k?: tf.Tensor4D; v?: tf.Tensor4D }
    if (wantCache) cacheLayers.push({ k: r.k!, v: r.v! })
    x = hook(blockOutput(l), r.out)
    if (hidden !== undefined && (l < L - 1 || pass.stopAtLayer !== undefined)) hidden.push(x)
  }
  const cache: KVCache | undefined = wantCache ? { layers: cacheLayers, length: S } : undefined
  const base = {
    ...(hidden !== undefined ? { hiddenStates: hidden } : {}),
    ...(cache !== undefined ? { cache } : {})
  }
  if (pass.stopAtLayer !== undefined) return base
  const normed = rmsNorm(x, params.norm!, cfg.rms_norm_eps)
  if (hidden !== undefined) hidden.push(normed)
  if (pass.logitRows === undefined) return base
  if (params.lmHead === undefined) throw new RangeError("this model was loaded without an LM head (logits: false)")
  const flat = tf.reshape(normed, [B * T, H]) as tf.Tensor2D
  const rows = isIdentity(pass.logitRows, B * T) ? flat : gatherRows(flat, tf.tensor1d(pass.logitRows, "int32"))
  return { ...base, logits: linear(rows, params.lmHead) }
}

// ---------------------------------------------------------------------------------------------
// Functional API over HF weights

/** `Qwen2Params` view of an HF weights record (no copies; `[out, in]` linear layers with training-friendly gradients). */
export const qwen2ParamsFromWeights = (config: Qwen2Config, weights: Qwen2Weights): Qwen2Params => {
  const problem = checkQwen2Weights(config, weights)
  if (problem !== undefined) throw new RangeError(problem)
  const w = (name: string) => weights[name]! as tf.Tensor2D
  const b = (name: string) => weights[name]! as tf.Tensor1D
  const lin = (wn: string, bn?: string): Linear => ({
    w: w(wn),
    layout: "outInTrain",
    ...(bn !== undefined ? { b: b(bn) } : {})
  })
  const layers: Array<Qwen2LayerParams> = []
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const n = layerNames(i)
    layers.push({
      inputNorm: b(n.inputNorm),
      q: lin(n.qW, n.qB),
      k: lin(n.kW, n.kB),
      v: lin(n.vW, n.vB),
      o: lin(n.oW),
      postNorm: b(n.postNorm),
      gate: lin(n.gateW),
      up: lin(n.upW),
      down: lin(n.downW)
    })
  }
  return {
    config,
    embed: { kind: "rows", table: w(EMBED) },
    layers,
    norm: b(FINAL_NORM),
    lmHead: lin(config.tie_word_embeddings ? EMBED : LM_HEAD)
  }
}

const ropeTables = new Map<string, RopeTable>()
/** A shared rotary table for (head_dim, rope_theta). */
export const ropeTableFor = (config: Qwen2Config): RopeTable => {
  const key = `${config.head_dim}:${config.rope_theta}`
  let t = ropeTables.get(key)
  if (t === undefined) {
    t = new RopeTable(config.head_dim, config.rope_theta)
    ropeTables.set(key, t)
  }
  return t
}

export interface Qwen2ForwardOptions {
  /** `[B][T]` 1 = token, 0 = padding (default all ones). */
  readonly attentionMask?: ReadonlyArray<ReadonlyArray<number>>
  /** `[B][T]` rotary positions (default: 0,1,2,… over the real tokens of each row, 0 at padding). */
  readonly positionIds?: ReadonlyArray<ReadonlyArray<number>>
  /** Stop after this block (no logits). */
  readonly stopAtLayer?: number
  readonly hiddenStates?: boolean
  /** Skip the LM head (e.g. to compute a loss on chosen rows yourself from the last hidden state). */
  readonly logits?: boolean
  /** Called at every block input/output with `[B, T, hidden]`; return the (possibly replaced) activation. */
  readonly hook?: (site: HookSite, h: tf.Tensor3D) => tf.Tensor3D
}

export interface Qwen2ForwardResult {
  /** `[B, T, vocab]`. */
  readonly logits?: tf.Tensor3D
  /** HF-style hidden states, `[B, T, hidden]` each. */
  readonly hiddenStates?: ReadonlyArray<tf.Tensor3D>
}

const rectangular = (
  rows: ReadonlyArray<ReadonlyArray<number>>,
  what: string
): { B: number; T: number; flat: Int32Array } => {
  const B = rows.length
  const T = rows[0]?.length ?? 0
  const flat = new Int32Array(B * T)
  rows.forEach((r, b) => {
    if (r.length !== T)
      throw new RangeError(`${what} row ${b} has length ${r.length}, expected ${T} (pad to a rectangle)`)
    for (let t = 0; t < T; t++) flat[b * T + t] = r[t]!
  })
  return { B, T, flat }
}

/**
 * Pure forward over HF weights: `inputIds` `[B][T]` (rectangular) or an int32 `tf.Tensor2D`.
 * Differentiable with respect to every weight (use `tf.variable`s in the record and
 * `tf.variableGrads`). Does not dispose its inputs; call inside `tf.tidy`.
 * Throws RangeError on a missing/mis-shaped weight or an out-of-range token id.
 */
export const qwen2Forward = (
  config: Qwen2Config,
  weights: Qwen2Weights,
  inputIds: ReadonlyArray<ReadonlyArray<number>> | tf.Tensor2D,
  options: Qwen2ForwardOptions = {}
): Qwen2ForwardResult => {
  const params = qwen2ParamsFromWeights(config, weights)
  const { B, T, flat } =
    inputIds instanceof tf.Tensor
      ? { B: inputIds.shape[0], T: inputIds.shape[1], flat: Int32Array.from(inputIds.dataSync()) }
      : rectangular(inputIds, "inputIds")
  for (let i = 0; i < flat.length; i++) {
    const id = flat[i]!
    if (id < 0 || id >= config.vocab_size) {
      throw new RangeError(
        `token id ${id} at row ${Math.floor(i / T)}, position ${i % T} is out of range [0, ${config.vocab_size})`
      )
    }
  }
  const mask =
    options.attentionMask !== undefined
      ? rectangular(options.attentionMask, "attentionMask").flat
      : new Int32Array(B * T).fill(1)
  if (mask.length !== B * T) throw new RangeError(`attentionMask must be ${B}×${T}`)
  let positions: Int32Array
  if (options.positionIds !== undefined) {
    positions = rectangular(options.positionIds, "positionIds").flat
    if (positions.length !== B * T) throw new RangeError(`positionIds must be ${B}×${T}`)
  } else {
    positions = new Int32Array(B * T)
    for (let b = 0; b < B; b++) {
      let p = 0
      for (let t = 0; t < T; t++) if (mask[b * T + t] === 1) positions[b * T + t] = p++
    }
  }
  const wantLogits = options.logits !== false && options.stopAtLayer === undefined
  const xnnBefore = wasmXnnFailureCount()
  const r = runQwen2(params, ropeTableFor(config), {
    inputIds: flat,
    batchSize: B,
    seqLen: T,
    keyMask: mask,
    positionIds: positions,
    ...(options.stopAtLayer !== undefined ? { stopAtLayer: options.stopAtLayer } : {}),
    hiddenStates: options.hiddenStates === true,
    ...(wantLogits ? { logitRows: Int32Array.from({ length: B * T }, (_, i) => i) } : {}),
    ...(options.hook !== undefined ? { hook: options.hook } : {})
  })
  if (wasmXnnFailureCount() !== xnnBefore) {
    throw new RangeError(
      "the wasm heap is full: XNNPACK could not allocate, so this forward pass's result would be garbage"
    )
  }
  return {
    ...(r.logits !== undefined ? { logits: tf.reshape(r.logits, [B, T, config.vocab_size]) as tf.Tensor3D } : {}),
    ...(r.hiddenStates !== undefined ? { hiddenStates: r.hiddenStates } : {})
  }
}
