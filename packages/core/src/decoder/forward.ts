/**
 * The shared decoder forward pass on TensorFlow.js (Qwen2, Llama, Gemma 2; see `DecoderArch`):
 * embeddings (× scale) → L × [RMSNorm → GQA attention with RoPE, optional biases, causal + padding
 * (+ sliding-window) mask, optional soft-capping → (norm) → residual → RMSNorm → SwiGLU / GeGLU
 * MLP → (norm) → residual] → final RMSNorm → LM head (→ soft-capping). Batched: `[B, T]` ids with
 * a key mask and per-token rotary positions, an optional KV cache, hook callbacks at every block
 * input/output.
 *
 * Used by every family's engine (`runDecoder`) and, over a Hugging Face weights record, by
 * `qwen2Forward` (differentiable under `tf.variableGrads`, for training).
 */
import * as tf from "@tensorflow/tfjs-core"
import { wasmXnnFailureCount } from "../backend/TensorBackend.js"
import type { EnginePass, EngineResult, KVCache } from "../model/engine.js"
import { blockInput, blockOutput, type HookSite } from "../model/hooks.js"
import { decodeBF16, decodeF16 } from "../safetensors/dtypes.js"
import {
  type DecoderArch,
  decoderWeightShapes,
  EMBED,
  FINAL_NORM,
  type LayerParts,
  LM_HEAD,
  layerSlots,
  mapLayerParts
} from "./arch.js"
import { groupedAttention } from "./attention.js"
import { fusedGatedActivation, fusedGatedMlp, fusedGroupedAttention } from "./fused.js"
import { gatherRows, geluTanh, type Linear, linear, rmsNorm, silu, softcap } from "./ops.js"
import { applyRope, RopeTable } from "./rope.js"

/**
 * One block's weights. Norm vectors are the effective multipliers (Gemma's `1 + w` already
 * formed), so the forward pass is the same for every family.
 */
export type DecoderLayerParams = LayerParts<tf.Tensor1D, Linear>

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

export interface DecoderParams {
  readonly arch: DecoderArch
  /** The unscaled table (`arch.embedScale` is applied in the forward pass). */
  readonly embed: EmbeddingLookup
  /** Blocks `0..layers.length-1`; fewer than `num_hidden_layers` after a partial load (`maxLayer`). */
  readonly layers: ReadonlyArray<DecoderLayerParams>
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

/**
 * Additive attention bias `[B, 1, 1, T, S]`: 0 where query i may attend key j, -1e9 elsewhere.
 * Causal over the key columns (cached + current); with a sliding `window`, key column `j` is
 * also masked when `j ≤ i − window` (query i at column `past + i`). Columns and token distances
 * agree because padding only precedes (generation: left padding) or follows (forward) a row's
 * tokens, so the window holds the same keys with and without the cache.
 */
const attentionBias = (keyMask: Int32Array, B: number, T: number, S: number, window?: number): tf.Tensor => {
  const past = S - T
  const bias = new Float32Array(B * T * S)
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      const row = (b * T + i) * S
      const limit = past + i
      const first = window === undefined ? 0 : limit - window + 1
      for (let j = 0; j < S; j++) {
        if (j > limit || j < first || keyMask[b * S + j] === 0) bias[row + j] = -1e9
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

/** A sandwich norm when the architecture has one, else the identity. */
const outNorm = (y: tf.Tensor2D, w: tf.Tensor1D | undefined, eps: number): tf.Tensor2D =>
  w === undefined ? y : rmsNorm(y, w, eps)

/**
 * The composite attention: `q` `[B, T, nH, D]` → `[B, nKV, g·T, D]` (query head h uses KV head
 * floor(h / g)), `groupedAttention`, and back to `[B, T, nH, D]`.
 */
const attentionHeadMajor = (
  arch: DecoderArch,
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  bias: tf.Tensor
): tf.Tensor4D => {
  const [B, T, nH, D] = q.shape
  const nKV = arch.numKvHeads
  const g = nH / nKV
  const qh = tf.reshape(tf.transpose(q, [0, 2, 1, 3]), [B, nKV, g * T, D]) as tf.Tensor4D
  const ctx = groupedAttention(qh, k, v, bias, {
    scale: arch.attnScale,
    ...(arch.attnSoftcap !== undefined ? { softcap: arch.attnSoftcap } : {})
  })
  return tf.transpose(tf.reshape(ctx, [B, nH, T, D]), [0, 2, 1, 3]) as tf.Tensor4D
}

const decoderBlock = (
  arch: DecoderArch,
  p: DecoderLayerParams,
  x: tf.Tensor3D,
  cos: tf.Tensor4D,
  signedSin: tf.Tensor4D,
  bias: tf.Tensor,
  past: { readonly k: tf.Tensor; readonly v: tf.Tensor } | undefined
): BlockOut => {
  const [B, T, H] = x.shape
  const D = arch.headDim
  const nH = arch.numHeads
  const nKV = arch.numKvHeads
  const eps = arch.rmsNormEps

  const n = tf.reshape(rmsNorm(x, p.inputNorm, eps), [B * T, H]) as tf.Tensor2D
  const q = applyRope(tf, tf.reshape(linear(n, p.q), [B, T, nH, D]), cos, signedSin)
  const kNew = applyRope(tf, tf.reshape(linear(n, p.k), [B, T, nKV, D]), cos, signedSin)
  const vNew = tf.reshape(linear(n, p.v), [B, T, nKV, D]) as tf.Tensor4D
  let k = tf.transpose(kNew, [0, 2, 1, 3]) as tf.Tensor4D
  let v = tf.transpose(vNew, [0, 2, 1, 3]) as tf.Tensor4D
  if (past !== undefined) {
    k = tf.concat([past.k as tf.Tensor4D, k], 2)
    v = tf.concat([past.v as tf.Tensor4D, v], 2)
  }
  const merged = tf.reshape(
    fusedGroupedAttention(q, k, v, bias, arch.attnScale, arch.attnSoftcap) ?? attentionHeadMajor(arch, q, k, v, bias),
    [B * T, nH * D]
  ) as tf.Tensor2D
  const attnOut = linear(merged, p.o)
  const h = tf.add(x, tf.reshape(outNorm(attnOut, p.attnOutNorm, eps), [B, T, H])) as tf.Tensor3D

  const n2 = tf.reshape(rmsNorm(h, p.mlpNorm, eps), [B * T, H]) as tf.Tensor2D
  const activation = arch.activation === "silu" ? "silu" : "geluTanh"
  const mlp = fusedGatedMlp(n2, p.gate, p.up, p.down, activation) ?? composedMlp(n2, p, activation)
  const out = tf.add(h, tf.reshape(outNorm(mlp, p.mlpOutNorm, eps), [B, T, H])) as tf.Tensor3D
  return { out, k, v }
}

/** `down(act(gate(n)) · up(n))` from separate ops (the activation fused where the backend can). */
const composedMlp = (n: tf.Tensor2D, p: DecoderLayerParams, activation: "silu" | "geluTanh"): tf.Tensor2D => {
  const gate = linear(n, p.gate)
  const up = linear(n, p.up)
  const act =
    fusedGatedActivation(gate, up, activation) ??
    (tf.mul(activation === "silu" ? silu(gate) : geluTanh(gate), up) as tf.Tensor2D)
  return linear(act, p.down)
}

/**
 * One engine pass (see `EnginePass`). Runs inside the caller's `tf.tidy`.
 * Hidden states follow transformers: entry 0 = embeddings, entry i = output of block i-1 after its
 * output hooks and before block i's input hooks, last = final norm of the last block's output
 * (or, with `stopAtLayer`, the raw output of block `stopAtLayer`).
 */
export const runDecoder = (params: DecoderParams, rope: RopeTable, pass: EnginePass): EngineResult => {
  const arch = params.arch
  const B = pass.batchSize
  const T = pass.seqLen
  const H = arch.hiddenSize
  const L = arch.numLayers
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

  const rows = embedLookup(params.embed, pass.inputIds)
  const scaled = arch.embedScale === undefined ? rows : tf.mul(rows, arch.embedScale)
  let x = tf.reshape(scaled, [B, T, H]) as tf.Tensor3D
  const hidden: Array<tf.Tensor3D> | undefined = pass.hiddenStates === true ? [x] : undefined
  const { cos, signedSin } = rope.tables(pass.positionIds)
  const D = arch.headDim
  const cosT = tf.tensor4d(cos, [B, T, 1, D])
  const sinT = tf.tensor4d(signedSin, [B, T, 1, D])
  // One bias per distinct window (global layers share one, sliding layers another), made out
  // here so the per-block tidy below does not free it.
  const biases = new Map<number | undefined, tf.Tensor>()
  for (let l = 0; l <= stopAt; l++) {
    const w = arch.slidingWindows[l]
    if (!biases.has(w)) biases.set(w, attentionBias(pass.keyMask, B, T, S, w))
  }
  const cacheLayers: Array<{ k: tf.Tensor; v: tf.Tensor }> = []

  for (let l = 0; l <= stopAt; l++) {
    x = hook(blockInput(l), x)
    const xIn = x
    // Free the block's intermediates (attention scores, MLP activations: several times the
    // residual stream) as soon as it is done, not when the whole pass ends: peak activation
    // memory is then one block's, whatever the depth. Under a gradient tape the tensors the
    // backward pass needs are kept by the tape.
    const r = tf.tidy(() => {
      const bias = biases.get(arch.slidingWindows[l])!
      const b = decoderBlock(arch, params.layers[l]!, xIn, cosT, sinT, bias, pass.cache?.layers[l])
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
  const normed = rmsNorm(x, params.norm!, arch.rmsNormEps)
  if (hidden !== undefined) hidden.push(normed)
  if (pass.logitRows === undefined) return base
  if (params.lmHead === undefined) throw new RangeError("this model was loaded without an LM head (logits: false)")
  const flat = tf.reshape(normed, [B * T, H]) as tf.Tensor2D
  const picked = isIdentity(pass.logitRows, B * T) ? flat : gatherRows(flat, tf.tensor1d(pass.logitRows, "int32"))
  const logits = linear(picked, params.lmHead)
  return { ...base, logits: arch.finalSoftcap === undefined ? logits : softcap(logits, arch.finalSoftcap) }
}

// ---------------------------------------------------------------------------------------------
// Functional API over HF weights

/** A record from Hugging Face tensor name to tensor, linear weights `[out, in]` (y = x·Wᵀ + b). */
export type DecoderWeights = Readonly<Record<string, tf.Tensor>>

const sameShape = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
  a.length === b.length && a.every((d, i) => d === b[i])

/** The first problem with a weights record (missing tensor, wrong shape, non-float), or undefined. */
export const checkDecoderWeights = (arch: DecoderArch, weights: DecoderWeights): string | undefined => {
  for (const [name, shape] of decoderWeightShapes(arch)) {
    const t = weights[name]
    if (t === undefined) return `missing weight "${name}" (expected shape [${shape.join(", ")}])`
    if (!sameShape(t.shape, shape)) {
      return `weight "${name}" has shape [${t.shape.join(", ")}] but the config implies [${shape.join(", ")}]`
    }
    if (t.dtype !== "float32") return `weight "${name}" has dtype ${t.dtype}, expected float32`
  }
  return undefined
}

/**
 * `DecoderParams` view of an HF weights record (no copies except Gemma's `1 + w` norms; `[out, in]`
 * linear layers with training-friendly gradients).
 */
export const decoderParamsFromWeights = (arch: DecoderArch, weights: DecoderWeights): DecoderParams => {
  const problem = checkDecoderWeights(arch, weights)
  if (problem !== undefined) throw new RangeError(problem)
  const w = (name: string) => weights[name]! as tf.Tensor2D
  const b = (name: string) => weights[name]! as tf.Tensor1D
  const norm = (name: string) => (arch.normPlusOne ? (tf.add(b(name), 1) as tf.Tensor1D) : b(name))
  const lin = (s: { readonly w: string; readonly b?: string }): Linear => ({
    w: w(s.w),
    layout: "outInTrain",
    ...(s.b !== undefined ? { b: b(s.b) } : {})
  })
  return {
    arch,
    embed: { kind: "rows", table: w(EMBED) },
    layers: Array.from({ length: arch.numLayers }, (_, i) => mapLayerParts(layerSlots(arch, i), norm, lin)),
    norm: norm(FINAL_NORM),
    lmHead: lin({ w: arch.tieWordEmbeddings ? EMBED : LM_HEAD })
  }
}

const ropeTables = new Map<string, RopeTable>()
/** A shared rotary table for the architecture's frequencies. */
export const ropeTableFor = (arch: DecoderArch): RopeTable => {
  let t = ropeTables.get(arch.ropeKey)
  if (t === undefined) {
    t = new RopeTable(arch.headDim, arch.ropeInvFreq)
    ropeTables.set(arch.ropeKey, t)
  }
  return t
}

export interface DecoderForwardOptions {
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

export interface DecoderForwardResult {
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
export const decoderForward = (
  arch: DecoderArch,
  weights: DecoderWeights,
  inputIds: ReadonlyArray<ReadonlyArray<number>> | tf.Tensor2D,
  options: DecoderForwardOptions = {}
): DecoderForwardResult => {
  const params = decoderParamsFromWeights(arch, weights)
  const { B, T, flat } =
    inputIds instanceof tf.Tensor
      ? { B: inputIds.shape[0], T: inputIds.shape[1], flat: Int32Array.from(inputIds.dataSync()) }
      : rectangular(inputIds, "inputIds")
  for (let i = 0; i < flat.length; i++) {
    const id = flat[i]!
    if (id < 0 || id >= arch.vocabSize) {
      throw new RangeError(
        `token id ${id} at row ${Math.floor(i / T)}, position ${i % T} is out of range [0, ${arch.vocabSize})`
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
  const r = runDecoder(params, ropeTableFor(arch), {
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
    ...(r.logits !== undefined ? { logits: tf.reshape(r.logits, [B, T, arch.vocabSize]) as tf.Tensor3D } : {}),
    ...(r.hiddenStates !== undefined ? { hiddenStates: r.hiddenStates } : {})
  }
}
