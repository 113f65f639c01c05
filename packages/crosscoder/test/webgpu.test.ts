/**
 * Harvest and training on the webgpu backend (Dawn; without a GPU, its software adapter — see
 * core's test/webgpuSetup.ts): a harvest of the golden Qwen2 pair checked against transformers'
 * block outputs, then five dense and five sparse TopK steps (the paper's loss, DFC partition; and with aux-k) and
 * the reconstruction metrics, each compared with the same run on wasm done first in this process.
 * Skips, saying why, where Dawn finds no adapter (or ../shared is absent, for the harvest).
 */
import { readFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { ActivationSource, ActivationStore, fromSamples, harvest, Policy } from "@crosscode/activations"
import {
  blockOutput,
  findSharedDir,
  initTensorBackend,
  loadModel,
  sharedMissingMessage,
  TensorBackend
} from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, References } from "effect"
import { describe, expect, it } from "vitest"
import { startWebgpu, webgpuOptions } from "../../core/test/webgpuSetup.js"
import {
  type CrosscoderConfig,
  evaluateReconstruction,
  Plugins,
  paperLoss,
  type ReconstructionMetrics,
  referenceLoss,
  sourcesFor,
  type TrainConfig,
  train
} from "../src/index.js"
import { memorySource, randomArray } from "./helpers.js"

const d = 32
const sources = sourcesFor(["A", "B"])
const config: CrosscoderConfig = {
  architecture: { sources, dim: d, features: 128 },
  sparsity: { kind: "topk", k: 8 },
  partition: { kind: "dfc", fractions: [0.125, 0.125] }
}
const data = memorySource(randomArray(256 * 2 * d, 7, 1), sources, d)
const base = { steps: 5, batchSize: 64, lr: 1e-3, logEvery: 1 }
/** The paper's loss on both steps, and the sparse step with aux-k on dead latents (dead after one batch). */
const runs: Record<string, TrainConfig> = {
  dense: { ...base, loss: paperLoss(0.01, 0.01), step: "dense" },
  sparse: { ...base, loss: paperLoss(0.01, 0.01), step: "sparse" },
  "sparse+auxk": { ...base, loss: referenceLoss(), deadAfterTokens: 64, step: "sparse" }
}
/** Relative tolerance of webgpu's losses and metrics against wasm's (float32 sums in another order). */
const REL_TOL = 2e-5

interface Run {
  readonly losses: Record<string, ReadonlyArray<number>>
  readonly metrics: ReconstructionMetrics
}

const trainAndMeasure = (backend: "wasm" | "webgpu"): Promise<Run> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const losses: Record<string, ReadonlyArray<number>> = {}
      let metrics: ReconstructionMetrics | undefined
      const tf = (yield* TensorBackend).tf
      expect(tf.getBackend()).toBe(backend)
      for (const [name, c] of Object.entries(runs)) {
        const r = yield* train(config, c)
        losses[name] = r.history.map((h) => h.loss)
        // aux-k ran (dead latents existed): its term is in the loss
        if (name === "sparse+auxk") expect(r.history.at(-1)!.terms.auxk).toBeGreaterThan(0)
        if (name === "sparse") metrics = yield* evaluateReconstruction(r.crosscoder, data, { batchSize: 100 })
      }
      return { losses, metrics: metrics! }
    }).pipe(
      Effect.provide(
        Layer.mergeAll(
          NodeServices.layer,
          TensorBackend.layerFor(backend, backend === "webgpu" ? { webgpu: webgpuOptions } : {}),
          Plugins.layer,
          Layer.succeed(ActivationSource, ActivationSource.of(data))
        )
      ),
      Effect.provideService(References.MinimumLogLevel, "Warn")
    )
  )

// wasm first (the engine is global: everything on wasm is done before switching to webgpu)
await Effect.runPromise(initTensorBackend("wasm"))
const onWasm = await trainAndMeasure("wasm")
const wg = await startWebgpu()
if (wg.skip !== undefined) console.warn(`webgpu tests skipped: ${wg.skip}`)
const shared = findSharedDir()

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12)

describe.skipIf(wg.skip !== undefined)(`crosscoder stages on webgpu (${wg.detail ?? wg.skip})`, () => {
  it("five dense, five sparse TopK and five sparse aux-k steps: losses equal wasm's, and so do the reconstruction metrics", async () => {
    const onGpu = await trainAndMeasure("webgpu")
    let worst = 0
    for (const step of Object.keys(runs)) {
      const a = onGpu.losses[step]!
      const b = onWasm.losses[step]!
      expect(a).toHaveLength(5)
      for (let i = 0; i < 5; i++) {
        worst = Math.max(worst, rel(a[i]!, b[i]!))
        expect(rel(a[i]!, b[i]!), `${step} step ${i + 1}: ${a[i]} vs wasm ${b[i]}`).toBeLessThanOrEqual(REL_TOL)
      }
    }
    const m = onGpu.metrics
    expect(m.rows).toBe(256)
    expect(rel(m.mse, onWasm.metrics.mse)).toBeLessThanOrEqual(REL_TOL)
    expect(rel(m.fve, onWasm.metrics.fve)).toBeLessThanOrEqual(REL_TOL)
    expect(m.l0).toBeCloseTo(onWasm.metrics.l0, 6)
    console.log(
      `webgpu vs wasm: losses ${JSON.stringify(onGpu.losses)}; worst relative loss difference ${worst.toExponential(2)}; mse ${m.mse} vs ${onWasm.metrics.mse}`
    )
  })

  it.skipIf(!shared)(
    `harvest of the golden pair equals transformers' block outputs${shared ? "" : ` (${sharedMissingMessage})`}`,
    async () => {
      const dirA = path.join(shared ?? "", "golden/qwen2-tiny-gqa")
      const dirB = path.join(shared ?? "", "golden/qwen2-tiny-gqa-bf16")
      type Golden = { forward: Array<{ input_ids: Array<number>; layer_outputs: Array<Array<Array<number>>> }> }
      const golden = (dir: string) => JSON.parse(readFileSync(path.join(dir, "golden.json"), "utf8")) as Golden
      const [ga, gb] = [golden(dirA), golden(dirB)]
      const layers = [0, 2]
      const tmp = await mkdtemp(path.join(tmpdir(), "webgpu-harvest-"))
      try {
        const { rows, meta } = await Effect.runPromise(
          Effect.scoped(
            Effect.gen(function* () {
              const a = yield* loadModel(dirA)
              const b = yield* loadModel(dirB)
              yield* harvest({
                models: [
                  { label: "f32", model: a },
                  { label: "bf16", model: b }
                ],
                sites: layers.map(blockOutput),
                source: fromSamples(
                  "golden",
                  ga.forward.map((f, i) => ({
                    text: "",
                    dataset: "golden",
                    id: `forward[${i}]`,
                    tokenIds: f.input_ids
                  }))
                ),
                policy: Policy.allTokens(),
                batchSize: 2,
                store: { dir: tmp, dtype: "f32" },
                progress: { log: false }
              })
              const store = yield* ActivationStore.open(tmp, { verify: "full" })
              const rows = yield* store.rowRange(0, store.rows)
              const meta = yield* Effect.forEach(
                Array.from({ length: store.rows }, (_, i) => i),
                (i) => store.rowText(i)
              )
              return { rows, meta }
            })
          ).pipe(
            Effect.provide(
              Layer.merge(Layer.orDie(TensorBackend.layerFor("webgpu", { webgpu: webgpuOptions })), NodeServices.layer)
            )
          )
        )
        const dim = 64
        const S = 2 * layers.length
        expect(meta).toHaveLength(20)
        let maxErr = 0
        meta.forEach((m, r) => {
          const seq = Number(/forward\[(\d)\]/.exec(m.id ?? "")?.[1])
          for (const [mi, g] of [ga, gb].entries()) {
            layers.forEach((l, li) => {
              const want = g.forward[seq]!.layer_outputs[l]![m.position as number]!
              const off = (r * S + mi * layers.length + li) * dim
              for (let j = 0; j < dim; j++) maxErr = Math.max(maxErr, Math.abs(rows[off + j]! - Math.fround(want[j]!)))
            })
          }
        })
        console.log(`webgpu harvest: ${meta.length} rows, max |Δ| vs transformers ${maxErr.toExponential(2)}`)
        expect(maxErr).toBeLessThan(5e-4) // golden/README.md: hidden states |Δ| ≤ 5e-4
      } finally {
        await rm(tmp, { recursive: true, force: true })
      }
    }
  )
})
