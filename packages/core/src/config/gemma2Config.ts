/**
 * Hugging Face `config.json` for Gemma 2 (`model_type: "gemma2"`), parsed into a typed,
 * defaults-applied `Gemma2Config` (defaults as transformers' `Gemma2Config`).
 *
 * Gemma 2 differs from Llama in: embeddings × sqrt(hidden_size) (rounded to the model dtype),
 * `(1 + w)` RMSNorm, four norms per block (pre/post attention and feed-forward), GeGLU with tanh
 * GELU, attention scaled by `query_pre_attn_scalar^-1/2` and soft-capped, final-logit soft-capping,
 * a sliding window on the even layers (0, 2, …; transformers' `not layer_idx % 2`) and a
 * `head_dim` independent of hidden / heads. Other activations, RoPE scaling and quantisation are
 * an `UnsupportedConfigError` naming the field.
 */
import { Effect, type FileSystem, type Path, Schema } from "effect"
import { type DecoderArch, roundToDtype } from "../decoder/arch.js"
import { ropeInvFreq } from "../decoder/rope.js"
import type { UnsupportedConfigError } from "../model/LanguageModel.js"
import {
  type DecoderConfigBase,
  decodeDecoderConfig,
  decoderArchShape,
  decoderConfigBase,
  decoderConfigFields,
  headGeometry,
  PositiveInt,
  PositiveNumber,
  unsupportedField
} from "./decoderConfig.js"
import { type ConfigError, readConfigWith } from "./errors.js"

export const Gemma2ConfigJson = Schema.Struct({
  ...decoderConfigFields,
  hidden_act: Schema.optional(Schema.NullOr(Schema.String)),
  hidden_activation: Schema.optional(Schema.NullOr(Schema.String)),
  attention_bias: Schema.optional(Schema.Boolean),
  query_pre_attn_scalar: Schema.optional(PositiveNumber),
  sliding_window: Schema.optional(Schema.NullOr(PositiveInt)),
  attn_logit_softcapping: Schema.optional(Schema.NullOr(PositiveNumber)),
  final_logit_softcapping: Schema.optional(Schema.NullOr(PositiveNumber)),
  rope_scaling: Schema.optional(Schema.NullOr(Schema.Unknown)),
  cache_implementation: Schema.optional(Schema.NullOr(Schema.String))
})

/** A validated Gemma 2 configuration with every default applied. */
export interface Gemma2Config extends DecoderConfigBase {
  readonly model_type: "gemma2"
  readonly attention_bias: boolean
  readonly query_pre_attn_scalar: number
  /** Window of the sliding (even) layers; undefined: every layer global. */
  readonly sliding_window?: number
  readonly attn_logit_softcapping?: number
  readonly final_logit_softcapping?: number
}

/** transformers' `Gemma2Config` defaults for the optional fields. */
export const GEMMA2_DEFAULTS = {
  head_dim: 256,
  max_position_embeddings: 8192,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  query_pre_attn_scalar: 224,
  sliding_window: 4096,
  attn_logit_softcapping: 50,
  final_logit_softcapping: 30,
  tie_word_embeddings: true
} as const

/** Activations computed as GELU with the tanh approximation. */
const GELU_TANH = ["gelu_pytorch_tanh", "gelu_new", "gelu_fast"]

/** Validates a parsed `config.json` object. `where` names the source in messages. */
export const parseGemma2Config = Effect.fn("parseGemma2Config")(function* (
  json: unknown,
  where = "config.json"
): Effect.fn.Return<Gemma2Config, ConfigError | UnsupportedConfigError> {
  const c = yield* decodeDecoderConfig(Gemma2ConfigJson, json, where, "Gemma 2", ["gemma2"])
  // transformers' Gemma2MLP uses hidden_activation; real configs carry both.
  const [actField, act] =
    c.hidden_activation != null
      ? ["hidden_activation", c.hidden_activation]
      : ["hidden_act", c.hidden_act ?? "gelu_pytorch_tanh"]
  if (!GELU_TANH.includes(act)) {
    return yield* unsupportedField(
      where,
      actField,
      act,
      `only tanh-approximated GELU (${GELU_TANH.join(", ")}) is implemented`
    )
  }
  if (c.rope_scaling != null) {
    return yield* unsupportedField(where, "rope_scaling", c.rope_scaling, "RoPE scaling is not implemented for Gemma 2")
  }
  const geometry = yield* headGeometry(c, where, GEMMA2_DEFAULTS.head_dim)
  const window = c.sliding_window === undefined ? GEMMA2_DEFAULTS.sliding_window : c.sliding_window
  const attnCap =
    c.attn_logit_softcapping === undefined ? GEMMA2_DEFAULTS.attn_logit_softcapping : c.attn_logit_softcapping
  const finalCap =
    c.final_logit_softcapping === undefined ? GEMMA2_DEFAULTS.final_logit_softcapping : c.final_logit_softcapping
  return {
    model_type: "gemma2",
    ...decoderConfigBase(c, geometry, GEMMA2_DEFAULTS),
    attention_bias: c.attention_bias ?? false,
    query_pre_attn_scalar: c.query_pre_attn_scalar ?? GEMMA2_DEFAULTS.query_pre_attn_scalar,
    ...(window !== null ? { sliding_window: window } : {}),
    ...(attnCap !== null ? { attn_logit_softcapping: attnCap } : {}),
    ...(finalCap !== null ? { final_logit_softcapping: finalCap } : {})
  } satisfies Gemma2Config
})

/** Reads and validates `<dir>/config.json`. */
export const readGemma2Config = (
  dir: string
): Effect.Effect<Gemma2Config, ConfigError | UnsupportedConfigError, FileSystem.FileSystem | Path.Path> =>
  readConfigWith(dir, parseGemma2Config)

/**
 * The shared decoder's view of a Gemma 2 config. The embedding scale is transformers'
 * `torch.tensor(hidden_size ** 0.5, dtype=model dtype)`: sqrt(hidden) rounded to the dtype the
 * checkpoint names (bfloat16 for the released models: 48 for gemma-2-2b, 59.75 for 9b, 68 for 27b;
 * float32 otherwise); the multiply itself runs in float32.
 */
export const gemma2Arch = (config: Gemma2Config): DecoderArch => ({
  family: "gemma2",
  ...decoderArchShape(config),
  normPlusOne: true,
  sandwichNorms: true,
  activation: "gelu_tanh",
  bias: { qkv: config.attention_bias, o: config.attention_bias, mlp: false },
  embedScale: roundToDtype(Math.sqrt(config.hidden_size), config.torch_dtype),
  attnScale: config.query_pre_attn_scalar ** -0.5,
  ...(config.attn_logit_softcapping !== undefined ? { attnSoftcap: config.attn_logit_softcapping } : {}),
  ...(config.final_logit_softcapping !== undefined ? { finalSoftcap: config.final_logit_softcapping } : {}),
  slidingWindows: Array.from({ length: config.num_hidden_layers }, (_, l) =>
    l % 2 === 0 ? config.sliding_window : undefined
  ),
  ropeInvFreq: ropeInvFreq(config.head_dim, config.rope_theta),
  ropeKey: `${config.head_dim}:${config.rope_theta}`
})
