/**
 * Hostile `config.json` values for `parseQwen2Config`: each is a typed `ConfigError` naming the
 * field (or an `UnsupportedConfigError` for what is valid but not implemented), never a defect or
 * a model built with a silently wrong shape.
 */
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { describe } from "vitest"
import { type HostileCase, hostileCases } from "../../../../test-support/hostile.js"
import { parseQwen2Config, sharedMissingMessage } from "../../src/index.js"
import { goldenDir, shared } from "../helpers.js"

type Json = Record<string, unknown>
const set =
  (field: string, value: unknown) =>
  (c: Json): void => {
    c[field] = value
  }
const drop = (field: string) => (c: Json) => {
  delete c[field]
}
const CE = "ConfigError"
const bad = (field: string, value: unknown, tag = CE): HostileCase<Json> => ({
  name: `${field} = ${JSON.stringify(value)}`,
  corrupt: set(field, value),
  expect: { tag, message: new RegExp(field) }
})

const cases: ReadonlyArray<HostileCase<Json>> = [
  bad("hidden_size", 0),
  bad("hidden_size", -64),
  bad("hidden_size", 63.5),
  bad("hidden_size", "64"),
  bad("hidden_size", null),
  bad("num_attention_heads", 0),
  bad("num_attention_heads", 3), // 64 is not divisible by 3
  bad("num_key_value_heads", 3), // 4 heads are not divisible by 3 KV heads
  bad("num_hidden_layers", -1),
  bad("intermediate_size", 0),
  bad("vocab_size", 0),
  bad("vocab_size", -5),
  bad("num_key_value_heads", 0),
  bad("num_hidden_layers", 1.5),
  bad("intermediate_size", "x"),
  bad("rope_theta", -1),
  bad("rope_theta", "1e6"),
  bad("max_position_embeddings", -3),
  bad("num_attention_heads", null),
  bad("vocab_size", 1e20),
  bad("rms_norm_eps", -1e-6),
  bad("rms_norm_eps", "1e-6"),
  bad("rope_theta", 0),
  bad("max_position_embeddings", 0),
  bad("tie_word_embeddings", "yes"),
  bad("model_type", "llama-ish", "UnsupportedConfigError"),
  bad("hidden_act", "gelu", "UnsupportedConfigError"),
  bad("use_sliding_window", true, "UnsupportedConfigError"),
  { name: "hidden_size missing", corrupt: drop("hidden_size"), expect: { tag: CE, message: /hidden_size/ } },
  { name: "vocab_size missing", corrupt: drop("vocab_size"), expect: { tag: CE, message: /vocab_size/ } },
  { name: "unknown extra fields are ignored", corrupt: set("my_field", [1, 2]), expect: { ok: true } },
  {
    name: "num_key_value_heads missing defaults to num_attention_heads",
    corrupt: drop("num_key_value_heads"),
    expect: {
      ok: true,
      check: (c) => void ((c as { num_key_value_heads: number }).num_key_value_heads === 4 || fail())
    }
  }
]
const fail = () => {
  throw new Error("unexpected value")
}

describe.skipIf(!shared)(
  `hostile inputs: config.json (parseQwen2Config)${shared ? "" : ` (${sharedMissingMessage})`}`,
  () => {
    const base = () => JSON.parse(readFileSync(path.join(goldenDir("qwen2-tiny-gqa"), "config.json"), "utf8")) as Json
    hostileCases(cases, base, (c) => Effect.runPromiseExit(parseQwen2Config(c, "config.json")))
  }
)
