import { readFileSync } from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import {
  makeQwen2Config,
  parseGenerationConfig,
  parseQwen2Config,
  qwen2ConfigToJson,
  sharedMissingMessage
} from "../src/index.js"
import { GOLDEN_MODELS, goldenDir, readGolden, shared } from "./helpers.js"

const base = {
  model_type: "qwen2",
  vocab_size: 512,
  hidden_size: 64,
  intermediate_size: 176,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 2
}
const parse = (json: unknown) => Effect.runPromise(parseQwen2Config(json, "cfg.json"))
const fail = (json: unknown) => Effect.runPromise(Effect.flip(parseQwen2Config(json, "cfg.json")))

describe("Qwen2 config.json", () => {
  it.skipIf(!shared)(`parses the golden configs${shared ? "" : ` (${sharedMissingMessage})`}`, async () => {
    for (const model of GOLDEN_MODELS) {
      const json = JSON.parse(readFileSync(path.join(goldenDir(model), "config.json"), "utf8"))
      const c = await parse(json)
      const g = readGolden(model).config
      expect(c).toMatchObject({
        vocab_size: g.vocab_size,
        hidden_size: g.hidden_size,
        num_hidden_layers: g.num_hidden_layers,
        num_key_value_heads: g.num_key_value_heads,
        rope_theta: g.rope_theta,
        rms_norm_eps: g.rms_norm_eps,
        tie_word_embeddings: g.tie_word_embeddings
      })
      expect(c.head_dim).toBe((g.hidden_size as number) / (g.num_attention_heads as number))
    }
  })

  it("applies defaults and allows unknown fields", async () => {
    const c = await parse({
      ...base,
      num_key_value_heads: null,
      some_future_field: { x: 1 },
      rope_scaling: null,
      sliding_window: 4096
    })
    expect(c).toMatchObject({
      num_key_value_heads: 4,
      rope_theta: 10000,
      rms_norm_eps: 1e-6,
      tie_word_embeddings: false,
      hidden_act: "silu"
    })
    expect(c).not.toHaveProperty("some_future_field")
    const v5 = await parse({ ...base, rope_parameters: { rope_type: "default", rope_theta: 1e6 }, dtype: "bfloat16" })
    expect(v5.rope_theta).toBe(1e6)
    expect(v5.torch_dtype).toBe("bfloat16")
  })

  it("names the bad field on type and value errors", async () => {
    const cases: Array<[unknown, string]> = [
      [{ ...base, hidden_size: "64" }, "hidden_size"],
      [{ ...base, hidden_size: 64.5 }, "hidden_size"],
      [{ ...base, num_hidden_layers: 0 }, "num_hidden_layers"],
      [{ ...base, vocab_size: undefined }, "vocab_size"],
      [{ ...base, rms_norm_eps: -1 }, "rms_norm_eps"],
      [{ ...base, tie_word_embeddings: "yes" }, "tie_word_embeddings"],
      [{ ...base, eos_token_id: [1, "2"] }, "eos_token_id.1"],
      [{ ...base, num_key_value_heads: 3 }, "num_key_value_heads"],
      [{ ...base, num_attention_heads: 5, num_key_value_heads: 5 }, "num_attention_heads"],
      [{ ...base, head_dim: 7 }, "head_dim"]
    ]
    for (const [json, field] of cases) {
      const e = await fail(json)
      expect(e._tag, field).toBe("ConfigError")
      if (e._tag === "ConfigError") {
        expect(e.field, JSON.stringify(json)).toBe(field)
        expect(e.message).toContain(`"${field}"`)
        expect(e.message).toContain("cfg.json")
      }
    }
    expect((await fail([1, 2]))._tag).toBe("ConfigError")
  })

  it("rejects unsupported features with UnsupportedConfigError naming the field", async () => {
    const cases: Array<[unknown, string]> = [
      [{ ...base, use_sliding_window: true }, "use_sliding_window"],
      [{ ...base, rope_scaling: { type: "yarn", factor: 4 } }, "rope_scaling"],
      [{ ...base, hidden_act: "gelu" }, "hidden_act"],
      [{ ...base, model_type: "llama" }, "model_type"],
      [{ ...base, quantization_config: { quant_method: "awq" } }, "quantization_config"],
      [{ ...base, layer_types: ["full_attention", "sliding_attention", "full_attention"] }, "layer_types.1"],
      [{ ...base, rope_parameters: { rope_type: "yarn" } }, "rope_parameters.rope_type"]
    ]
    for (const [json, field] of cases) {
      const e = await fail(json)
      expect(e._tag, field).toBe("UnsupportedConfigError")
      if (e._tag === "UnsupportedConfigError") {
        expect(e.field).toBe(field)
        expect(e.message).toContain(field)
      }
    }
  })

  it("round-trips through qwen2ConfigToJson", async () => {
    const c = await Effect.runPromise(
      makeQwen2Config({ ...base, tie_word_embeddings: true, eos_token_id: [5, 6], head_dim: 32 })
    )
    const again = await parse(JSON.parse(JSON.stringify(qwen2ConfigToJson(c))))
    expect(again).toEqual({ ...c, torch_dtype: "float32" })
  })
})

describe("generation_config.json", () => {
  it("normalises eos ids, allows unknown fields, names bad fields", async () => {
    const g = await Effect.runPromise(
      parseGenerationConfig({ eos_token_id: [151645, 151643], pad_token_id: 151643, top_p: 0.8, foo: 1 })
    )
    expect(g).toEqual({ eosTokenIds: [151645, 151643], padTokenId: 151643, topP: 0.8 })
    expect(await Effect.runPromise(parseGenerationConfig({ eos_token_id: 2 }))).toEqual({ eosTokenIds: [2] })
    expect(await Effect.runPromise(parseGenerationConfig(undefined))).toEqual({ eosTokenIds: [] })
    const e = await Effect.runPromise(Effect.flip(parseGenerationConfig({ temperature: "hot" }, "gen.json")))
    expect(e.field).toBe("temperature")
  })
})
