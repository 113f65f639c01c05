import { TensorBackend } from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, References } from "effect"
import { describe, expect, it } from "vitest"
import { type Crosscoder, decoderMetrics, Plugins, paperLoss, plantedFeatures, train } from "../src/index.js"
import { memorySourceLayer } from "./helpers.js"

const d = 32
const planted = plantedFeatures({
  dim: d,
  models: ["A", "B"],
  shared: 24,
  exclusive: [6, 6],
  rows: 8192,
  seed: 6,
  activePerRow: 2
})

/** For each planted feature: the latent whose decoder best matches it (mean cosine over the models it writes). */
const matches = (cc: Crosscoder) =>
  planted.features.map((f) => {
    let best = -1
    let latent = -1
    const perModel = [0, 0]
    for (let j = 0; j < cc.features; j++) {
      const cos = [0, 1].map((m) => {
        const dir = cc.decoderDirection(j, m, "raw")
        const u = f.directions.subarray(m * d, (m + 1) * d)
        let dot = 0
        let n1 = 0
        let n2 = 0
        for (let i = 0; i < d; i++) {
          dot += dir[i]! * u[i]!
          n1 += dir[i]! ** 2
          n2 += u[i]! ** 2
        }
        return n2 > 0 && n1 > 0 ? dot / Math.sqrt(n1 * n2) : 0
      })
      const score = f.kind === "shared" ? (cos[0]! + cos[1]!) / 2 : cos[f.model!]!
      if (score > best) {
        best = score
        latent = j
        perModel[0] = cos[0]!
        perModel[1] = cos[1]!
      }
    }
    const group = cc.partition.groups.find((g) => g.indices.includes(latent))!.name
    return { feature: f, latent, score: best, group }
  })

describe("training on planted features", () => {
  it("a DFC recovers shared features in the shared partition and exclusive features in their model's partition", async () => {
    const layer = Layer.mergeAll(
      NodeServices.layer,
      TensorBackend.layerFor("wasm"),
      Plugins.layer,
      memorySourceLayer(planted.data, planted.sources, d)
    )
    const steps = 3000
    const { crosscoder: cc } = await Effect.runPromise(
      train(
        {
          architecture: { sources: planted.sources, dim: d, features: 72 },
          sparsity: { kind: "topk", k: 2 },
          partition: { kind: "dfc", counts: [12, 12] }
        },
        {
          steps,
          batchSize: 256,
          seed: 6,
          lr: 3e-3,
          lrSchedule: { decayStartStep: steps / 2 },
          loss: { ...paperLoss(0.3, 0.3), auxK: {} },
          deadAfterTokens: 50_000,
          normalization: "scale",
          step: "auto",
          logEvery: 1000
        }
      ).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Warn"))
    )
    const m = matches(cc)
    const shared = m.filter((r) => r.feature.kind === "shared")
    const excl = m.filter((r) => r.feature.kind === "exclusive")
    const label = (r: (typeof m)[number]) => (r.feature.model === 0 ? "exclusive:A" : "exclusive:B")
    // Thresholds re-derived on the activations package's in-memory source (the store's statistics
    // and batch order): this run measured a worst match cosine of 0.987, 24/24 shared features in
    // shared latents and 12/12 exclusive ones in their own block (the former n-divided source: 0.930,
    // 24/24, 12/12). The bounds leave one feature of slack and 0.037 of cosine; a crosscoder that
    // misplaces two features or blurs a direction to 0.95 fails.
    // every planted feature is found
    for (const r of m) expect(r.score).toBeGreaterThan(0.95)
    // shared features: a shared latent that writes the right direction into both models
    expect(shared.filter((r) => r.group === "shared").length).toBeGreaterThanOrEqual(23)
    // exclusive features: in their own model's exclusive block, never in the other model's
    expect(excl.filter((r) => r.group === label(r)).length).toBeGreaterThanOrEqual(11)
    expect(excl.filter((r) => r.group.startsWith("exclusive:") && r.group !== label(r)).length).toBe(0)
    // those that ended in shared latents still write (almost) only into their own model
    const rel = decoderMetrics(cc, "raw").relativeNorm
    for (const r of excl.filter((x) => x.group === "shared")) {
      expect(r.feature.model === 0 ? rel[r.latent]! : 1 - rel[r.latent]!).toBeLessThan(0.1)
    }
    // exclusive latents have relative decoder norm exactly 0 (A) or 1 (B) by construction
    for (const g of cc.partition.groups.slice(0, 2))
      for (const j of g.indices) expect(rel[j]).toBe(g.name === "exclusive:A" ? 0 : 1)
    expect(cc.integrity()).toEqual({ encoderMaxForbidden: 0, decoderMaxForbidden: 0 })
  }, 60_000)
})
