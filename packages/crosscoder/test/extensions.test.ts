import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { TensorBackend } from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, References } from "effect"
import { describe, expect, it } from "vitest"
import { PairwisePartition } from "../examples/pairwisePartition.js"
import { ThresholdTopK } from "../examples/thresholdTopK.js"
import {
  type CrosscoderConfig,
  decoderMetrics,
  loadCrosscoder,
  Plugins,
  paperLoss,
  plantedFeatures,
  saveCrosscoder,
  train
} from "../src/index.js"
import { getTf, memorySourceLayer, randomArray } from "./helpers.js"

const repoDocs = path.join(import.meta.dirname, "..", "..", "..", "docs")
const example = (f: string) => readFile(path.join(import.meta.dirname, "..", "examples", f), "utf8")

const withSource = (
  data: Float32Array,
  sources: ReadonlyArray<{ model: string; site: string }>,
  dim: number,
  plugins: Layer.Layer<any>
) => Layer.mergeAll(NodeServices.layer, TensorBackend.layerFor("wasm"), plugins, memorySourceLayer(data, sources, dim))

describe("docs/extending-sparsity.md: ThresholdTopK", () => {
  it("the guide shows the example file verbatim", async () => {
    const doc = await readFile(path.join(repoDocs, "extending-sparsity.md"), "utf8")
    expect(doc).toContain(await example("thresholdTopK.ts"))
  })

  it("registers, trains (dense step), saves and loads through the registry", async () => {
    const planted = plantedFeatures({
      dim: 8,
      models: ["A", "B"],
      shared: 6,
      exclusive: [2, 2],
      rows: 512,
      seed: 3,
      firingProbability: 0.2
    })
    const config: CrosscoderConfig = {
      architecture: { sources: planted.sources, dim: 8, features: 16 },
      sparsity: { kind: "threshold-topk", k: 3, threshold: 0.2, lambda: 1e-3 },
      partition: { kind: "dfc", counts: [2, 2] }
    }
    const layer = withSource(planted.data, planted.sources, 8, Plugins.layerWith({ sparsity: [ThresholdTopK] }))
    const dir = await mkdtemp(path.join(tmpdir(), "ttk-"))
    try {
      const res = await Effect.runPromise(
        Effect.gen(function* () {
          const r = yield* train(config, {
            steps: 60,
            batchSize: 64,
            lr: 1e-2,
            loss: paperLoss(),
            normalization: "scale",
            logEvery: 30
          })
          yield* saveCrosscoder(dir, r.crosscoder)
          return { r, back: yield* loadCrosscoder(dir) }
        }).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Warn"))
      )
      expect(res.r.history.at(-1)!.terms.above).toBeGreaterThan(0)
      expect(res.r.history.at(-1)!.loss).toBeLessThan(res.r.history[0]!.loss * 1.5)
      const tf = await getTf()
      const x = tf.tensor3d(planted.data.subarray(0, 32 * 16), [32, 2, 8])
      const codes = res.back.encode(x).arraySync() as Array<Array<number>>
      const pre = res.back.preActivations(res.back.normalize(x)).arraySync() as Array<Array<number>>
      for (const [b, row] of codes.entries()) {
        expect(row.filter((v) => v !== 0).length).toBeLessThanOrEqual(3)
        row.forEach((v, j) => {
          if (v !== 0) expect(pre[b]![j]).toBeGreaterThan(0.2)
        })
      }
      // without the plugin registered, loading names the problem
      const exit = await Effect.runPromiseExit(
        loadCrosscoder(dir).pipe(
          Effect.provide(Layer.mergeAll(NodeServices.layer, TensorBackend.layerFor("wasm"), Plugins.layer))
        )
      )
      expect(JSON.stringify(exit)).toMatch(/unknown sparsity kind .*threshold-topk/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe("docs/extending-partition.md: three models with pairwise-shared blocks", () => {
  it("the guide shows the example file verbatim", async () => {
    const doc = await readFile(path.join(repoDocs, "extending-partition.md"), "utf8")
    expect(doc).toContain(await example("pairwisePartition.ts"))
  })

  it("resolves, enforces its masks through training with aux-k, and reports groups", async () => {
    const sources = ["A", "B", "C"].map((model) => ({ model, site: "x" }))
    const data = randomArray(256 * 3 * 6, 8, 1)
    const config: CrosscoderConfig = {
      architecture: { sources, dim: 6, features: 40 },
      sparsity: { kind: "topk", k: 4 },
      partition: { kind: "pairwise3", exclusive: 0.1, pair: 0.1 }
    }
    const layer = withSource(data, sources, 6, Plugins.layerWith({ partition: [PairwisePartition] }))
    const res = await Effect.runPromise(
      train(config, {
        steps: 30,
        batchSize: 32,
        lr: 1e-2,
        loss: { reconstruction: "l2", partitionL1: { shared: 0.01, exclusive: 0.01 }, auxK: { k: 3 } },
        deadAfterTokens: 64,
        step: "sparse",
        logEvery: 30
      }).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Warn"))
    )
    const cc = res.crosscoder
    expect(cc.partition.groups.map((g) => [g.name, g.range])).toEqual([
      ["exclusive:A", [0, 4]],
      ["exclusive:B", [4, 8]],
      ["exclusive:C", [8, 12]],
      ["pair:A+B", [12, 16]],
      ["pair:A+C", [16, 20]],
      ["pair:B+C", [20, 24]],
      ["shared", [24, 40]]
    ])
    expect(cc.integrity()).toEqual({ encoderMaxForbidden: 0, decoderMaxForbidden: 0 })
    expect(Object.keys(res.history.at(-1)!.l0PerGroup)).toHaveLength(7)
    const dm = decoderMetrics(cc)
    for (let j = 12; j < 16; j++) expect(dm.norms[j * 3 + 2]).toBe(0) // A+B features never write C
    for (let j = 12; j < 16; j++) expect(dm.norms[j * 3]! * dm.norms[j * 3 + 1]!).toBeGreaterThan(0)
  })
})
