/**
 * Gemma 2 as a model family (`model_type` "gemma2"): the shared decoder with Gemma 2's switches
 * (scaled embeddings, `1 + w` sandwich norms, GeGLU, soft-capping, sliding window on even layers).
 * The KV cache keeps every position; sliding layers mask cached keys outside their window, so
 * cached generation equals a full recompute (unlike transformers 4.44's own Gemma 2 caches).
 */
import { Effect } from "effect"
import { gemma2Arch, parseGemma2Config } from "../config/gemma2Config.js"
import { type DecoderConfigParser, decoderFamily, decoderSpec, loadDecoderWith } from "../decoder/family.js"
import type { LoadModelOptions } from "../model/ModelFamily.js"

const parseGemma2Spec: DecoderConfigParser = (json, where) =>
  Effect.map(parseGemma2Config(json, where), (c) => decoderSpec(gemma2Arch(c), c))

/** Loads a Gemma 2 directory (requires the TensorBackend and a Scope, like `loadQwen2`). */
export const loadGemma2 = (dir: string, options: LoadModelOptions = {}) =>
  loadDecoderWith(parseGemma2Spec, dir, options)

export const gemma2Family = decoderFamily("gemma2", ["gemma2"], parseGemma2Spec)
