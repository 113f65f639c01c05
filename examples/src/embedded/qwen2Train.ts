/**
 * A functional Qwen2 forward pass over TensorFlow.js variables, differentiable under
 * `tf.variableGrads`, used to train the embedded model pair, plus HF-layout saving.
 *
 * It follows transformers' `Qwen2ForCausalLM` exactly (RMSNorm, q/k/v biases, GQA, rotate-half
 * RoPE, SwiGLU MLP, tied or untied head); `examples/test/embedded.test.ts` checks it against the
 * golden vectors of ../shared/golden when present, and against core's `loadModel` on the saved
 * models.
 */

import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  type ConfigError,
  type ModelSaveError,
  parseQwen2Config,
  type Qwen2Weights as Qwen2WeightsRecord,
  saveQwen2,
  type UnsupportedConfigError
} from "@crosscode/core"
import type * as tfNs from "@tensorflow/tfjs"
import { Effect } from "effect"
import { makeRng } from "./rng.js"

type Tf = typeof tfNs
type Tensor = tfNs.Tensor
type Variable = tfNs.Variable

export interface Qwen2Config {
  readonly architectures: ReadonlyArray<string>
  readonly model_type: "qwen2"
  readonly hidden_size: number
  readonly intermediate_size: number
  readonly num_hidden_layers: number
  readonly num_attention_heads: number
  readonly num_key_value_heads: number
  readonly vocab_size: number
  readonly max_position_embeddings: number
  readonly rms_norm_eps: number
  readonly rope_theta: number
  readonly tie_word_embeddings: boolean
  readonly hidden_act: "silu"
  readonly torch_dtype: string
  readonly bos_token_id: number
  readonly eos_token_id: number
  readonly [k: string]: unknown
}

/** HF tensor name → variable. Linear weights are [out, in]. */
export type Qwen2Weights = Map<string, Variable>

export const layerNames = (i: number): ReadonlyArray<string> => {
  const p = `model.layers.${i}.`
  return [
    `${p}input_layernorm.weight`,
    `${p}self_attn.q_proj.weight`,
    `${p}self_attn.q_proj.bias`,
    `${p}self_attn.k_proj.weight`,
    `${p}self_attn.k_proj.bias`,
    `${p}self_attn.v_proj.weight`,
    `${p}self_attn.v_proj.bias`,
    `${p}self_attn.o_proj.weight`,
    `${p}post_attention_layernorm.weight`,
    `${p}mlp.gate_proj.weight`,
    `${p}mlp.up_proj.weight`,
    `${p}mlp.down_proj.weight`
  ]
}

export const weightShapes = (c: Qwen2Config): Map<string, Array<number>> => {
  const h = c.hidden_size
  const hd = h / c.num_attention_heads
  const kv = c.num_key_value_heads * hd
  const m = new Map<string, Array<number>>()
  m.set("model.embed_tokens.weight", [c.vocab_size, h])
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`
    m.set(`${p}input_layernorm.weight`, [h])
    m.set(`${p}self_attn.q_proj.weight`, [h, h])
    m.set(`${p}self_attn.q_proj.bias`, [h])
    m.set(`${p}self_attn.k_proj.weight`, [kv, h])
    m.set(`${p}self_attn.k_proj.bias`, [kv])
    m.set(`${p}self_attn.v_proj.weight`, [kv, h])
    m.set(`${p}self_attn.v_proj.bias`, [kv])
    m.set(`${p}self_attn.o_proj.weight`, [h, h])
    m.set(`${p}post_attention_layernorm.weight`, [h])
    m.set(`${p}mlp.gate_proj.weight`, [c.intermediate_size, h])
    m.set(`${p}mlp.up_proj.weight`, [c.intermediate_size, h])
    m.set(`${p}mlp.down_proj.weight`, [h, c.intermediate_size])
  }
  m.set("model.norm.weight", [h])
  if (!c.tie_word_embeddings) m.set("lm_head.weight", [c.vocab_size, h])
  return m
}

/**
 * Deterministic init (seeded): N(0, std) for embeddings and linear weights, with the output
 * projections (o_proj, down_proj) scaled by 1/sqrt(2·layers); zero biases; unit norms.
 */
export const initWeights = (tf: Tf, c: Qwen2Config, seed: number, std = 0.02): Qwen2Weights => {
  const rng = makeRng(seed)
  const w: Qwen2Weights = new Map()
  for (const [name, shape] of weightShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1)
    const data = new Float32Array(n)
    if (name.endsWith("norm.weight")) data.fill(1)
    else if (!name.endsWith(".bias")) {
      const s = /o_proj|down_proj/.test(name) ? std / Math.sqrt(2 * c.num_hidden_layers) : std
      for (let i = 0; i < n; i++) data[i] = rng.normal() * s
    }
    w.set(name, tf.variable(tf.tensor(data, shape, "float32"), true, name))
  }
  return w
}

const get = (w: ReadonlyMap<string, Tensor>, name: string): Tensor => {
  const t = w.get(name)
  if (t === undefined) throw new Error(`missing weight ${name}`)
  return t
}

const rmsNorm = (tf: Tf, x: Tensor, weight: Tensor, eps: number): Tensor =>
  tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), weight)

/**
 * 2-D matmul whose forward and backward only use untransposed matmuls: on the wasm backend a
 * matmul with a transposed operand is ~10× slower than an explicit transpose plus a plain one.
 */
const swapLast = (tf: Tf, t: Tensor): Tensor => {
  const r = t.rank
  const perm = Array.from({ length: r }, (_, i) => i)
  perm[r - 2] = r - 1
  perm[r - 1] = r - 2
  return tf.transpose(t, perm)
}

/** Same-rank matmul (2-D or batched with equal batch dims), transposes made explicit in both passes. */
const mmCache = new WeakMap<Tf, (a: Tensor, b: Tensor) => Tensor>()
export const mm2d = (tf: Tf, a: Tensor, b: Tensor): Tensor => {
  let f = mmCache.get(tf)
  if (f === undefined) {
    const body = (...args: Array<Tensor | tfNs.GradSaveFunc>) => {
      const x = args[0] as Tensor
      const y = args[1] as Tensor
      ;(args[2] as tfNs.GradSaveFunc)([x, y])
      return {
        value: tf.matMul(x as tfNs.Tensor2D, y as tfNs.Tensor2D),
        gradFunc: (dy: Tensor, saved: Array<Tensor>) => [
          tf.matMul(dy as tfNs.Tensor2D, swapLast(tf, saved[1] as Tensor) as tfNs.Tensor2D),
          tf.matMul(swapLast(tf, saved[0] as Tensor) as tfNs.Tensor2D, dy as tfNs.Tensor2D)
        ]
      }
    }
    f = tf.customGrad(body as unknown as Parameters<Tf["customGrad"]>[0]) as unknown as (a: Tensor, b: Tensor) => Tensor
    mmCache.set(tf, f)
  }
  return f(a, b)
}

/** y = x·Wᵀ + b over the last axis (as a 2-D matmul: tfjs's broadcast batch-matmul gradient is wrong). */
const linear = (tf: Tf, x: Tensor, w: Tensor, b?: Tensor): Tensor => {
  const inF = x.shape[x.shape.length - 1] as number
  const outF = w.shape[0] as number
  const y2 = mm2d(tf, tf.reshape(x, [-1, inF]), tf.transpose(w))
  const y = tf.reshape(y2, [...x.shape.slice(0, -1), outF])
  return b === undefined ? y : tf.add(y, b)
}

/** cos/sin tables [T, headDim] (rotate-half layout: the frequencies repeated twice). */
export const ropeTables = (tf: Tf, c: Qwen2Config, T: number): { cos: Tensor; sin: Tensor } => {
  const hd = c.hidden_size / c.num_attention_heads
  const half = hd / 2
  const cos = new Float32Array(T * hd)
  const sin = new Float32Array(T * hd)
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const invFreq = 1 / c.rope_theta ** ((2 * i) / hd)
      const a = Math.fround(t * Math.fround(invFreq))
      cos[t * hd + i] = cos[t * hd + i + half] = Math.cos(a)
      sin[t * hd + i] = sin[t * hd + i + half] = Math.sin(a)
    }
  }
  return { cos: tf.tensor(cos, [T, hd]), sin: tf.tensor(sin, [T, hd]) }
}

const rope = (tf: Tf, x: Tensor, cos: Tensor, sin: Tensor): Tensor => {
  // x: [B, T, heads, hd]; cos/sin: [T, 1, hd]
  const hd = x.shape[3] as number
  const [x1, x2] = tf.split(x, [hd / 2, hd / 2], 3)
  const rot = tf.concat([tf.neg(x2 as Tensor), x1 as Tensor], 3)
  return tf.add(tf.mul(x, cos), tf.mul(rot, sin))
}

export interface KvCache {
  /** Per layer `[1, kvHeads, Tpast, headDim]` (before GQA expansion). */
  readonly k: ReadonlyArray<Tensor>
  readonly v: ReadonlyArray<Tensor>
  readonly length: number
}

/**
 * Final hidden states (after the final norm) `[B, T, H]` for right-padded `ids` `[B, T]`
 * (causal attention, so padding after a sequence never affects its real positions). With
 * `past` (batch 1), `ids` are the next tokens after the cached ones; the updated cache is
 * returned in `cache`.
 */
export const forwardHiddenCached = (
  tf: Tf,
  c: Qwen2Config,
  w: ReadonlyMap<string, Tensor>,
  ids: Tensor,
  past?: KvCache,
  /** Embed with a one-hot matmul (the wasm backend has no gradient kernel for gather). */
  differentiable = false
): { hidden: Tensor; cache: KvCache } => {
  const [B, T] = ids.shape as [number, number]
  const P = past?.length ?? 0
  const S = P + T
  const H = c.hidden_size
  const nh = c.num_attention_heads
  const nkv = c.num_key_value_heads
  const hd = H / nh
  const rep = nh / nkv
  const G = B * nkv
  const tables = ropeTables(tf, c, S)
  const cos = tf.reshape(P === 0 ? tables.cos : tf.slice(tables.cos, [P, 0], [T, hd]), [T, 1, hd])
  const sin = tf.reshape(P === 0 ? tables.sin : tf.slice(tables.sin, [P, 0], [T, hd]), [T, 1, hd])
  // [rep*T, S] (the query heads of one KV group stacked): 0 where key pos <= query pos (P + t), -1e9 elsewhere
  const maskData = new Float32Array(rep * T * S)
  for (let r = 0; r < rep; r++) {
    for (let t = 0; t < T; t++) for (let j = P + t + 1; j < S; j++) maskData[(r * T + t) * S + j] = -1e9
  }
  const mask = tf.tensor2d(maskData, [rep * T, S])
  const newK: Array<Tensor> = []
  const newV: Array<Tensor> = []
  const embed = get(w, "model.embed_tokens.weight")
  let x = differentiable
    ? tf.reshape(mm2d(tf, tf.oneHot(tf.reshape(ids, [B * T]), c.vocab_size), embed), [B, T, H])
    : tf.gather(embed, ids) // [B, T, H]
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`
    const h = rmsNorm(tf, x, get(w, `${p}input_layernorm.weight`), c.rms_norm_eps)
    const proj = (name: string, n: number) =>
      tf.reshape(linear(tf, h, get(w, `${p}self_attn.${name}.weight`), get(w, `${p}self_attn.${name}.bias`)), [
        B,
        T,
        n,
        hd
      ])
    // q: [B, T, nh, hd] → [B, nkv, rep, T, hd] → [G, rep*T, hd] (query head = kv head * rep + r)
    const q = tf.reshape(
      tf.transpose(tf.reshape(rope(tf, proj("q_proj", nh), cos, sin), [B, T, nkv, rep, hd]), [0, 2, 3, 1, 4]),
      [G, rep * T, hd]
    )
    let k = tf.transpose(rope(tf, proj("k_proj", nkv), cos, sin), [0, 2, 1, 3]) // [B, nkv, T, hd]
    let v = tf.transpose(proj("v_proj", nkv), [0, 2, 1, 3])
    if (past !== undefined) {
      k = tf.concat([past.k[i] as Tensor, k], 2)
      v = tf.concat([past.v[i] as Tensor, v], 2)
    }
    newK.push(k)
    newV.push(v)
    // one 2-D matmul per (sequence, kv head): the wasm backend's batched matmul is ~10× slower
    const qs = G === 1 ? [q] : tf.split(q, G, 0)
    const ks = G === 1 ? [k] : tf.split(tf.reshape(k, [G, S, hd]), G, 0)
    const vs = G === 1 ? [v] : tf.split(tf.reshape(v, [G, S, hd]), G, 0)
    const outs = qs.map((qg, g) => {
      const q2 = tf.reshape(qg, [rep * T, hd])
      const k2 = tf.reshape(ks[g] as Tensor, [S, hd])
      const v2 = tf.reshape(vs[g] as Tensor, [S, hd])
      const scores = tf.add(tf.mul(mm2d(tf, q2, tf.transpose(k2)), 1 / Math.sqrt(hd)), mask)
      return mm2d(tf, tf.softmax(scores, -1), v2) // [rep*T, hd]
    })
    const att = tf.reshape(outs.length === 1 ? (outs[0] as Tensor) : tf.concat(outs, 0), [B, nkv, rep, T, hd])
    const merged = tf.reshape(tf.transpose(att, [0, 3, 1, 2, 4]), [B, T, H])
    x = tf.add(x, linear(tf, merged, get(w, `${p}self_attn.o_proj.weight`)))
    const h2 = rmsNorm(tf, x, get(w, `${p}post_attention_layernorm.weight`), c.rms_norm_eps)
    const gate = linear(tf, h2, get(w, `${p}mlp.gate_proj.weight`))
    const up = linear(tf, h2, get(w, `${p}mlp.up_proj.weight`))
    x = tf.add(x, linear(tf, tf.mul(tf.mul(gate, tf.sigmoid(gate)), up), get(w, `${p}mlp.down_proj.weight`)))
  }
  return { hidden: rmsNorm(tf, x, get(w, "model.norm.weight"), c.rms_norm_eps), cache: { k: newK, v: newV, length: S } }
}

export const forwardHidden = (tf: Tf, c: Qwen2Config, w: ReadonlyMap<string, Tensor>, ids: Tensor): Tensor =>
  forwardHiddenCached(tf, c, w, ids).hidden

/**
 * Greedy generation for one prompt with a KV cache. Stops at a stop id, after `maxNewTokens`,
 * or when `stopWhen(newIds)` says so. Returns the new ids.
 */
export const greedyGenerate = (
  tf: Tf,
  c: Qwen2Config,
  w: ReadonlyMap<string, Tensor>,
  prompt: ReadonlyArray<number>,
  maxNewTokens: number,
  stopIds: ReadonlyArray<number>,
  stopWhen: (ids: ReadonlyArray<number>) => boolean = () => false
): Array<number> => {
  const out: Array<number> = []
  let cache: KvCache | undefined
  let next = [...prompt]
  for (let step = 0; step < maxNewTokens; step++) {
    const { id, newCache } = tf.tidy(() => {
      const r = forwardHiddenCached(tf, c, w, tf.tensor2d([next], [1, next.length], "int32"), cache)
      const last = tf.slice(r.hidden, [0, next.length - 1, 0], [1, 1, c.hidden_size]).reshape([1, c.hidden_size])
      const logits = tf.matMul(last, tf.transpose(headWeight(c, w)))
      const id = (tf.argMax(logits, -1).dataSync() as Int32Array)[0] as number
      return {
        id,
        newCache: { k: r.cache.k.map((t) => tf.keep(t)), v: r.cache.v.map((t) => tf.keep(t)), length: r.cache.length }
      }
    })
    if (cache !== undefined) for (const t of [...cache.k, ...cache.v]) t.dispose()
    cache = newCache
    out.push(id)
    if (stopIds.includes(id) || stopWhen(out)) break
    next = [id]
  }
  if (cache !== undefined) for (const t of [...cache.k, ...cache.v]) t.dispose()
  return out
}

export const headWeight = (c: Qwen2Config, w: ReadonlyMap<string, Tensor>): Tensor =>
  get(w, c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight")

/** Logits `[B, T, V]`. */
export const forwardLogits = (tf: Tf, c: Qwen2Config, w: ReadonlyMap<string, Tensor>, ids: Tensor): Tensor =>
  tf.matMul(forwardHidden(tf, c, w, ids), tf.transpose(headWeight(c, w)))

/**
 * Mean next-token cross-entropy over the loss positions (flat indices `b*T + t`).
 * - sparse: `positions` [N] and their `targets` [N]; only those go through the LM head (selected
 *   with a one-hot matmul: the wasm backend has no gradient kernel for gather);
 * - dense: `targets` [B*T] and 0/1 `weight` [B*T] over every position.
 */
export type LossSpec =
  | { readonly kind: "sparse"; readonly positions: Tensor; readonly targets: Tensor }
  | { readonly kind: "dense"; readonly targets: Tensor; readonly weight: Tensor; readonly count: number }

export const maskedLoss = (
  tf: Tf,
  c: Qwen2Config,
  w: ReadonlyMap<string, Tensor>,
  ids: Tensor,
  spec: LossSpec
): tfNs.Scalar => {
  const [B, T] = ids.shape as [number, number]
  const hidden = tf.reshape(forwardHiddenCached(tf, c, w, ids, undefined, true).hidden, [B * T, c.hidden_size])
  const head = headWeight(c, w)
  if (spec.kind === "sparse") {
    const picked = mm2d(tf, tf.oneHot(spec.positions, B * T), hidden) // [N, H]
    const logp = tf.logSoftmax(mm2d(tf, picked, tf.transpose(head)), -1)
    return tf.neg(tf.mean(tf.sum(tf.mul(logp, tf.oneHot(spec.targets, c.vocab_size)), -1))) as tfNs.Scalar
  }
  const logp = tf.logSoftmax(mm2d(tf, hidden, tf.transpose(head)), -1) // [B*T, V]
  const nll = tf.neg(tf.sum(tf.mul(logp, tf.oneHot(spec.targets, c.vocab_size)), -1))
  return tf.div(tf.sum(tf.mul(nll, spec.weight)), spec.count) as tfNs.Scalar
}

// ---------------------------------------------------------------------------------------------
// Saving in HF layout (core's saveQwen2 + the tokenizer files)
// ---------------------------------------------------------------------------------------------

/** Write config.json, generation_config.json, model.safetensors (core's `saveQwen2`), tokenizer files. */
export const saveHfDir = (
  dir: string,
  c: Qwen2Config,
  weights: ReadonlyMap<string, Tensor>,
  tokenizer: { json: unknown; config: unknown },
  dtype: "F32" | "BF16"
): Effect.Effect<void, ModelSaveError | ConfigError | UnsupportedConfigError> =>
  Effect.gen(function* () {
    const config = yield* parseQwen2Config(c, `${dir}/config.json`)
    yield* saveQwen2(dir, config, Object.fromEntries(weights) as Qwen2WeightsRecord, {
      dtype,
      generationConfig: { doSample: false }
    })
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizer.json) + "\n")
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(tokenizer.config, null, 2) + "\n")
  })
