import { TensorBackend } from "@crosscode/core"
import { Plugins } from "@crosscode/crosscoder"
import { makeEvalRunner, noIntervention } from "@crosscode/eval"
import { PairEncoder, readRanking, steerFeatures, sortByD } from "@crosscode/steering"
import { Effect, Layer } from "effect"
import { makeRunContext } from "./src/recipe/context.js"
import { loadRecipe } from "./src/recipe/load.js"
import { samplePrompts, studyTask, TOOL_METRIC } from "./src/recipe/sources.js"
const runDir = process.argv[2]!
const alphas = (process.argv[3] ?? "16,32,64").split(",").map(Number)
const prog = Effect.gen(function* () {
  const loaded = yield* loadRecipe("recipes/embedded.json", { runDir })
  const ctx = makeRunContext(loaded)
  const pe = yield* ctx.pairEncoder("dfc")
  const cc = pe.crosscoder
  const tok = yield* ctx.tokenizer
  const models = yield* ctx.models
  const items = yield* samplePrompts(loaded.recipe.evaluate.prompts, 20, 42, "x")
  const enc = yield* pe.encodeLastTokens(items.map((i) => tok.encode(i.toolRlSystem!)))
  const ranking = yield* readRanking(`${runDir}/rank/dfc/ranking.json`)
  const aEx = sortByD(ranking.features.filter((f) => f.partition === "exclusive:A")).slice(0, 6)
  for (const f of aEx) {
    let fired = 0, sum = 0
    for (let r = 0; r < enc.rows; r++) { const v = enc.codes[r * cc.features + f.feature]!; if (v > 0) { fired++; sum += v } }
    console.log(`A-excl #${f.feature} d=${f.cohenD.toFixed(2)} sign=${f.sign} fires on ${fired}/${enc.rows} eval prompts, mean ${(sum / Math.max(1, fired)).toFixed(2)}`)
  }
  // which A-excl features fire on eval prompts at all
  const counts = new Map<number, number>()
  const g = cc.partition.groups.find((x) => x.name === "exclusive:A")!
  for (let r = 0; r < enc.rows; r++) for (const j of g.indices) if (enc.codes[r * cc.features + j]! > 0) counts.set(j, (counts.get(j) ?? 0) + 1)
  console.log("A-excl firing on eval:", [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10))
  const runner = makeEvalRunner({ model: models.A, tokenizer: tok })
  const task = studyTask(items, "x")
  const settings = { maxNewTokens: 64 }
  const clean = yield* runner.run({ run: "clean", task, intervention: noIntervention, settings })
  const rate = (rs: ReadonlyArray<{ metrics: Record<string, unknown> }>) => rs.filter((r) => r.metrics[TOOL_METRIC] === true).length / rs.length
  console.log("clean", rate(clean.records))
  const cands = [...new Set([...aEx.map((f) => f.feature), ...[...counts.keys()].slice(0, 4)])]
  for (const feat of cands) {
    for (const a of alphas) {
      const r = yield* runner.run({ run: `s${feat}-${a}`, task, intervention: steerFeatures({ target: "A", features: [feat], alpha: a }), settings }).pipe(Effect.provideService(PairEncoder, pe))
      console.log(`feature ${feat} α=${a}: ${rate(r.records)}  e.g. ${JSON.stringify(r.records[3]!.response.slice(0, 90))}`)
    }
  }
})
Effect.runPromise(prog.pipe(Effect.scoped, Effect.provide(Layer.mergeAll(TensorBackend.layerFor("wasm"), Plugins.layer)))).catch((e) => console.error(e))
