/**
 * Writes a decoder model (any `DecoderArch`) as a Hugging Face directory: `config.json`,
 * `generation_config.json` and `model.safetensors` (or shards + `model.safetensors.index.json`
 * above `maxShardBytes`), tensors in HF names and layout, written one at a time. `loadModel(dir)`
 * and transformers' `*ForCausalLM.from_pretrained(dir)` both read the result.
 */

import { mkdir, rm, writeFile } from "node:fs/promises"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { type GenerationConfig, generationConfigToJson } from "../config/generationConfig.js"
import { INDEX_FILE, SINGLE_FILE } from "../safetensors/checkpoint.js"
import { dtypeBytes, dtypeLongName } from "../safetensors/dtypes.js"
import { type TensorToWrite, writeSafetensors } from "../safetensors/writer.js"
import { type DecoderArch, decoderWeightShapes } from "./arch.js"
import { checkDecoderWeights, type DecoderWeights } from "./forward.js"

export class ModelSaveError extends Schema.TaggedError<ModelSaveError>()("ModelSaveError", {
  path: Schema.String,
  message: Schema.String
}) {}

export interface SaveDecoderOptions {
  /** Storage dtype (default "F32"). BF16/F16 round to nearest even. */
  readonly dtype?: "F32" | "BF16" | "F16"
  /** Written to generation_config.json (token ids default to the config's). */
  readonly generationConfig?: Partial<GenerationConfig>
  /** Split into shards of at most this many bytes (default: one file). */
  readonly maxShardBytes?: number
}

const tokenId = (u: unknown): number | undefined => (typeof u === "number" ? u : undefined)

/**
 * Saves `weights` (checked against `arch`) with `configJson` as config.json (its `torch_dtype`
 * set to the storage dtype); generation_config.json gets config.json's bos/eos/pad ids unless
 * `options.generationConfig` overrides them.
 */
export const saveDecoder = Effect.fnUntraced(function* (
  dir: string,
  arch: DecoderArch,
  configJson: Readonly<Record<string, unknown>>,
  weights: DecoderWeights,
  options: SaveDecoderOptions = {}
): Effect.fn.Return<void, ModelSaveError> {
  const problem = checkDecoderWeights(arch, weights)
  if (problem !== undefined) return yield* new ModelSaveError({ path: dir, message: `cannot save: ${problem}` })
  const dtype = options.dtype ?? "F32"
  const io = (file: string) => (e: unknown) =>
    new ModelSaveError({ path: file, message: `${file}: ${e instanceof Error ? e.message : String(e)}` })
  yield* Effect.tryPromise({ try: () => mkdir(dir, { recursive: true }), catch: io(dir) })

  const configFile = path.join(dir, "config.json")
  yield* Effect.tryPromise({
    try: () =>
      writeFile(configFile, `${JSON.stringify({ ...configJson, torch_dtype: dtypeLongName(dtype) }, null, 2)}\n`),
    catch: io(configFile)
  })
  const bos = tokenId(configJson.bos_token_id)
  const eos = configJson.eos_token_id
  const eosIds = typeof eos === "number" ? [eos] : Array.isArray(eos) ? eos.filter((e) => typeof e === "number") : []
  const pad = tokenId(configJson.pad_token_id)
  const gen: Partial<GenerationConfig> = {
    ...(bos !== undefined ? { bosTokenId: bos } : {}),
    ...(eosIds.length > 0 ? { eosTokenIds: eosIds } : {}),
    ...(pad !== undefined ? { padTokenId: pad } : {}),
    ...options.generationConfig
  }
  const genFile = path.join(dir, "generation_config.json")
  yield* Effect.tryPromise({
    try: () => writeFile(genFile, `${JSON.stringify(generationConfigToJson(gen), null, 2)}\n`),
    catch: io(genFile)
  })

  const tensors: Array<TensorToWrite & { readonly bytes: number }> = [...decoderWeightShapes(arch)].map(
    ([name, shape]) => ({
      name,
      dtype,
      shape,
      bytes: shape.reduce((a, b) => a * b, 1) * dtypeBytes(dtype),
      data: () => weights[name]!.data() as Promise<Float32Array>
    })
  )
  const metadata = { format: "pt" }
  const max = options.maxShardBytes
  const total = tensors.reduce((a, t) => a + t.bytes, 0)
  // A stale index (or single file) from an earlier save would shadow (or confuse) the new one.
  const removeStale = (file: string) => Effect.tryPromise({ try: () => rm(file, { force: true }), catch: io(file) })
  if (max === undefined || total <= max) {
    yield* removeStale(path.join(dir, INDEX_FILE))
    const file = path.join(dir, SINGLE_FILE)
    yield* writeSafetensors(file, tensors, metadata).pipe(
      Effect.mapError((e) => new ModelSaveError({ path: file, message: e.message }))
    )
    return
  }
  const shards: Array<Array<TensorToWrite & { readonly bytes: number }>> = [[]]
  let size = 0
  for (const t of tensors) {
    if (size > 0 && size + t.bytes > max) {
      shards.push([])
      size = 0
    }
    shards[shards.length - 1]!.push(t)
    size += t.bytes
  }
  yield* removeStale(path.join(dir, SINGLE_FILE))
  const n = shards.length
  const weightMap: Record<string, string> = {}
  for (let i = 0; i < n; i++) {
    const name = `model-${String(i + 1).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`
    const file = path.join(dir, name)
    for (const t of shards[i]!) weightMap[t.name] = name
    yield* writeSafetensors(file, shards[i]!, metadata).pipe(
      Effect.mapError((e) => new ModelSaveError({ path: file, message: e.message }))
    )
  }
  const indexFile = path.join(dir, INDEX_FILE)
  yield* Effect.tryPromise({
    try: () =>
      writeFile(indexFile, `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`),
    catch: io(indexFile)
  })
})
