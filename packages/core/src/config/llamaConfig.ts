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
import { Effect, type FileSystem, type Path, Schema } from "effect"
import type { DecoderArch } from "../decoder/arch.js"
import { type RopeScaling, ropeInvFreq } from "../decoder/rope.js"
import type { UnsupportedConfigError } from "../model/LanguageModel.js"
import {
  allGlobal,
  type DecoderConfigBase,
  decodeDecoderConfig,
  decoderArchShape,
  decoderConfigBase,
  decoderConfigFields,
  headGeometry,
  invalidField,
  PositiveInt,
  PositiveNumber,
  unsupportedField
} from "./decoderConfig.js"
import { type ConfigError, readConfigWith } from "./errors.js"

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
export interface LlamaConfig extends DecoderConfigBase {
  readonly model_type: "llama" | "mistral"
  readonly rope_scaling?: RopeScaling
  readonly attention_bias: boolean
  readonly mlp_bias: boolean
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
export const parseLlamaConfig = Effect.fn("parseLlamaConfig")(function* (
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
  const geometry = yield* headGeometry(c, where)
  const ropeScaling = c.rope_scaling == null ? undefined : yield* parseRopeScaling(where, c.rope_scaling)
  return {
    model_type: c.model_type === "mistral" ? "mistral" : "llama",
    ...decoderConfigBase(c, geometry, LLAMA_DEFAULTS),
    ...(ropeScaling !== undefined ? { rope_scaling: ropeScaling } : {}),
    attention_bias: c.attention_bias ?? false,
    mlp_bias: c.mlp_bias ?? false
  } satisfies LlamaConfig
})

/** Reads and validates `<dir>/config.json`. */
export const readLlamaConfig = (
  dir: string
): Effect.Effect<LlamaConfig, ConfigError | UnsupportedConfigError, FileSystem.FileSystem | Path.Path> =>
  readConfigWith(dir, parseLlamaConfig)

/** The shared decoder's view of a Llama config: SwiGLU, plain RMSNorm, optional biases, scaled RoPE. */
export const llamaArch = (config: LlamaConfig): DecoderArch => ({
  family: "llama",
  ...decoderArchShape(config),
  normPlusOne: false,
  sandwichNorms: false,
  activation: "silu",
  bias: { qkv: config.attention_bias, o: config.attention_bias, mlp: config.mlp_bias },
  attnScale: 1 / Math.sqrt(config.head_dim),
  slidingWindows: allGlobal(config.num_hidden_layers),
  ropeInvFreq: ropeInvFreq(config.head_dim, config.rope_theta, config.rope_scaling),
  ropeKey: `${config.head_dim}:${config.rope_theta}:${JSON.stringify(config.rope_scaling ?? null)}`
})
