import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { Tokenizer } from "@huggingface/tokenizers"
import { initTensorBackend } from "@crosscode/core"
import { paperRubric } from "@crosscode/eval"
import { greedyGenerate, type Qwen2Config } from "./src/embedded/qwen2Train.js"
import { readSafetensorsF32 } from "./src/embedded/loadSafetensors.js"
import { makeRng } from "./src/embedded/rng.js"
import * as C from "./src/embedded/corpus.js"
const { tf } = await Effect.runPromise(initTensorBackend("wasm"))
const dir = process.argv[2]!
const c = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Qwen2Config
const tok = new Tokenizer(JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")), JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")))
const w = new Map([...readSafetensorsF32(join(dir, "model.safetensors"))].map(([k, v]) => [k, tf.tensor(v.data, v.shape)]))
const rng = makeRng(999)
let ok = 0, right = 0; const N = Number(process.argv[3] ?? 12)
for (let i = 0; i < N; i++) {
  const e = C.dialogueExample(rng); const j = C.joinExample(e)
  const ids = greedyGenerate(tf, c, w, tok.encode(j.prefix).ids, 70, [c.eos_token_id])
  const text = tok.decode(ids, { skip_special_tokens: false })
  const s = paperRubric(text, e.instruction)
  if (s.toolCorrectness) ok++
  if (e.called && s.calledName === e.called.toLowerCase()) right++
  if (i < 5) console.log(e.called, "|", JSON.stringify(e.input.slice(30)), "→", JSON.stringify(text.slice(0, 200)))
}
console.log(`dialogues: tool-correct ${ok}/${N}, exact target ${right}/${N}`)
