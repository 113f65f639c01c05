import { TensorBackend } from "@crosscode/core"
import { Plugins } from "@crosscode/crosscoder"
import { Effect, Layer } from "effect"
import { makeRunContext } from "./src/recipe/context.js"
import { loadRecipe } from "./src/recipe/load.js"
import { samplePrompts, readTexts } from "./src/recipe/sources.js"
import { ActivationStore } from "@crosscode/activations"
const prog = Effect.gen(function* () {
  const loaded = yield* loadRecipe("recipes/embedded.json", { runDir: process.argv[2]! })
  const ctx = makeRunContext(loaded)
  const pe = yield* ctx.pairEncoder("dfc")
  const cc = pe.crosscoder
  const tok = yield* ctx.tokenizer
  const items = yield* samplePrompts(loaded.recipe.evaluate.prompts, 40, 42, "x")
  const enc = yield* pe.encodeLastTokens(items.map((i) => tok.encode(i.toolRlSystem!)))
  const tf = cc.tf
  const relErr = (acts: Float32Array, n: number) => {
    const x = tf.tensor2d(acts, [n, 256])
    const xr = cc.reconstruct(x).reshape([n, 256])
    const d = tf.sub(xr, x)
    const out: number[] = []
    for (const s of [0, 1]) {
      const ds = d.slice([0, s * 128], [n, 128]); const xs = x.slice([0, s * 128], [n, 128])
      const e = tf.div(tf.norm(ds, 2, 1), tf.norm(xs, 2, 1)).dataSync()
      out.push(Array.from(e).reduce((a, b) => a + b, 0) / n)
    }
    return out
  }
  console.log("eval prompts rel err A,B:", relErr(enc.activations, enc.rows))
  const store = yield* ActivationStore.open(`${process.argv[2]}/harvest/store`)
  const rows = yield* store.rowRange(0, 400)
  console.log("store rows rel err A,B:", relErr(rows, 400))
  const gen = yield* readTexts(loaded.recipe.rank.generalTexts, 40, "x")
  const e2 = yield* pe.encodeLastTokens(gen.map((t) => tok.encode(t)))
  console.log("general rel err A,B:", relErr(e2.activations, e2.rows))
})
Effect.runPromise(prog.pipe(Effect.scoped, Effect.provide(Layer.mergeAll(TensorBackend.layerFor("wasm"), Plugins.layer)))).catch((e) => console.error(e))
