/**
 * Tiny random model pairs of the Llama and Gemma 2 families, to run a recipe end to end on a
 * non-Qwen2 architecture without downloads or training (this exercises the pipeline, not the
 * science). Built with @crosscode/core's public API only:
 *
 *   pnpm tsx --conditions=source examples/scripts/build-tiny-pairs.ts [outDir]   (default: runs/tiny-pairs)
 *
 * writes `<outDir>/{llama,gemma2}-{a,b}/`: config.json (model_type "llama" / "gemma2"),
 * generation_config.json, BF16 weights in shards with a `model.safetensors.index.json` (as the
 * Hugging Face releases ship), and a tokenizer: the embedded pair's trimmed Qwen BPE
 * (examples/models/embedded-base/tokenizer.json) plus the family's chat special tokens, with a
 * Llama-3-style or Gemma-style `chat_template` in tokenizer_config.json. B is A plus small noise,
 * so the pair shares most of its structure, as a base / fine-tuned pair does. Deterministic.
 */
import { readFileSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import {
  type DecoderArch,
  type DecoderWeights,
  disposeDecoderWeights,
  gemma2Arch,
  initDecoderWeights,
  llamaArch,
  parseGemma2Config,
  parseLlamaConfig,
  saveDecoder,
  TensorBackend
} from "@crosscode/core"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"

const here = path.dirname(fileURLToPath(import.meta.url))
const BASE_TOKENIZER = path.resolve(here, "../models/embedded-base/tokenizer.json")

export const TINY_FAMILIES = ["llama", "gemma2"] as const
export type TinyFamily = (typeof TINY_FAMILIES)[number]

/** The Llama 3 Instruct chat template (system/user/assistant headers, `<|eot_id|>` turns). */
export const LLAMA3_CHAT_TEMPLATE =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"

/** The Gemma 2 (-it) chat template: no system role, `<start_of_turn>user|model` turns. */
export const GEMMA2_CHAT_TEMPLATE =
  "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"

interface FamilySpec {
  readonly specialTokens: ReadonlyArray<string>
  readonly bos: string
  readonly eos: string
  readonly pad: string
  readonly chatTemplate: string
  readonly config: (ids: (token: string) => number) => Record<string, unknown>
}

/** The embedded tokenizer's ids end at 3135; the family's tokens follow; the vocabulary has room to spare. */
const VOCAB = 3200
const SHAPE = {
  vocab_size: VOCAB,
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 2048,
  initializer_range: 0.2
}

const FAMILIES: Record<TinyFamily, FamilySpec> = {
  llama: {
    specialTokens: ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    bos: "<|begin_of_text|>",
    eos: "<|eot_id|>",
    pad: "<|end_of_text|>",
    chatTemplate: LLAMA3_CHAT_TEMPLATE,
    config: (id) => ({
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      ...SHAPE,
      hidden_act: "silu",
      rms_norm_eps: 1e-5,
      rope_theta: 500000,
      // Llama 3.2's scaling, with the original context shrunk to the tiny model's.
      rope_scaling: {
        rope_type: "llama3",
        factor: 32,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 256
      },
      attention_bias: false,
      mlp_bias: false,
      tie_word_embeddings: true,
      bos_token_id: id("<|begin_of_text|>"),
      eos_token_id: [id("<|end_of_text|>"), id("<|eot_id|>")]
    })
  },
  gemma2: {
    specialTokens: ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"],
    bos: "<bos>",
    eos: "<eos>",
    pad: "<pad>",
    chatTemplate: GEMMA2_CHAT_TEMPLATE,
    config: (id) => ({
      architectures: ["Gemma2ForCausalLM"],
      model_type: "gemma2",
      ...SHAPE,
      head_dim: 32, // independent of hidden / heads, as in the released Gemma 2 models
      hidden_activation: "gelu_pytorch_tanh",
      hidden_act: "gelu_pytorch_tanh",
      rms_norm_eps: 1e-6,
      rope_theta: 10000,
      query_pre_attn_scalar: 32,
      sliding_window: 16,
      attn_logit_softcapping: 50,
      final_logit_softcapping: 30,
      attention_bias: false,
      tie_word_embeddings: true,
      cache_implementation: "hybrid",
      bos_token_id: id("<bos>"),
      eos_token_id: [id("<eos>"), id("<end_of_turn>")],
      pad_token_id: id("<pad>")
    })
  }
}

interface TokenizerJson {
  added_tokens: Array<{ id: number; content: string; special: boolean } & Record<string, unknown>>
}

/** tokenizer.json + tokenizer_config.json for the family, and the id of each special token. */
const tokenizerFor = (family: TinyFamily) => {
  const spec = FAMILIES[family]
  const tok = JSON.parse(readFileSync(BASE_TOKENIZER, "utf8")) as TokenizerJson
  let next = Math.max(...tok.added_tokens.map((t) => t.id)) + 1
  const ids = new Map<string, number>()
  const decoder: Record<string, unknown> = {}
  for (const content of spec.specialTokens) {
    const entry = {
      id: next++,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true
    }
    tok.added_tokens.push(entry)
    ids.set(content, entry.id)
    const { id: _id, ...rest } = entry
    decoder[String(entry.id)] = rest
  }
  if (next > VOCAB) throw new RangeError(`the tokenizer needs ${next} ids, more than vocab_size ${VOCAB}`)
  const config = {
    added_tokens_decoder: decoder,
    bos_token: spec.bos,
    eos_token: spec.eos,
    pad_token: spec.pad,
    clean_up_tokenization_spaces: false,
    model_max_length: SHAPE.max_position_embeddings,
    chat_template: spec.chatTemplate,
    tokenizer_class: "PreTrainedTokenizerFast"
  }
  const id = (t: string): number => {
    const v = ids.get(t)
    if (v === undefined) throw new RangeError(`no special token ${t}`)
    return v
  }
  return { tokenizerJson: tok, tokenizerConfig: config, id }
}

/** A's weights plus N(0, (0.1·std)²) noise from another seed. */
const perturbed = (arch: DecoderArch, a: DecoderWeights, seed: number, std: number): DecoderWeights => {
  const noise = initDecoderWeights(arch, seed, { std: 0.1 * std })
  const out: Record<string, tf.Tensor> = {}
  for (const [name, t] of Object.entries(a)) out[name] = tf.add(t, noise[name]!)
  disposeDecoderWeights(noise)
  return out
}

/**
 * Builds `<outDir>/<family>-a` and `<family>-b`. Needs the TensorBackend. Returns the two directories.
 */
export const buildTinyPair = (outDir: string, family: TinyFamily) =>
  Effect.gen(function* () {
    yield* TensorBackend
    const { tokenizerJson, tokenizerConfig, id } = tokenizerFor(family)
    const configJson = FAMILIES[family].config(id)
    const where = `<tiny ${family} config>`
    const arch = yield* family === "llama"
      ? Effect.map(parseLlamaConfig(configJson, where), llamaArch)
      : Effect.map(parseGemma2Config(configJson, where), gemma2Arch)
    const std = SHAPE.initializer_range
    const a = initDecoderWeights(arch, 1234, { std })
    const b = perturbed(arch, a, 5678, std)
    const dirs = { A: path.join(outDir, `${family}-a`), B: path.join(outDir, `${family}-b`) }
    for (const [dir, weights] of [
      [dirs.A, a],
      [dirs.B, b]
    ] as const) {
      // ~150 kB shards: several files and an index, like the released checkpoints.
      yield* saveDecoder(dir, arch, configJson, weights, { dtype: "BF16", maxShardBytes: 150_000 })
      yield* Effect.promise(async () => {
        await mkdir(dir, { recursive: true })
        await writeFile(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizerJson))
        await writeFile(path.join(dir, "tokenizer_config.json"), `${JSON.stringify(tokenizerConfig, null, 2)}\n`)
      })
    }
    disposeDecoderWeights(a)
    disposeDecoderWeights(b)
    return dirs
  })

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isMain) {
  const outDir = process.argv[2] ?? "runs/tiny-pairs"
  const program = Effect.forEach(TINY_FAMILIES, (f) => buildTinyPair(outDir, f)).pipe(
    Effect.provide(TensorBackend.layer)
  )
  Effect.runPromise(program)
    .then((pairs) => {
      for (const p of pairs) console.log(`${p.A}\n${p.B}`)
    })
    .catch((e) => {
      console.error(String(e))
      process.exitCode = 1
    })
}
