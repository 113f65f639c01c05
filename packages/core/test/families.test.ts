/**
 * Llama and Gemma 2 beyond the goldens (test/golden.test.ts): config parsing and typed refusals,
 * Llama 3 RoPE frequencies against the golden README's float32 values, sharded BF16 checkpoints
 * with an index and partial loading (maxLayer) for both, Gemma 2's sliding window in batched
 * cached generation (left padding) and both chat templates rendered by our template engine.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  blockOutput,
  captureHook,
  compileChatTemplate,
  type DecoderArch,
  decodeBF16,
  decoderForward,
  disposeDecoderWeights,
  encodeBF16,
  gemma2Arch,
  initDecoderWeights,
  llamaArch,
  loadModel,
  Positions,
  parseGemma2Config,
  parseLlamaConfig,
  ropeInvFreq,
  saveDecoder,
  sharedMissingMessage,
  UnsupportedConfigError
} from "../src/index.js"
import { goldenDir, maxAbs, run, shared } from "./helpers.js"

const tmp = mkdtempSync(path.join(tmpdir(), "crosscode-families-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
beforeAll(() => run(Effect.void)) // weights are made before any load: start the wasm backend

const llamaJson = {
  model_type: "llama",
  vocab_size: 96,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  rope_theta: 500000,
  rope_scaling: {
    rope_type: "llama3",
    factor: 8,
    low_freq_factor: 1,
    high_freq_factor: 4,
    original_max_position_embeddings: 16
  },
  tie_word_embeddings: false,
  eos_token_id: 2
}
const gemmaJson = {
  model_type: "gemma2",
  vocab_size: 96,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16, // 4 · 16 ≠ 32: q_proj is [64, 32]
  query_pre_attn_scalar: 16,
  sliding_window: 4,
  eos_token_id: 1,
  pad_token_id: 0
}
const parse = <A>(e: Effect.Effect<A, unknown>) => Effect.runPromise(e)
const refusal = (e: Effect.Effect<unknown, unknown>) => Effect.runPromise(Effect.flip(e))

describe("config.json for Llama and Gemma 2", () => {
  it("Llama 3 rope scaling gives the golden README's float32 frequencies", () => {
    const inv = ropeInvFreq(16, 500000, {
      type: "llama3",
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 64
    })
    const readme = [
      1.0, 0.07940301, 0.0047007538, 0.00091158313, 0.00017677668, 3.4281024e-5, 6.6478697e-6, 1.2891732e-6
    ]
    expect(maxAbs(inv, readme.map(Math.fround))).toBeLessThanOrEqual(1e-12)
    const plain = [1.0, 0.19392276, 0.03760603, 0.0072926651, 0.0014142134, 0.00027424819, 5.3182957e-5, 1.0313385e-5]
    expect([...ropeInvFreq(16, 500000)]).toEqual(plain.map(Math.fround))
    // linear scaling divides every frequency
    expect([...ropeInvFreq(16, 500000, { type: "linear", factor: 2 })]).toEqual(plain.map((x) => Math.fround(x / 2)))
  })

  it.skipIf(!shared)(
    `parses the golden configs into their architectures${shared ? "" : ` (${sharedMissingMessage})`}`,
    async () => {
      const json = (m: string) => JSON.parse(readFileSync(path.join(goldenDir(m), "config.json"), "utf8")) as unknown
      const g = gemma2Arch(await parse(parseGemma2Config(json("gemma2-tiny"))))
      expect(g.slidingWindows).toEqual([8, undefined, 8, undefined])
      expect(g).toMatchObject({ attnScale: 0.25, attnSoftcap: 50, finalSoftcap: 30, embedScale: 8, headDim: 16 })
      expect(g).toMatchObject({
        normPlusOne: true,
        sandwichNorms: true,
        activation: "gelu_tanh",
        tieWordEmbeddings: true
      })
      const l = llamaArch(await parse(parseLlamaConfig(json("llama-tiny-gqa"))))
      expect(l).toMatchObject({
        bias: { qkv: false, o: false, mlp: false },
        tieWordEmbeddings: false,
        rmsNormEps: 1e-5
      })
      expect(l.slidingWindows.every((w) => w === undefined)).toBe(true)
    }
  )

  it("Gemma 2's embedding scale is sqrt(hidden) rounded to the checkpoint dtype", async () => {
    const scale = async (hidden: number, torch_dtype: string) =>
      gemma2Arch(await parse(parseGemma2Config({ ...gemmaJson, hidden_size: hidden, torch_dtype }))).embedScale
    expect(await scale(2304, "bfloat16")).toBe(48) // gemma-2-2b
    expect(await scale(3584, "bfloat16")).toBe(59.75) // gemma-2-9b: sqrt = 59.87
    expect(await scale(4608, "bfloat16")).toBe(68) // gemma-2-27b: sqrt = 67.88
    expect(await scale(3584, "float32")).toBe(Math.fround(Math.sqrt(3584)))
  })

  it("refuses what is not implemented with UnsupportedConfigError naming the field", async () => {
    const cases: Array<[Effect.Effect<unknown, unknown>, string]> = [
      [parseLlamaConfig({ ...llamaJson, rope_scaling: { rope_type: "yarn", factor: 4 } }), "rope_scaling.rope_type"],
      [parseLlamaConfig({ ...llamaJson, hidden_act: "gelu" }), "hidden_act"],
      [parseLlamaConfig({ ...llamaJson, model_type: "mistral", sliding_window: 4096 }), "sliding_window"],
      [parseLlamaConfig({ ...llamaJson, model_type: "mistral" }), "sliding_window"], // Mistral's default window
      [parseLlamaConfig({ ...llamaJson, model_type: "gemma2" }), "model_type"],
      [parseGemma2Config({ ...gemmaJson, hidden_activation: "gelu" }), "hidden_activation"],
      [parseGemma2Config({ ...gemmaJson, rope_scaling: { rope_type: "linear", factor: 2 } }), "rope_scaling"],
      [parseGemma2Config({ ...gemmaJson, quantization_config: { bits: 4 } }), "quantization_config"]
    ]
    for (const [effect, field] of cases) {
      const e = await refusal(effect)
      expect(e, field).toBeInstanceOf(UnsupportedConfigError)
      expect((e as UnsupportedConfigError).field).toBe(field)
    }
    // Mistral without a window is Llama's computation.
    const m = await parse(parseLlamaConfig({ ...llamaJson, model_type: "mistral", sliding_window: null }))
    expect(m.model_type).toBe("mistral")
    // A bad value is a ConfigError naming it.
    const bad = await refusal(parseLlamaConfig({ ...llamaJson, rope_scaling: { rope_type: "llama3", factor: 8 } }))
    expect((bad as { _tag: string })._tag).toBe("ConfigError")
    expect((bad as { field?: string }).field).toBe("rope_scaling.low_freq_factor")
  })
})

/** Rounds every weight to bfloat16 (what a BF16 checkpoint holds). */
const roundedToBF16 = (w: Readonly<Record<string, tf.Tensor>>) =>
  Object.fromEntries(
    Object.entries(w).map(([n, t]) => [n, tf.tensor(decodeBF16(encodeBF16(t.dataSync())), t.shape, "float32")])
  )

const ids = [
  [5, 17, 33, 2, 90, 41, 7, 8, 9, 60],
  [8, 8, 1, 64]
]

describe("sharded BF16 checkpoints with an index, partial loading", () => {
  for (const [family, json] of [
    ["llama", llamaJson],
    ["gemma2", gemmaJson]
  ] as const) {
    it(`${family}: loads BF16 shards as the rounded weights compute; maxLayer gives the same activations`, async () => {
      // The saved config.json says bfloat16 (Gemma 2's embedding scale is rounded to it).
      const saved = { ...json, torch_dtype: "bfloat16" }
      const arch: DecoderArch =
        family === "llama"
          ? llamaArch(await parse(parseLlamaConfig(saved)))
          : gemma2Arch(await parse(parseGemma2Config(saved)))
      const dir = path.join(tmp, family)
      const { reference, bytes } = await run(
        Effect.gen(function* () {
          const w = initDecoderWeights(arch, 7, { std: 0.2 })
          yield* saveDecoder(dir, arch, json, w, { dtype: "BF16", maxShardBytes: 6000 })
          const rounded = roundedToBF16(w)
          const reference = tf.tidy(() => {
            const r = decoderForward(arch, rounded, [ids[0]!], { hiddenStates: true })
            return { logits: r.logits!.dataSync().slice(), h2: r.hiddenStates![2]!.dataSync().slice() }
          })
          disposeDecoderWeights(w)
          disposeDecoderWeights(rounded)
          return { reference, bytes: readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8") }
        })
      )
      expect(Object.keys(JSON.parse(bytes).weight_map).length).toBeGreaterThan(10)
      const got = await run(
        Effect.gen(function* () {
          const lm = yield* loadModel(dir)
          const [r] = yield* lm.forward({ inputIds: [ids[0]!], hiddenStates: true })
          const partial = yield* loadModel(dir, { maxLayer: 1 })
          let h: Float32Array | undefined
          yield* partial.forward({
            inputIds: [ids[0]!],
            stopAtLayer: 1,
            hooks: [captureHook(blockOutput(1), Positions.all, (c) => (h = c.values), "prefill")]
          })
          return { info: lm.info, partialInfo: partial.info, logits: r!.logits!, h2: r!.hiddenStates![2]!, h }
        })
      )
      expect(got.info).toMatchObject({ family, weightDtype: "bfloat16", numLayers: arch.numLayers })
      expect(got.partialInfo.maxLayer).toBe(1)
      expect(maxAbs(got.logits, reference.logits)).toBeLessThanOrEqual(1e-4)
      expect(maxAbs(got.h2, reference.h2)).toBeLessThanOrEqual(5e-4)
      expect(maxAbs(got.h!, got.h2)).toBe(0)
    })
  }

  it("gemma2: batched, left-padded cached generation past the sliding window equals each prompt alone, uncached", async () => {
    const dir = path.join(tmp, "gemma2")
    const out = await run(
      Effect.gen(function* () {
        const lm = yield* loadModel(dir)
        const gen = (prompts: ReadonlyArray<ReadonlyArray<number>>, useCache: boolean) =>
          lm.generate({ prompts, maxNewTokens: 9, useCache, stopTokenIds: [], returnStepLogits: true })
        const batched = yield* gen(ids, true)
        const alone = [(yield* gen([ids[0]!], false))[0]!, (yield* gen([ids[1]!], false))[0]!]
        return { batched, alone }
      })
    )
    for (let i = 0; i < 2; i++) {
      expect(out.batched[i]!.tokens).toEqual(out.alone[i]!.tokens)
      out.batched[i]!.stepLogits!.forEach((s, k) => {
        expect(maxAbs(s, out.alone[i]!.stepLogits![k]!)).toBeLessThanOrEqual(1e-4)
      })
    }
  })
})

describe("chat templates of Llama 3 and Gemma 2, rendered by our template engine", () => {
  const LLAMA3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
  const GEMMA2 =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
  const chat = [
    { role: "user", content: " What is 2+2? " },
    { role: "assistant", content: "4" },
    { role: "user", content: "And 3+3?" }
  ]

  it("Llama 3: header turns, trimmed content, <|eot_id|>, BOS once", () => {
    const text = compileChatTemplate(LLAMA3).render({
      messages: [{ role: "system", content: "Be brief." }, ...chat],
      bos_token: "<|begin_of_text|>",
      add_generation_prompt: true
    })
    const turn = (role: string, content: string) =>
      `<|start_header_id|>${role}<|end_header_id|>\n\n${content}<|eot_id|>`
    expect(text).toBe(
      `<|begin_of_text|>${turn("system", "Be brief.")}${turn("user", "What is 2+2?")}${turn("assistant", "4")}${turn("user", "And 3+3?")}<|start_header_id|>assistant<|end_header_id|>\n\n`
    )
  })

  it("Gemma 2: user/model turns; a system message is refused by the template", () => {
    const t = compileChatTemplate(GEMMA2)
    expect(t.render({ messages: chat, bos_token: "<bos>", add_generation_prompt: true })).toBe(
      "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>\n<start_of_turn>user\nAnd 3+3?<end_of_turn>\n<start_of_turn>model\n"
    )
    expect(() =>
      t.render({
        messages: [{ role: "system", content: "x" }, ...chat],
        bos_token: "<bos>",
        add_generation_prompt: false
      })
    ).toThrow(/System role not supported/)
  })
})
