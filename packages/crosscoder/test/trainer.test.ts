import { mkdtemp, readdir, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { ActivationSource, type ActivationSourceShape } from "@crosscode/activations"
import { Progress, type ProgressEvent, TensorBackend } from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, References, Stream } from "effect"
import { describe, expect, it } from "vitest"
import {
  Adam,
  type CrosscoderConfig,
  denseStep,
  makeSparseStep,
  Plugins,
  paperLoss,
  runStep,
  sourcesFor,
  sparseTopKStep,
  type TrainProgress,
  type TrainResult,
  train
} from "../src/index.js"
import { coefficientAt, lrFactor, resolveLoss } from "../src/train/loss.js"
import { build, getTf, memorySource, randomArray } from "./helpers.js"

const d = 6
const sources = sourcesFor(["A", "B"])
const config: CrosscoderConfig = {
  architecture: { sources, dim: d, features: 24 },
  sparsity: { kind: "topk", k: 3 },
  partition: { kind: "dfc", fractions: [0.125, 0.125] }
}
const layerFor = (source: ActivationSourceShape) =>
  Layer.mergeAll(
    NodeServices.layer,
    TensorBackend.layerFor("wasm"),
    Plugins.layer,
    Layer.succeed(ActivationSource, ActivationSource.of(source))
  )
const exitOf = (
  e: Effect.Effect<unknown, unknown, any>,
  source = memorySource(randomArray(128 * 2 * d, 1, 1), sources, d)
) =>
  Effect.runPromiseExit(
    e.pipe(
      Effect.provide(layerFor(source)),
      Effect.provideService(References.MinimumLogLevel, "Warn")
    ) as Effect.Effect<unknown, unknown>
  )

describe("trainer", () => {
  it("logs progress (loss terms, L0 per group, dead fraction, tokens/s, ETA, integrity), writes metrics and prunes checkpoints", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "trainer-"))
    try {
      const seen: Array<TrainProgress> = []
      const exit = await exitOf(
        train(
          config,
          {
            steps: 12,
            batchSize: 16,
            lr: 1e-2,
            loss: paperLoss(0.01, 0.01),
            logEvery: 4,
            checkpoint: { dir, every: 3, keep: 2 },
            deadAfterTokens: 32
          },
          { onProgress: (p) => seen.push(p) }
        )
      )
      expect(exit._tag).toBe("Success")
      expect(seen.map((p) => p.step)).toEqual([4, 8, 12])
      const p = seen.at(-1)!
      expect(Object.keys(p.terms).sort()).toEqual(["l1_exclusive", "l1_shared", "mse", "recon"])
      expect(Object.keys(p.l0PerGroup)).toEqual(["exclusive:A", "exclusive:B", "shared"])
      expect(p.l0).toBeCloseTo(3, 6)
      expect(p.tokensPerSecond).toBeGreaterThan(0)
      expect(p.etaSeconds).toBe(0)
      expect(p.deadFraction).toBeGreaterThanOrEqual(0)
      expect(p.integrity).toEqual({ encoderMaxForbidden: 0, decoderMaxForbidden: 0 })
      const lines = (await readFile(path.join(dir, "metrics.jsonl"), "utf8")).trim().split("\n")
      expect(lines).toHaveLength(3)
      expect((await readdir(path.join(dir, "checkpoints"))).sort()).toEqual(["step-000000009", "step-000000012"])
      expect(JSON.parse(await readFile(path.join(dir, "latest.json"), "utf8"))).toEqual({
        step: 12,
        dir: "checkpoints/step-000000012"
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it("runs the periodic hook on the live crosscoder (same weights as a run stopped there) and draws a bar of steps", async () => {
    const data = memorySource(randomArray(128 * 2 * d, 1, 1), sources, d)
    const base = { steps: 10, batchSize: 16, lr: 1e-2, loss: paperLoss(0.01, 0.01), logEvery: 5 }
    const seen: Array<{ step: number; params: Array<Float32Array> }> = []
    const events: Array<ProgressEvent> = []
    const exit = await exitOf(
      train(config, base, {
        progressLabel: "train t",
        periodic: {
          every: 4,
          run: (cc, step) =>
            Effect.sync(() => seen.push({ step, params: cc.allParams().map((p) => Float32Array.from(p.data)) }))
        }
      }).pipe(Effect.provide(Progress.layerCollect(events))),
      data
    )
    expect(exit._tag).toBe("Success")
    expect(seen.map((s) => s.step)).toEqual([4, 8, 10])
    for (const s of seen) {
      const stopped = await exitOf(train(config, { ...base, stopAfter: s.step }), data)
      if (stopped._tag !== "Success") throw new Error("reference run failed")
      const ref = (stopped.value as TrainResult).crosscoder.allParams().map((p) => p.data)
      expect(s.params).toEqual(ref)
    }
    expect(events[0]).toEqual({ type: "start", label: "train t", total: 10, unit: "steps", initial: 0 })
    const updates = events.filter((e) => e.type === "update")
    expect(updates.map((e) => (e.type === "update" ? e.done : -1))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(updates[4]).toMatchObject({ detail: expect.stringMatching(/^loss=\S+ L0=3\.0$/) })
    expect(events.at(-1)).toMatchObject({ type: "finish", label: "train t", done: 10 })
    // a failing hook stops training as a TrainError at that step
    const failed = await exitOf(
      train(config, base, {
        periodic: { every: 3, run: (_, step) => (step === 6 ? Effect.fail({ message: "boom" }) : Effect.void) }
      }),
      data
    )
    expect(failed._tag === "Failure" && String(failed.cause)).toContain("periodic hook at step 6 failed: boom")
  })

  it("fails with typed errors that name the problem", async () => {
    // The in-memory source refuses non-finite input, so the NaN comes in through a batch (as from a corrupt shard).
    const clean = memorySource(randomArray(128 * 2 * d, 1, 1), sources, d)
    const nan: ActivationSourceShape = {
      ...clean,
      batches: (o) =>
        Stream.map(clean.batches(o), (b) => {
          b.data[5] = Number.NaN
          return b
        })
    }
    const e1 = await exitOf(
      train(config, { steps: 3, batchSize: 128, lr: 1e-2, loss: paperLoss(), normalization: "none", logEvery: 1 }),
      nan
    )
    expect(JSON.stringify(e1)).toMatch(/TrainError.*non-finite loss/)
    const e2 = await exitOf(
      train(
        { ...config, architecture: { ...config.architecture, dim: 5 } },
        { steps: 3, batchSize: 16, lr: 1e-2, loss: paperLoss() }
      )
    )
    expect(JSON.stringify(e2)).toMatch(/2 sources × dim 6; the crosscoder expects 2 × 5/)
    const e3 = await exitOf(
      train(
        { ...config, sparsity: { kind: "relu-l1", lambda: 0.1 } },
        { steps: 3, batchSize: 16, lr: 1e-2, loss: paperLoss(), step: "sparse" }
      )
    )
    expect(JSON.stringify(e3)).toMatch(/sparse step needs a per-row TopK or a BatchTopK scheme/)
    const e4 = await exitOf(train(config, { steps: 3, batchSize: 1000, lr: 1e-2, loss: paperLoss() }))
    expect(JSON.stringify(e4)).toMatch(/no batch fits in an epoch \(128 rows, batchSize 1000/)
  })

  it("schedules: linear LR warm-up and decay, coefficient warm-up", () => {
    expect([0, 5, 10, 50, 75, 99].map((s) => lrFactor({ warmupSteps: 10, decayStartStep: 50 }, s, 100))).toEqual([
      0, 0.5, 1, 1, 0.5, 0.02
    ])
    expect(coefficientAt({ value: 2 }, 3, 10)).toBeCloseTo(0.6)
    expect(coefficientAt({ value: 2, warmupSteps: 0 }, 3, 10)).toBe(2)
    expect(coefficientAt({ value: 2 }, 30, 10)).toBe(2)
  })

  it.each([
    ["TopK", config],
    ["BatchTopK", { ...config, sparsity: { kind: "batch-topk", k: 3, thresholdStartStep: 0 } } as CrosscoderConfig]
  ])("steps do not leak tensors (%s)", async (_, config) => {
    const tf = await getTf()
    const cc = await build(config, undefined, { seed: 1 })
    const loss = resolveLoss({ ...paperLoss(), auxK: { k: 2 } }, cc.sparsity, cc.partition, d)
    const adam = new Adam(cc.allParams())
    const dead = new Uint8Array(24).fill(1, 0, 8)
    const x = randomArray(16 * 12, 3, 1)
    const counts: Array<number> = []
    for (const step of [
      denseStep,
      sparseTopKStep,
      makeSparseStep({ kernels: "host" }),
      makeSparseStep({ kernels: "tensor", chunkElements: 24 })
    ]) {
      for (let i = 0; i < 4; i++) {
        runStep(
          step,
          {
            crosscoder: cc,
            batch: x,
            batchSize: 16,
            step: i,
            loss,
            coefficients: { l1_shared: 1e-3, l1_exclusive: 1e-3, auxk: 0.03 },
            dead
          },
          { optimizer: adam, lr: 1e-3, clipGradNorm: 1 }
        )
        const inp = tf.tensor2d(x, [16, 12])
        cc.reconstruct(inp).dispose()
        inp.dispose()
        counts.push(tf.memory().numTensors)
      }
    }
    expect(new Set(counts.slice(1)).size).toBe(1)
  })
})
