/**
 * Hugging Face `generation_config.json`: token ids and sampling defaults. Every field is optional
 * and unknown fields are allowed; a missing file is an empty config.
 */

import { Effect, type FileSystem, Path, Schema } from "effect"
import { type ConfigError, readJsonFile, schemaErrorToConfigError } from "./errors.js"

const NonNegInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const GenerationConfigJson = Schema.Struct({
  bos_token_id: Schema.optional(Schema.NullOr(NonNegInt)),
  eos_token_id: Schema.optional(Schema.NullOr(Schema.Union([NonNegInt, Schema.Array(NonNegInt)]))),
  pad_token_id: Schema.optional(Schema.NullOr(NonNegInt)),
  do_sample: Schema.optional(Schema.Boolean),
  temperature: Schema.optional(Schema.NullOr(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))),
  top_k: Schema.optional(Schema.NullOr(NonNegInt)),
  top_p: Schema.optional(Schema.NullOr(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))),
  repetition_penalty: Schema.optional(Schema.NullOr(Schema.Finite)),
  max_new_tokens: Schema.optional(Schema.NullOr(NonNegInt))
})

/** Normalised: `eosTokenIds` is always an array; nulls are dropped. */
export interface GenerationConfig {
  readonly bosTokenId?: number
  readonly eosTokenIds: ReadonlyArray<number>
  readonly padTokenId?: number
  readonly doSample?: boolean
  readonly temperature?: number
  readonly topK?: number
  readonly topP?: number
  readonly repetitionPenalty?: number
  readonly maxNewTokens?: number
}

const decode = Schema.decodeUnknownEffect(GenerationConfigJson)

export const parseGenerationConfig = (
  json: unknown,
  where = "generation_config.json"
): Effect.Effect<GenerationConfig, ConfigError> =>
  Effect.map(
    decode(json ?? {}, { errors: "all" }).pipe(Effect.mapError((e) => schemaErrorToConfigError(where, e))),
    (g) => ({
      eosTokenIds:
        g.eos_token_id == null ? [] : typeof g.eos_token_id === "number" ? [g.eos_token_id] : [...g.eos_token_id],
      ...(g.bos_token_id != null ? { bosTokenId: g.bos_token_id } : {}),
      ...(g.pad_token_id != null ? { padTokenId: g.pad_token_id } : {}),
      ...(g.do_sample !== undefined ? { doSample: g.do_sample } : {}),
      ...(g.temperature != null ? { temperature: g.temperature } : {}),
      ...(g.top_k != null ? { topK: g.top_k } : {}),
      ...(g.top_p != null ? { topP: g.top_p } : {}),
      ...(g.repetition_penalty != null ? { repetitionPenalty: g.repetition_penalty } : {}),
      ...(g.max_new_tokens != null ? { maxNewTokens: g.max_new_tokens } : {})
    })
  )

/** Reads `<dir>/generation_config.json`; a missing file gives an empty config. */
export const readGenerationConfig = (
  dir: string
): Effect.Effect<GenerationConfig, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const file = (yield* Path.Path).join(dir, "generation_config.json")
    return yield* parseGenerationConfig(yield* readJsonFile(file, true), file)
  })

/** The HF `generation_config.json` object for a config (used by `saveQwen2`). */
export const generationConfigToJson = (g: Partial<GenerationConfig>): Record<string, unknown> => {
  const eos = g.eosTokenIds ?? []
  return {
    ...(g.bosTokenId !== undefined ? { bos_token_id: g.bosTokenId } : {}),
    ...(eos.length === 1 ? { eos_token_id: eos[0] } : eos.length > 1 ? { eos_token_id: [...eos] } : {}),
    ...(g.padTokenId !== undefined ? { pad_token_id: g.padTokenId } : {}),
    ...(g.doSample !== undefined ? { do_sample: g.doSample } : {}),
    ...(g.temperature !== undefined ? { temperature: g.temperature } : {}),
    ...(g.topK !== undefined ? { top_k: g.topK } : {}),
    ...(g.topP !== undefined ? { top_p: g.topP } : {}),
    ...(g.repetitionPenalty !== undefined ? { repetition_penalty: g.repetitionPenalty } : {}),
    ...(g.maxNewTokens !== undefined ? { max_new_tokens: g.maxNewTokens } : {}),
    transformers_version: "4.44.0"
  }
}
