/**
 * Hugging Face `config.json` for the Llama architecture (`model_type: "llama"`, Llama 2 / 3.x) and
 * Mistral-style checkpoints without a sliding window (`model_type: "mistral"`, same computation),
 * parsed into a typed, defaults-applied `LlamaConfig` (defaults as transformers' `LlamaConfig`).
 *
 * Implemented: GQA, `head_dim` given or implied, optional `attention_bias` (q/k/v/o) and
 * `mlp_bias`, tied or untied embeddings, RoPE with `rope_scaling` of type `llama3` or `linear`.
 * Anything else (another activation, another RoPE scaling, a sliding window, quantisation) is an
 * `UnsupportedConfigError` naming the field.
 */
import * as path from "node:path"
import { Effect, Schema } from "effect"
import type { DecoderArch } from "../decoder/arch.js"
import { type RopeScaling, ropeInvFreq } from "../decoder/rope.js"
import type { UnsupportedConfigError } from "../model/LanguageModel.js"
import {
  decodeDecoderConfig,
  decoderConfigFields,
  headGeometry,
  invalidField,
  PositiveInt,
  PositiveNumber,
  tokenFields,
  unsupportedField
} from "./decoderConfig.js"
import { type ConfigError, readJsonFile } from "./errors.js"

export const LLAMA_MODEL_TYPES = ["llama", "mistral"] as const

const RopeScalingJson = Schema.Struct({
  rope_type: Schema.optional(Schema.String),
  type: Schema.optional(Schema.String),
  factor: Schema.optional(PositiveNumber),
  low_freq_factor: Schema.optional(PositiveNumber),
  high_freq_factor: Schema.optional(PositiveNumber),
  original_max_position_embeddings: Schema.optional(PositiveInt)
})

export const LlamaConfigJson = Schema.Struct({
  ...decoderConfigFields,
  hidden_act: Schema.optional(Schema.String),
  attention_bias: Schema.optional(Schema.Boolean),
  mlp_bias: Schema.optional(Schema.Boolean),
  rope_scaling: Schema.optional(Schema.NullOr(RopeScalingJson)),
  sliding_window: Schema.optional(Schema.NullOr(Schema.Int)),
  pretraining_tp: Schema.optional(PositiveInt)
})

/** A validated Llama configuration with every default applied. */
export interface LlamaConfig {
  readonly model_type: "llama" | "mistral"
  readonly vocab_size: number
  readonly hidden_size: number
  readonly intermediate_size: number
  readonly num_hidden_layers: number
  readonly num_attention_heads: number
  readonly num_key_value_heads: number
  readonly head_dim: number
  readonly max_position_embeddings: number
  readonly rms_norm_eps: number
  readonly rope_theta: number
  readonly rope_scaling?: RopeScaling
  readonly attention_bias: boolean
  readonly mlp_bias: boolean
  readonly tie_word_embeddings: boolean
  readonly bos_token_id?: number
  readonly eos_token_id?: number | ReadonlyArray<number>
  readonly pad_token_id?: number
  readonly torch_dtype?: string
}

/** transformers' `LlamaConfig` defaults for the optional fields. */
export const LLAMA_DEFAULTS = {
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: false
} as const

const parseRopeScaling = (
  where: string,
  r: typeof RopeScalingJson.Type
): Effect.Effect<RopeScaling | undefined, ConfigError | UnsupportedConfigError> =>
  Effect.gen(function* () {
    const type = r.rope_type ?? r.type ?? "default"
    const field = r.rope_type !== undefined ? "rope_scaling.rope_type" : "rope_scaling.type"
    const need = (name: keyof typeof r) =>
      r[name] === undefined
        ? Effect.fail(invalidField(where, `rope_scaling.${name}`, `required for rope_type "${type}"`))
        : Effect.succeed(r[name] as number)
    switch (type) {
      case "default":
        return undefined
      case "linear":
        return { type: "linear", factor: yield* need("factor") }
      case "llama3": {
        const lowFreqFactor = yield* need("low_freq_factor")
        const highFreqFactor = yield* need("high_freq_factor")
        if (highFreqFactor <= lowFreqFactor) {
          return yield* invalidField(
            where,
            "rope_scaling.high_freq_factor",
            `${highFreqFactor} must exceed low_freq_factor ${lowFreqFactor}`
          )
        }
        return {
          type: "llama3",
          factor: yield* need("factor"),
          lowFreqFactor,
          highFreqFactor,
          originalMaxPositionEmbeddings: yield* need("original_max_position_embeddings")
        }
      }
      default:
        return yield* unsupportedField(where, field, type, 'only "llama3" and "linear" RoPE scaling are implemented')
    }
  })

/** Validates a parsed `config.json` object. `where` names the source in messages. */
export const parseLlamaConfig = Effect.fnUntraced(function* (
  json: unknown,
  where = "config.json"
): Effect.fn.Return<LlamaConfig, ConfigError | UnsupportedConfigError> {
  const c = yield* decodeDecoderConfig(LlamaConfigJson, json, where, "Llama", LLAMA_MODEL_TYPES)
  if (c.hidden_act !== undefined && c.hidden_act !== "silu") {
    return yield* unsupportedField(where, "hidden_act", c.hidden_act, 'only "silu" (SwiGLU) is implemented')
  }
  if (c.sliding_window != null) {
    return yield* unsupportedField(
      where,
      "sliding_window",
      c.sliding_window,
      "sliding-window attention is not implemented for Llama/Mistral (set it to null for full attention)"
    )
  }
  // Mistral's config default is a 4096 window: a mistral config must say null explicitly.
  if (c.model_type === "mistral" && !("sliding_window" in (json as object))) {
    return yield* unsupportedField(
      where,
      "sliding_window",
      "absent (Mistral's default is 4096)",
      "sliding-window attention is not implemented for Mistral; only configs with sliding_window: null load"
    )
  }
  const { numKeyValueHeads, headDim } = yield* headGeometry(c, where)
  const ropeScaling = c.rope_scaling == null ? undefined : yield* parseRopeScaling(where, c.rope_scaling)
  return {
    model_type: c.model_type === "mistral" ? "mistral" : "llama",
    vocab_size: c.vocab_size,
    hidden_size: c.hidden_size,
    intermediate_size: c.intermediate_size,
    num_hidden_layers: c.num_hidden_layers,
    num_attention_heads: c.num_attention_heads,
    num_key_value_heads: numKeyValueHeads,
    head_dim: headDim,
    max_position_embeddings: c.max_position_embeddings ?? LLAMA_DEFAULTS.max_position_embeddings,
    rms_norm_eps: c.rms_norm_eps ?? LLAMA_DEFAULTS.rms_norm_eps,
    rope_theta: c.rope_theta ?? LLAMA_DEFAULTS.rope_theta,
    ...(ropeScaling !== undefined ? { rope_scaling: ropeScaling } : {}),
    attention_bias: c.attention_bias ?? false,
    mlp_bias: c.mlp_bias ?? false,
    tie_word_embeddings: c.tie_word_embeddings ?? LLAMA_DEFAULTS.tie_word_embeddings,
    ...tokenFields(c)
  } satisfies LlamaConfig
})

/** Reads and validates `<dir>/config.json`. */
export const readLlamaConfig = (dir: string): Effect.Effect<LlamaConfig, ConfigError | UnsupportedConfigError> => {
  const file = path.join(dir, "config.json")
  return Effect.flatMap(readJsonFile(file), (json) => parseLlamaConfig(json, file))
}

/** The shared decoder's view of a Llama config: SwiGLU, plain RMSNorm, optional biases, scaled RoPE. */
export const llamaArch = (config: LlamaConfig): DecoderArch => ({
  family: "llama",
  vocabSize: config.vocab_size,
  hiddenSize: config.hidden_size,
  intermediateSize: config.intermediate_size,
  numLayers: config.num_hidden_layers,
  numHeads: config.num_attention_heads,
  numKvHeads: config.num_key_value_heads,
  headDim: config.head_dim,
  rmsNormEps: config.rms_norm_eps,
  normPlusOne: false,
  sandwichNorms: false,
  activation: "silu",
  bias: { qkv: config.attention_bias, o: config.attention_bias, mlp: config.mlp_bias },
  attnScale: 1 / Math.sqrt(config.head_dim),
  slidingWindows: Array.from({ length: config.num_hidden_layers }, () => undefined),
  ropeInvFreq: ropeInvFreq(config.head_dim, config.rope_theta, config.rope_scaling),
  ropeKey: `${config.head_dim}:${config.rope_theta}:${JSON.stringify(config.rope_scaling ?? null)}`,
  tieWordEmbeddings: config.tie_word_embeddings
})
