/**
 * Qwen2 weights in Hugging Face naming and layout: a record from tensor name to `tf.Tensor`,
 * linear weights `[out_features, in_features]` (y = x·Wᵀ + b). This is the form `qwen2Forward`,
 * `initQwen2Weights` and `saveQwen2` use; the loaded LanguageModel converts it to its own layout.
 */
import type * as tf from "@tensorflow/tfjs-core"
import type { Qwen2Config } from "../config/qwen2Config.js"

export type Qwen2Weights = Readonly<Record<string, tf.Tensor>>

export const EMBED = "model.embed_tokens.weight"
export const FINAL_NORM = "model.norm.weight"
export const LM_HEAD = "lm_head.weight"

export const layerPrefix = (i: number): string => `model.layers.${i}`

/** Names of one decoder layer's tensors. */
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
    postNorm: `${p}.post_attention_layernorm.weight`,
    gateW: `${p}.mlp.gate_proj.weight`,
    upW: `${p}.mlp.up_proj.weight`,
    downW: `${p}.mlp.down_proj.weight`
  } as const
}

/**
 * Every tensor a checkpoint of `config` must hold, with its shape, in the order transformers
 * lists them. `lm_head.weight` only when the embeddings are not tied.
 */
export const qwen2WeightShapes = (config: Qwen2Config): ReadonlyMap<string, ReadonlyArray<number>> => {
  const H = config.hidden_size
  const D = config.head_dim
  const q = config.num_attention_heads * D
  const kv = config.num_key_value_heads * D
  const I = config.intermediate_size
  const m = new Map<string, ReadonlyArray<number>>()
  m.set(EMBED, [config.vocab_size, H])
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const n = layerNames(i)
    m.set(n.qW, [q, H])
    m.set(n.qB, [q])
    m.set(n.kW, [kv, H])
    m.set(n.kB, [kv])
    m.set(n.vW, [kv, H])
    m.set(n.vB, [kv])
    m.set(n.oW, [H, q])
    m.set(n.gateW, [I, H])
    m.set(n.upW, [I, H])
    m.set(n.downW, [H, I])
    m.set(n.inputNorm, [H])
    m.set(n.postNorm, [H])
  }
  m.set(FINAL_NORM, [H])
  if (!config.tie_word_embeddings) m.set(LM_HEAD, [config.vocab_size, H])
  return m
}

/** Number of parameters (tied embeddings counted once). */
export const qwen2ParameterCount = (config: Qwen2Config): number => {
  let n = 0
  for (const shape of qwen2WeightShapes(config).values()) n += shape.reduce((a, b) => a * b, 1)
  return n
}

const sameShape = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
  a.length === b.length && a.every((d, i) => d === b[i])

/** The first problem with a weights record (missing tensor, wrong shape, non-float), or undefined. */
export const checkQwen2Weights = (config: Qwen2Config, weights: Qwen2Weights): string | undefined => {
  for (const [name, shape] of qwen2WeightShapes(config)) {
    const t = weights[name]
    if (t === undefined) return `missing weight "${name}" (expected shape [${shape.join(", ")}])`
    if (!sameShape(t.shape, shape)) {
      return `weight "${name}" has shape [${t.shape.join(", ")}] but the config implies [${shape.join(", ")}]`
    }
    if (t.dtype !== "float32") return `weight "${name}" has dtype ${t.dtype}, expected float32`
  }
  return undefined
}
