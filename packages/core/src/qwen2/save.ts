/**
 * Writes a Qwen2 model as a Hugging Face directory (the shared decoder's `saveDecoder` with the
 * `config.json` transformers writes for a `Qwen2Config`). `loadModel(dir)` and transformers'
 * `Qwen2ForCausalLM.from_pretrained(dir)` both read the result.
 */
import { type Qwen2Config, qwen2Arch, qwen2ConfigToJson } from "../config/qwen2Config.js"
import { type SaveDecoderOptions, saveDecoder } from "../decoder/save.js"
import type { Qwen2Weights } from "./weights.js"

export type SaveQwen2Options = SaveDecoderOptions

export const saveQwen2 = (dir: string, config: Qwen2Config, weights: Qwen2Weights, options: SaveQwen2Options = {}) =>
  saveDecoder(dir, qwen2Arch(config), qwen2ConfigToJson(config), weights, options)
