import { Effect, Layer, References } from "effect"
import { TensorBackend } from "@crosscode/core"
import { ActivationSource } from "@crosscode/activations"
import { arrayActivationSource, plantedFeatures, Plugins, train, paperLoss, topK } from "./src/index.js"
const [stepKind, init, lr, steps, lsh, seed, counts] = [process.argv[2] ?? "sparse", process.argv[3] ?? "paper", Number(process.argv[4] ?? 3e-3), Number(process.argv[5] ?? 1500), Number(process.argv[6] ?? 1e-3), Number(process.argv[7] ?? 1), Number(process.argv[8] ?? 8)]
const d = Number(process.env.D ?? 16)
const SH = Number(process.env.SH ?? 24), EX = Number(process.env.EX ?? 6)
const planted = plantedFeatures({ dim: d, models: ["A", "B"], shared: SH, exclusive: [EX, EX], rows: 8192, seed, firingProbability: Number(process.env.P ?? 0.06), exclusiveFiringProbability: Number(process.env.PEX ?? process.env.P ?? 0.06), ...(process.env.APR ? { activePerRow: Number(process.env.APR) } : {}) })
const src = arrayActivationSource({ data: planted.data, sources: planted.sources, dim: d })
const layer = Layer.mergeAll(TensorBackend.layerFor("wasm"), Plugins.layer, Layer.succeed(ActivationSource, ActivationSource.of(src)))
const F = SH + Number(process.env.SPARE ?? 0) + 2 * counts
const t0 = performance.now()
const res = await Effect.runPromise(train(
  { architecture: { sources: planted.sources, dim: d, features: F }, sparsity: topK(Number(process.env.K ?? 4)), partition: { kind: "dfc", counts: [counts, counts] }, init: init === "tied" ? { kind: "tied" } : { kind: "paper" } },
  { steps, batchSize: 256, lr, loss: process.env.AUX ? { ...paperLoss(lsh, lsh), auxK: { alpha: 1/32 } } : paperLoss(lsh, lsh), deadAfterTokens: 50000, ...(process.env.DECAY ? { lrSchedule: { decayStartStep: Math.floor(steps / 2) } } : {}), ...(process.env.SW ? { sparsityWarmupSteps: Number(process.env.SW) } : {}), normalization: "scale", logEvery: 100000, step: stepKind as any, seed }
).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Warn")))
const cc = res.crosscoder
let okS = 0, okE = 0
for (const f of planted.features) {
  let best = -1, bestJ = -1
  for (let j = 0; j < F; j++) {
    let score = 0
    for (let m = 0; m < 2; m++) {
      const dir = cc.decoderDirection(j, m, "raw"); const u = f.directions.subarray(m*d, (m+1)*d)
      let dot = 0, n1 = 0, n2 = 0
      for (let i = 0; i < d; i++) { dot += dir[i]*u[i]; n1 += dir[i]**2; n2 += u[i]**2 }
      score += n2 > 0 ? dot / Math.sqrt(n1*n2 + 1e-12) : 0
    }
    score /= f.kind === "shared" ? 2 : 1
    if (score > best) { best = score; bestJ = j }
  }
  const group = cc.partition.groups.find(g => g.indices.includes(bestJ))!.name
  const want = f.kind === "shared" ? "shared" : `exclusive:${f.model === 0 ? "A" : "B"}`
  if (best > 0.9 && group === want) f.kind === "shared" ? okS++ : okE++; else if (process.env.V) console.log(f.kind, f.model, "best", bestJ, group, best.toFixed(3))
}
console.log(process.argv.slice(2).join(" "), "shared ok", okS, `/${SH} excl ok`, okE, `/${2*EX}`, "mse", res.history.at(-1)?.terms.mse.toFixed(4), ((performance.now()-t0)/1000).toFixed(1), "s")
