/**
 * Hugging Face `config.json` for the Qwen2 architecture (`model_type: "qwen2"`), parsed with
 * Effect Schema into a typed, defaults-applied `Qwen2Config` (field names as in the file).
 *
 * - Unknown extra fields are allowed (and ignored).
 * - A field of the wrong type or value gives a `ConfigError` naming it.
 * - A feature this implementation does not compute (sliding-window attention, RoPE scaling,
 *   quantised weights, a non-SiLU activation, non-full attention layers) gives an
 *   `UnsupportedConfigError` naming the field, never a silently different model.
 * - The shape-defining fields (vocab_size, hidden_size, intermediate_size, num_hidden_layers,
 *   num_attention_heads) are required; a missing or null `num_key_value_heads` means MHA.
 */

import { Effect, type FileSystem, type Path, Schema } from "effect"
import type { DecoderArch } from "../decoder/arch.js"
import { ropeInvFreq } from "../decoder/rope.js"
import type { UnsupportedConfigError } from "../model/LanguageModel.js"
import {
  allGlobal,
  type DecoderConfigBase,
  decodeDecoderConfig,
  decoderArchShape,
  decoderConfigBase,
  decoderConfigFields,
  headGeometry,
  PositiveNumber,
  unsupportedField
} from "./decoderConfig.js"
import type { ConfigError } from "./errors.js"
import { readConfigWith } from "./errors.js"

/** What `config.json` may contain (the fields this implementation reads). */
export const Qwen2ConfigJson = Schema.Struct({
  ...decoderConfigFields,
  hidden_act: Schema.optional(Schema.String),
  rope_scaling: Schema.optional(Schema.NullOr(Schema.Unknown)),
  rope_parameters: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        rope_type: Schema.optional(Schema.String),
        rope_theta: Schema.optional(PositiveNumber)
      })
    )
  ),
  use_sliding_window: Schema.optional(Schema.Boolean),
  sliding_window: Schema.optional(Schema.NullOr(Schema.Int)),
  max_window_layers: Schema.optional(Schema.NullOr(Schema.Int)),
  layer_types: Schema.optional(Schema.NullOr(Schema.Array(Schema.String)))
})
export type Qwen2ConfigJson = typeof Qwen2ConfigJson.Type

/** A validated Qwen2 configuration with every default applied. */
export interface Qwen2Config extends DecoderConfigBase {
  readonly model_type: "qwen2"
  readonly hidden_act: "silu"
  readonly initializer_range: number
}

/** HF Qwen2Config defaults for the optional fields. */
export const QWEN2_DEFAULTS = {
  hidden_act: "silu",
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: false,
  initializer_range: 0.02
} as const

const unsupported = unsupportedField

/** Validates a parsed `config.json` object. `where` names the source in messages. */
export const parseQwen2Config = Effect.fn("parseQwen2Config")(function* (
  json: unknown,
  where = "config.json"
): Effect.fn.Return<Qwen2Config, ConfigError | UnsupportedConfigError> {
  const c = yield* decodeDecoderConfig(Qwen2ConfigJson, json, where, "Qwen2", ["qwen2"])
  if (c.hidden_act !== undefined && c.hidden_act !== "silu") {
    return yield* unsupported(where, "hidden_act", c.hidden_act, 'only "silu" (SwiGLU) is implemented')
  }
  if (c.use_sliding_window === true) {
    return yield* unsupported(where, "use_sliding_window", true, "sliding-window attention is not implemented")
  }
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) {
    return yield* unsupported(where, "rope_scaling", c.rope_scaling, "RoPE scaling is not implemented")
  }
  if (
    c.rope_parameters != null &&
    c.rope_parameters.rope_type !== undefined &&
    c.rope_parameters.rope_type !== "default"
  ) {
    return yield* unsupported(
      where,
      "rope_parameters.rope_type",
      c.rope_parameters.rope_type,
      "only the default RoPE is implemented"
    )
  }
  if (c.layer_types != null) {
    const i = c.layer_types.findIndex((t) => t !== "full_attention")
    if (i >= 0) {
      return yield* unsupported(
        where,
        `layer_types.${i}`,
        c.layer_types[i],
        'only "full_attention" layers are implemented'
      )
    }
  }

  const geometry = yield* headGeometry(c, where)
  const ropeTheta = c.rope_theta ?? c.rope_parameters?.rope_theta ?? QWEN2_DEFAULTS.rope_theta
  return {
    model_type: "qwen2",
    ...decoderConfigBase(c, geometry, QWEN2_DEFAULTS, ropeTheta),
    hidden_act: "silu",
    initializer_range: c.initializer_range ?? QWEN2_DEFAULTS.initializer_range
  } satisfies Qwen2Config
})

/** Reads and validates `<dir>/config.json`. */
export const readQwen2Config = (
  dir: string
): Effect.Effect<Qwen2Config, ConfigError | UnsupportedConfigError, FileSystem.FileSystem | Path.Path> =>
  readConfigWith(dir, parseQwen2Config)

/**
 * Builds a config from the required fields plus any overrides (defaults as HF's Qwen2Config).
 * Fails like `parseQwen2Config` on bad values.
 */
export const makeQwen2Config = (
  fields: Pick<
    Qwen2ConfigJson,
    "vocab_size" | "hidden_size" | "intermediate_size" | "num_hidden_layers" | "num_attention_heads"
  > &
    Partial<Qwen2ConfigJson>
): Effect.Effect<Qwen2Config, ConfigError | UnsupportedConfigError> => parseQwen2Config(fields, "<qwen2 config>")

/** The `config.json` object transformers writes for this config (used by `saveQwen2`). */
export const qwen2ConfigToJson = (config: Qwen2Config, torchDtype = "float32"): Record<string, unknown> => ({
  architectures: ["Qwen2ForCausalLM"],
  attention_dropout: 0,
  ...(config.bos_token_id !== undefined ? { bos_token_id: config.bos_token_id } : {}),
  ...(config.eos_token_id !== undefined ? { eos_token_id: config.eos_token_id } : {}),
  hidden_act: config.hidden_act,
  hidden_size: config.hidden_size,
  initializer_range: config.initializer_range,
  intermediate_size: config.intermediate_size,
  max_position_embeddings: config.max_position_embeddings,
  max_window_layers: config.num_hidden_layers,
  model_type: "qwen2",
  num_attention_heads: config.num_attention_heads,
  num_hidden_layers: config.num_hidden_layers,
  num_key_value_heads: config.num_key_value_heads,
  ...(config.head_dim !== config.hidden_size / config.num_attention_heads ? { head_dim: config.head_dim } : {}),
  ...(config.pad_token_id !== undefined ? { pad_token_id: config.pad_token_id } : {}),
  rms_norm_eps: config.rms_norm_eps,
  rope_scaling: null,
  rope_theta: config.rope_theta,
  sliding_window: null,
  tie_word_embeddings: config.tie_word_embeddings,
  torch_dtype: torchDtype,
  use_cache: true,
  use_sliding_window: false,
  vocab_size: config.vocab_size
})

/** The shared decoder's view of a Qwen2 config: q/k/v biases, SwiGLU, plain RMSNorm, no window. */
export const qwen2Arch = (config: Qwen2Config): DecoderArch => ({
  family: "qwen2",
  ...decoderArchShape(config),
  normPlusOne: false,
  sandwichNorms: false,
  activation: "silu",
  bias: { qkv: true, o: false, mlp: false },
  attnScale: 1 / Math.sqrt(config.head_dim),
  slidingWindows: allGlobal(config.num_hidden_layers),
  ropeInvFreq: ropeInvFreq(config.head_dim, config.rope_theta),
  ropeKey: `${config.head_dim}:${config.rope_theta}`
})
