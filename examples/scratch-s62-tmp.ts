import { TensorBackend } from "@crosscode/core"
import { Plugins } from "@crosscode/crosscoder"
import { makeEvalRunner, noIntervention } from "@crosscode/eval"
import { PairEncoder, steerFeatures, steeringDelta, sparseFromDense } from "@crosscode/steering"
import { Effect, Layer } from "effect"
import { readFileSync } from "node:fs"
import { makeRunContext } from "./src/recipe/context.js"
import { loadRecipe } from "./src/recipe/load.js"
import { samplePrompts, studyTask } from "./src/recipe/sources.js"
const runDir = "/tmp/cc-full"
const cells = readFileSync(`${runDir}/steer/cells.jsonl`, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
const f62: number[] = cells.find((c: any) => c.id === "shared|k100|a32").features
const f7: number[] = cells.find((c: any) => c.id === "shared|k10|a32").features
const prog = Effect.gen(function* () {
  const loaded = yield* loadRecipe("recipes/embedded.json", { runDir })
  const ctx = makeRunContext(loaded)
  const pe = yield* ctx.pairEncoder("dfc")
  const tok = yield* ctx.tokenizer
  const models = yield* ctx.models
  const items = (yield* samplePrompts(loaded.recipe.evaluate.prompts, 40, 42, "x")).slice(0, 6)
  const enc = process.env.SKIPENC ? { codes: new Float32Array(6 * 512), rows: 6, activations: new Float32Array(6 * 256) } : yield* pe.encodeLastTokens(items.map((i) => tok.encode(i.toolRlSystem!)))
  const codes = sparseFromDense(enc.codes, enc.rows, pe.crosscoder.features)
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, x) => a + x * x, 0))
  console.log("delta norms 62:", norm(steeringDelta(pe.crosscoder, codes, 0, f62, 32)).toFixed(2), " 7:", norm(steeringDelta(pe.crosscoder, codes, 0, f7, 32)).toFixed(2), " act norm:", norm(enc.activations.subarray(0, 128)).toFixed(2))
  const runner = makeEvalRunner({ model: models.A, tokenizer: tok })
  const task = studyTask(items, "x")
  for (const [name, iv] of [["clean", noIntervention], ["s7", steerFeatures({ target: "A", features: f7, alpha: 32 })], ["s62", steerFeatures({ target: "A", features: f62, alpha: 32 })]] as const) {
    const r = yield* runner.run({ run: name, task, intervention: iv as any, settings: { maxNewTokens: 30 } }).pipe(Effect.provideService(PairEncoder, pe))
    console.log(name, r.records.map((x) => JSON.stringify(x.response.slice(0, 40))).join(" | "))
  }
})
Effect.runPromise(prog.pipe(Effect.scoped, Effect.provide(Layer.mergeAll(TensorBackend.layerFor("wasm"), Plugins.layer)))).catch((e) => console.error(e))
