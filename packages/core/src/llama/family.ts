/**
 * Llama as a model family (`model_type` "llama", and "mistral" without a sliding window): the
 * shared decoder with Llama's config (no q/k/v bias unless `attention_bias`, SwiGLU, RoPE with
 * optional `llama3` / `linear` scaling, tied or untied embeddings).
 */
import { Effect } from "effect"
import { LLAMA_MODEL_TYPES, llamaArch, parseLlamaConfig } from "../config/llamaConfig.js"
import { type DecoderConfigParser, decoderFamily, decoderSpec, loadDecoderWith } from "../decoder/family.js"
import type { LoadModelOptions } from "../model/ModelFamily.js"

const parseLlamaSpec: DecoderConfigParser = (json, where) =>
  Effect.map(parseLlamaConfig(json, where), (c) => decoderSpec(llamaArch(c), c))

/** Loads a Llama directory (requires the TensorBackend and a Scope, like `loadQwen2`). */
export const loadLlama = (dir: string, options: LoadModelOptions = {}) => loadDecoderWith(parseLlamaSpec, dir, options)

export const llamaFamily = decoderFamily("llama", LLAMA_MODEL_TYPES, parseLlamaSpec)
