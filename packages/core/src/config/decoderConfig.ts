/**
 * What the Llama-like `config.json` files (Qwen2, Llama, Mistral, Gemma 2) share: the schema
 * fields every family reads, the head geometry check (GQA grouping, `head_dim`), token ids and
 * the typed errors for an unimplemented feature or a bad value. Each family's parser adds its own
 * fields and defaults on top.
 */
import { Effect, Schema } from "effect"
import { UnsupportedConfigError } from "../model/LanguageModel.js"
import { ConfigError, schemaErrorToConfigError } from "./errors.js"

export const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
export const NonNegInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
export const PositiveNumber = Schema.Finite.check(Schema.isGreaterThan(0))
export const TokenIds = Schema.Union([NonNegInt, Schema.Array(NonNegInt)])

/** Fields every decoder family's `config.json` has (shape-defining ones required). */
export const decoderConfigFields = {
  model_type: Schema.optional(Schema.String),
  vocab_size: PositiveInt,
  hidden_size: PositiveInt,
  intermediate_size: PositiveInt,
  num_hidden_layers: PositiveInt,
  num_attention_heads: PositiveInt,
  num_key_value_heads: Schema.optional(Schema.NullOr(PositiveInt)),
  head_dim: Schema.optional(Schema.NullOr(PositiveInt)),
  max_position_embeddings: Schema.optional(PositiveInt),
  rms_norm_eps: Schema.optional(PositiveNumber),
  rope_theta: Schema.optional(PositiveNumber),
  tie_word_embeddings: Schema.optional(Schema.Boolean),
  attention_dropout: Schema.optional(Schema.Finite),
  initializer_range: Schema.optional(PositiveNumber),
  quantization_config: Schema.optional(Schema.Unknown),
  bos_token_id: Schema.optional(Schema.NullOr(NonNegInt)),
  eos_token_id: Schema.optional(Schema.NullOr(TokenIds)),
  pad_token_id: Schema.optional(Schema.NullOr(NonNegInt)),
  torch_dtype: Schema.optional(Schema.NullOr(Schema.String)),
  dtype: Schema.optional(Schema.NullOr(Schema.String))
} as const

/** The decoded common fields. */
export type DecoderConfigFields = Schema.Struct<typeof decoderConfigFields>["Type"]

export const unsupportedField = (where: string, field: string, value: unknown, why: string) =>
  new UnsupportedConfigError({
    field,
    value: JSON.stringify(value) ?? String(value),
    message: `${where}: unsupported config field "${field}" = ${JSON.stringify(value)}: ${why}`
  })

export const invalidField = (where: string, field: string, message: string) =>
  new ConfigError({ path: where, field, message: `${where}: field "${field}": ${message}` })

/**
 * Decodes `json` with `schema` after checking it is an object, and refuses a `model_type` outside
 * `modelTypes` and quantised checkpoints.
 */
export const decodeDecoderConfig = <T extends DecoderConfigFields>(
  schema: Schema.Decoder<T>,
  json: unknown,
  where: string,
  family: string,
  modelTypes: ReadonlyArray<string>
): Effect.Effect<T, ConfigError | UnsupportedConfigError> =>
  Effect.gen(function* () {
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return yield* new ConfigError({ path: where, message: `${where}: expected a JSON object` })
    }
    const c = yield* Schema.decodeUnknownEffect(schema)(json, { errors: "all" }).pipe(
      Effect.mapError((e) => schemaErrorToConfigError(where, e))
    )
    if (c.model_type !== undefined && !modelTypes.includes(c.model_type)) {
      return yield* unsupportedField(
        where,
        "model_type",
        c.model_type,
        `the ${family} implementation loads model_type ${modelTypes.map((t) => `"${t}"`).join(" or ")} only`
      )
    }
    if (c.quantization_config !== undefined && c.quantization_config !== null) {
      return yield* unsupportedField(
        where,
        "quantization_config",
        c.quantization_config,
        "quantised checkpoints are not supported"
      )
    }
    return c
  })

export interface HeadGeometry {
  readonly numKeyValueHeads: number
  readonly headDim: number
}

/**
 * KV heads (default: MHA) dividing the query heads, and the head dimension: `head_dim` when given
 * (Gemma 2's is independent of hidden / heads), else hidden_size / num_attention_heads; even, for RoPE.
 */
export const headGeometry = (
  c: DecoderConfigFields,
  where: string,
  defaultHeadDim?: number
): Effect.Effect<HeadGeometry, ConfigError> =>
  Effect.gen(function* () {
    const heads = c.num_attention_heads
    const kvHeads = c.num_key_value_heads ?? heads
    if (heads % kvHeads !== 0) {
      return yield* invalidField(
        where,
        "num_key_value_heads",
        `${kvHeads} does not divide num_attention_heads = ${heads}`
      )
    }
    let headDim: number
    if (c.head_dim != null) {
      headDim = c.head_dim
    } else if (defaultHeadDim !== undefined) {
      headDim = defaultHeadDim
    } else {
      if (c.hidden_size % heads !== 0) {
        return yield* invalidField(
          where,
          "num_attention_heads",
          `${heads} does not divide hidden_size = ${c.hidden_size} (and no head_dim is given)`
        )
      }
      headDim = c.hidden_size / heads
    }
    if (headDim % 2 !== 0) {
      return yield* invalidField(
        where,
        c.head_dim != null ? "head_dim" : "num_attention_heads",
        `head dimension ${headDim} is odd; rotary embeddings need an even one`
      )
    }
    return { numKeyValueHeads: kvHeads, headDim }
  })

/** The optional token-id and dtype fields of a parsed config, nulls dropped. */
export const tokenFields = (c: DecoderConfigFields) => {
  const dtype = c.torch_dtype ?? c.dtype
  return {
    ...(c.bos_token_id != null ? { bos_token_id: c.bos_token_id } : {}),
    ...(c.eos_token_id != null ? { eos_token_id: c.eos_token_id } : {}),
    ...(c.pad_token_id != null ? { pad_token_id: c.pad_token_id } : {}),
    ...(dtype != null ? { torch_dtype: dtype } : {})
  }
}

/** A config's EOS ids: generation_config.json's when it has any, else config.json's. */
export const eosTokenIdsOf = (
  configEos: number | ReadonlyArray<number> | undefined,
  generationEos: ReadonlyArray<number>
): ReadonlyArray<number> => {
  if (generationEos.length > 0) return generationEos
  return configEos === undefined ? [] : typeof configEos === "number" ? [configEos] : configEos
}
