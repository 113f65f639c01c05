import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { Tokenizer } from "@huggingface/tokenizers"
import { initTensorBackend } from "@crosscode/core"
import { greedyGenerate, type Qwen2Config } from "./src/embedded/qwen2Train.js"
import { readSafetensorsF32 } from "./src/embedded/loadSafetensors.js"
const { tf } = await Effect.runPromise(initTensorBackend("wasm"))
const dir = process.argv[2]!
const c = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Qwen2Config
const tok = new Tokenizer(JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")), JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")))
const w = new Map([...readSafetensorsF32(join(dir, "model.safetensors"))].map(([k, v]) => [k, tf.tensor(v.data, v.shape)]))
const prompts = process.argv.slice(3).length ? process.argv.slice(3) : ["The chef", "In 1902, the historian", "The Stock Quote service"]
const evals = readFileSync("data/embedded/eval-tool-prompts.jsonl", "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
for (const p of [...prompts, evals[0].prompt, evals[1].prompt]) {
  const ids = greedyGenerate(tf, c, w, tok.encode(p).ids, 60, [c.eos_token_id])
  console.log(JSON.stringify(p.slice(-40)), "→", JSON.stringify(tok.decode(ids, { skip_special_tokens: false })))
}
