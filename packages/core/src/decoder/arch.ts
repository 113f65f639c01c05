/**
 * `DecoderArch`: the architecture of a Llama-like decoder (Qwen2, Llama, Mistral, Gemma 2) as the
 * shared forward pass and loader see it — shapes plus the few switches in which the families
 * differ (biases, norm form, sandwich norms, activation, embedding scale, attention scale and
 * soft-capping, per-layer sliding window, RoPE frequencies). Each family's config parser builds
 * one; the tensor names are Hugging Face's, which all these families share.
 */
import { decodeBF16, decodeF16, floatToBF16Bits, floatToHalfBits } from "../safetensors/dtypes.js"

/** Where a layer's tensors live in a Hugging Face checkpoint (`model.layers.{i}.…`). */
export const EMBED = "model.embed_tokens.weight"
export const FINAL_NORM = "model.norm.weight"
export const LM_HEAD = "lm_head.weight"

export const layerPrefix = (i: number): string => `model.layers.${i}`

/** Names of one decoder layer's tensors (a family uses a subset, see `layerSlots`). */
export const layerNames = (i: number) => {
  const p = layerPrefix(i)
  return {
    inputNorm: `${p}.input_layernorm.weight`,
    qW: `${p}.self_attn.q_proj.weight`,
    qB: `${p}.self_attn.q_proj.bias`,
    kW: `${p}.self_attn.k_proj.weight`,
    kB: `${p}.self_attn.k_proj.bias`,
    vW: `${p}.self_attn.v_proj.weight`,
    vB: `${p}.self_attn.v_proj.bias`,
    oW: `${p}.self_attn.o_proj.weight`,
    oB: `${p}.self_attn.o_proj.bias`,
    postNorm: `${p}.post_attention_layernorm.weight`,
    preFfNorm: `${p}.pre_feedforward_layernorm.weight`,
    postFfNorm: `${p}.post_feedforward_layernorm.weight`,
    gateW: `${p}.mlp.gate_proj.weight`,
    gateB: `${p}.mlp.gate_proj.bias`,
    upW: `${p}.mlp.up_proj.weight`,
    upB: `${p}.mlp.up_proj.bias`,
    downW: `${p}.mlp.down_proj.weight`,
    downB: `${p}.mlp.down_proj.bias`
  } as const
}

export interface DecoderArch {
  /** Family name for messages and `ModelInfo.family`, e.g. "llama". */
  readonly family: string
  readonly vocabSize: number
  readonly hiddenSize: number
  readonly intermediateSize: number
  readonly numLayers: number
  readonly numHeads: number
  readonly numKvHeads: number
  readonly headDim: number
  readonly rmsNormEps: number
  /** Gemma: RMSNorm multiplies by `1 + w` (formed in float32 at load) instead of `w`. */
  readonly normPlusOne: boolean
  /**
   * Gemma 2's "sandwich": the attention output and the MLP output are normed before their residual
   * adds (`post_attention_layernorm`, `post_feedforward_layernorm`) and the MLP input norm is
   * `pre_feedforward_layernorm`. Otherwise `post_attention_layernorm` is the MLP input norm.
   */
  readonly sandwichNorms: boolean
  /** MLP gate activation: SwiGLU (`silu`) or GeGLU with tanh GELU (`gelu_tanh`). */
  readonly activation: "silu" | "gelu_tanh"
  readonly bias: { readonly qkv: boolean; readonly o: boolean; readonly mlp: boolean }
  /** Multiplies the embedding rows (Gemma: sqrt(hidden) rounded to the model dtype); the tied LM head stays unscaled. */
  readonly embedScale?: number
  /** Attention score scale (`head_dim^-1/2`, Gemma 2: `query_pre_attn_scalar^-1/2`). */
  readonly attnScale: number
  /** `scores ← tanh(scores / c) · c` before the mask (Gemma 2). */
  readonly attnSoftcap?: number
  /** `logits ← tanh(logits / c) · c` (Gemma 2). */
  readonly finalSoftcap?: number
  /**
   * Per layer: the sliding window `w` (query `i` sees keys `j` with `i − w < j ≤ i`), or undefined
   * for global causal attention. Length `numLayers`.
   */
  readonly slidingWindows: ReadonlyArray<number | undefined>
  /** RoPE frequencies (float32), `headDim / 2` of them; `ropeKey` identifies them for table sharing. */
  readonly ropeInvFreq: Float32Array
  readonly ropeKey: string
  readonly tieWordEmbeddings: boolean
}

/** A linear layer's tensor names. */
export interface LinearSlot {
  readonly w: string
  readonly b?: string
}

/**
 * The parts of one decoder block, generic in what a norm (`N`) and a linear layer (`L`) are: tensor
 * names in a checkpoint (`LayerSlots`), loaded tensors (`DecoderLayerParams`), …
 */
// A type alias, not an interface: Effect.all needs it to be a record.
export type LayerParts<N, L> = {
  readonly inputNorm: N
  readonly q: L
  readonly k: L
  readonly v: L
  readonly o: L
  /** Norm of the attention output before its residual add (sandwich norms only). */
  readonly attnOutNorm?: N
  /** Norm of the MLP input. */
  readonly mlpNorm: N
  /** Norm of the MLP output before its residual add (sandwich norms only). */
  readonly mlpOutNorm?: N
  readonly gate: L
  readonly up: L
  readonly down: L
}

/** Which checkpoint tensors feed which part of layer `i`, per the architecture's switches. */
export type LayerSlots = LayerParts<string, LinearSlot>

/** Maps every part of a block (keys in checkpoint order, optional norms kept absent). */
export const mapLayerParts = <N, L, N2, L2>(
  p: LayerParts<N, L>,
  norm: (n: N) => N2,
  lin: (l: L) => L2
): LayerParts<N2, L2> => ({
  inputNorm: norm(p.inputNorm),
  q: lin(p.q),
  k: lin(p.k),
  v: lin(p.v),
  o: lin(p.o),
  ...(p.attnOutNorm !== undefined ? { attnOutNorm: norm(p.attnOutNorm) } : {}),
  mlpNorm: norm(p.mlpNorm),
  ...(p.mlpOutNorm !== undefined ? { mlpOutNorm: norm(p.mlpOutNorm) } : {}),
  gate: lin(p.gate),
  up: lin(p.up),
  down: lin(p.down)
})

/** Every norm and every linear layer of a block. */
export const layerPartsList = <N, L>(
  p: LayerParts<N, L>
): { readonly norms: Array<N>; readonly linears: Array<L> } => ({
  norms: [p.inputNorm, p.attnOutNorm, p.mlpNorm, p.mlpOutNorm].filter((n): n is N => n !== undefined),
  linears: [p.q, p.k, p.v, p.o, p.gate, p.up, p.down]
})

export const layerSlots = (arch: DecoderArch, i: number): LayerSlots => {
  const n = layerNames(i)
  const lin = (w: string, b: string, withBias: boolean): LinearSlot => (withBias ? { w, b } : { w })
  return {
    inputNorm: n.inputNorm,
    q: lin(n.qW, n.qB, arch.bias.qkv),
    k: lin(n.kW, n.kB, arch.bias.qkv),
    v: lin(n.vW, n.vB, arch.bias.qkv),
    o: lin(n.oW, n.oB, arch.bias.o),
    ...(arch.sandwichNorms
      ? { attnOutNorm: n.postNorm, mlpNorm: n.preFfNorm, mlpOutNorm: n.postFfNorm }
      : { mlpNorm: n.postNorm }),
    gate: lin(n.gateW, n.gateB, arch.bias.mlp),
    up: lin(n.upW, n.upB, arch.bias.mlp),
    down: lin(n.downW, n.downB, arch.bias.mlp)
  }
}

/**
 * Every tensor a checkpoint of `arch` must hold, with its shape, in the order transformers lists
 * them. `lm_head.weight` only when the embeddings are not tied.
 */
export const decoderWeightShapes = (arch: DecoderArch): ReadonlyMap<string, ReadonlyArray<number>> => {
  const H = arch.hiddenSize
  const q = arch.numHeads * arch.headDim
  const kv = arch.numKvHeads * arch.headDim
  const I = arch.intermediateSize
  const m = new Map<string, ReadonlyArray<number>>()
  const lin = (s: LinearSlot, out: number, inp: number) => {
    m.set(s.w, [out, inp])
    if (s.b !== undefined) m.set(s.b, [out])
  }
  m.set(EMBED, [arch.vocabSize, H])
  for (let i = 0; i < arch.numLayers; i++) {
    const s = layerSlots(arch, i)
    lin(s.q, q, H)
    lin(s.k, kv, H)
    lin(s.v, kv, H)
    lin(s.o, H, q)
    lin(s.gate, I, H)
    lin(s.up, I, H)
    lin(s.down, H, I)
    for (const n of layerPartsList(s).norms) m.set(n, [H])
  }
  m.set(FINAL_NORM, [H])
  if (!arch.tieWordEmbeddings) m.set(LM_HEAD, [arch.vocabSize, H])
  return m
}

/**
 * The tensor names a load with `maxLayer` needs (embeddings + blocks `0..maxLayer`), as a
 * predicate for `openCheckpoint(dir, { select })`; every name when `maxLayer` is undefined.
 */
export const decoderTensorsUpTo = (maxLayer: number | undefined): ((name: string) => boolean) => {
  if (maxLayer === undefined) return () => true
  return (name) => {
    if (name === EMBED) return true
    const m = /^model\.layers\.(\d+)\./.exec(name)
    return m !== null && Number(m[1]) <= maxLayer
  }
}

/** `x` rounded to a storage dtype's precision (float32, or bfloat16 / float16 when named). */
export const roundToDtype = (x: number, dtype: string | undefined): number =>
  dtype === "bfloat16"
    ? decodeBF16(Uint16Array.of(floatToBF16Bits(x)))[0]!
    : dtype === "float16"
      ? decodeF16(Uint16Array.of(floatToHalfBits(x)))[0]!
      : Math.fround(x)
