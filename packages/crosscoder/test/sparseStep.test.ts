/**
 * The sparse step (host and tensor kernels) against the dense reference step, for TopK and
 * BatchTopK, with and without aux-k, with and without a DFC partition, with the paper's partition
 * L1 and every reconstruction loss: loss terms, every gradient, scheme statistics, fired counts,
 * and 6 Adam steps (with the BatchTopK threshold EMA); plus the trainer's step choice and an
 * end-to-end `train` run.
 *
 * Tolerance: both steps select the same entries (the selection runs the same TensorFlow.js ops on
 * bit-identical pre-activations) and differ only in float32 summation order (XNNPACK matmul
 * blocking vs gathers/loops, float64 dot products in the host kernels). Each compared value is a
 * sum of at most a few hundred float32 products here, so the difference is ≲ n·2⁻²⁴·Σ|terms|,
 * i.e. ~1e-6 of the largest gradient entry; the bound used is 1e-5 × max(1, max|g|) per gradient
 * (a missing or wrong term changes entries by ≥ 1e-2 relative) and 1e-5 on parameters after 6
 * Adam steps at lr 1e-2 (Adam's update is lr·m̂/(√v̂+ε), so a relative gradient error δ moves a
 * parameter by ≲ lr·δ per step).
 */
import { TensorBackend } from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, References, Result } from "effect"
import { describe, expect, it } from "vitest"
import {
  Adam,
  type Crosscoder,
  type CrosscoderConfig,
  denseStep,
  type GradientResult,
  type LossConfig,
  makeSparseStep,
  Plugins,
  paperLoss,
  sourcesFor,
  sparseKernelsFor,
  sparseTopKStep,
  type TrainResult,
  type TrainStep,
  train
} from "../src/index.js"
import { resolveLoss } from "../src/train/loss.js"
import { applyGradients } from "../src/train/step.js"
import { resolveTrainStep } from "../src/train/Trainer.js"
import { build, maxAbs, maxAbsDiff, memorySourceLayer, randomArray, testBackend } from "./helpers.js"

// 2 models × 2 sites, so decoder/encoder masks cut through sources of the same model
const sources = [...sourcesFor(["A", "B"], "l1"), ...sourcesFor(["A", "B"], "l2")]
const S = sources.length
const d = 6
const W = S * d
const F = 40
const B = 24

const sparsities: Array<[string, CrosscoderConfig["sparsity"]]> = [
  ["TopK", { kind: "topk", k: 4 }],
  ["BatchTopK", { kind: "batch-topk", k: 4, thresholdStartStep: 0 }]
]
const partitions: Array<[string, CrosscoderConfig["partition"]]> = [
  ["DFC 5/6/29", { kind: "dfc", counts: [5, 6] }],
  ["no partition", { kind: "none" }]
]
const losses: Array<[string, LossConfig, Record<string, number>]> = [
  ["paper (MSE + partition L1)", paperLoss(0.02, 0.05), { l1_shared: 0.02, l1_exclusive: 0.05 }],
  ["L2 + aux-k", { reconstruction: "l2", auxK: { alpha: 0.5, k: 3 } }, { auxk: 0.5 }],
  [
    "SSE + partition L1 + aux-k",
    { reconstruction: "sse", partitionL1: { shared: 0.01, exclusive: 0.03 }, auxK: { alpha: 1 / 32, k: 5 } },
    { l1_shared: 0.01, l1_exclusive: 0.03, auxk: 1 / 32 }
  ]
]
// dead latents: exclusive ones of both models and shared ones; some of them fire in the batch
const dead = new Uint8Array(F)
for (const j of [0, 3, 6, 9, 12, 17, 20, 25, 31, 38]) dead[j] = 1

const configOf = (sparsity: CrosscoderConfig["sparsity"], partition: CrosscoderConfig["partition"]) => ({
  architecture: { sources, dim: d, features: F },
  sparsity,
  partition
})
const arrays = (seed: number) => ({
  W_enc: randomArray(W * F, seed, 0.5),
  b_enc: randomArray(F, seed + 1, 0.3),
  W_dec: randomArray(F * W, seed + 2, 0.4),
  b_dec: randomArray(W, seed + 3, 0.1)
})
/** What `build` leaves in forbidden entries is not zero: zero it, as `initialArrays` does. */
const zeroForbidden = (cc: Crosscoder) => {
  for (const p of cc.allParams()) {
    if (p.forbidden === undefined) continue
    p.forbidden.zero(p.data)
    p.changed()
  }
  return cc
}

const kernelSteps: Array<[string, TrainStep]> = [
  ["host", makeSparseStep({ kernels: "host" })],
  // tiny chunks: many chunks per scatter, features and rows with more entries than one chunk
  ["tensor", makeSparseStep({ kernels: "tensor", chunkElements: 2 * W })],
  // @crosscode/native's C loops, on the native backend only (CROSSCODE_TEST_BACKEND=native)
  ...(testBackend === "native" ? [["native", makeSparseStep({ kernels: "native" })] as [string, TrainStep]] : [])
]

const gradientsOf = (
  cc: Crosscoder,
  step: TrainStep,
  loss: LossConfig,
  coefficients: Record<string, number>,
  x: Float32Array,
  t = 0
): GradientResult =>
  step.gradients({
    crosscoder: cc,
    batch: x,
    batchSize: B,
    step: t,
    loss: resolveLoss(loss, cc.sparsity, cc.partition, d),
    coefficients,
    dead: loss.auxK === undefined ? undefined : dead
  })

const expectSameGradients = (a: GradientResult, b: GradientResult) => {
  expect(Math.abs(b.loss - a.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(a.loss)))
  expect(Object.keys(b.terms).sort()).toEqual(Object.keys(a.terms).sort())
  for (const [k, v] of Object.entries(a.terms))
    expect(Math.abs(b.terms[k]! - v)).toBeLessThan(1e-5 * Math.max(1, Math.abs(v)))
  expect(Array.from(b.firedCounts)).toEqual(Array.from(a.firedCounts))
  expect(Object.keys(b.stats).sort()).toEqual(Object.keys(a.stats).sort())
  for (const [k, v] of Object.entries(a.stats)) expect(Array.from(b.stats[k]!)).toEqual(Array.from(v))
  expect([...b.grads.keys()].sort()).toEqual([...a.grads.keys()].sort())
  for (const [name, ga] of a.grads) {
    const gb = b.grads.get(name)!
    expect(maxAbs(ga), name).toBeGreaterThan(0)
    expect(maxAbsDiff(ga, gb), name).toBeLessThan(1e-5 * Math.max(1, maxAbs(ga)))
  }
}

describe("sparse step = dense step", () => {
  const x = randomArray(B * W, 77, 1.5)
  for (const [sName, sparsity] of sparsities) {
    for (const [pName, partition] of partitions) {
      for (const [lName, loss, coefficients] of losses) {
        it(`${sName}, ${pName}, ${lName}: loss terms, gradients, statistics (host and tensor kernels)`, async () => {
          const cc = zeroForbidden(await build(configOf(sparsity, partition), arrays(5)))
          const a = gradientsOf(cc, denseStep, loss, coefficients, x)
          if (loss.auxK !== undefined) {
            expect(a.terms.auxk).toBeGreaterThan(0)
            // some dead latents fire in this batch (aux-k and main entries overlap)
            expect([...dead.keys()].some((j) => dead[j] === 1 && a.firedCounts[j]! > 0)).toBe(true)
          }
          if (sparsity.kind === "batch-topk") {
            // the active set per row is ragged, k·B in total
            const perRow = new Set<number>()
            const fwd = cc.tf.tidy(() => {
              const X = cc.tf.tensor2d(x, [B, W])
              const codes = cc.sparsity.train(cc.preActivations(X), cc.sparsityContext(0)).codes
              return cc.tf.sum(cc.tf.cast(cc.tf.notEqual(codes, 0), "float32"), 1)
            })
            for (const n of fwd.dataSync()) perRow.add(n)
            fwd.dispose()
            expect(perRow.size).toBeGreaterThan(1)
            expect(a.stats.minActive![0]).toBeGreaterThan(0)
          }
          for (const [, step] of kernelSteps) expectSameGradients(a, gradientsOf(cc, step, loss, coefficients, x))
        })
      }
    }
  }

  it("fewer positive pre-activations than k (TopK) or k·B (BatchTopK): selected zeros contribute nothing", async () => {
    for (const sparsity of [
      { kind: "topk", k: 30 },
      { kind: "batch-topk", k: 30, thresholdStartStep: 0 }
    ] as const) {
      const arr = arrays(21)
      arr.b_enc = arr.b_enc.map((v) => v - 0.6) // most pre-activations negative
      const cc = zeroForbidden(await build(configOf(sparsity, partitions[0]![1]), arr))
      const [, loss, coefficients] = losses[2]!
      const a = gradientsOf(cc, denseStep, loss, coefficients, x)
      const active = a.firedCounts.reduce((p, c) => p + c, 0)
      expect(active).toBeGreaterThan(0)
      expect(active).toBeLessThan(30 * B)
      for (const [, step] of kernelSteps) expectSameGradients(a, gradientsOf(cc, step, loss, coefficients, x))
    }
  })

  for (const [sName, sparsity] of sparsities) {
    it(`${sName}: 6 Adam steps (DFC, partition L1, aux-k, threshold EMA) agree with the dense trajectory`, async () => {
      const loss = losses[2]![1]
      const coefficients = losses[2]![2]
      const runs = [["dense", denseStep] as const, ...kernelSteps].map(async ([name, step]) => ({
        name,
        step,
        cc: zeroForbidden(await build(configOf(sparsity, partitions[0]![1]), arrays(9)))
      }))
      const all = await Promise.all(runs)
      const opts = all.map((r) => new Adam(r.cc.allParams()))
      for (let t = 0; t < 6; t++) {
        const xt = randomArray(B * W, 300 + t, 1.5)
        const gs = all.map((r) => gradientsOf(r.cc, r.step, loss, coefficients, xt, t))
        for (let i = 1; i < all.length; i++) {
          expect(Math.abs(gs[i]!.loss - gs[0]!.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(gs[0]!.loss)))
          expect(Array.from(gs[i]!.firedCounts)).toEqual(Array.from(gs[0]!.firedCounts))
        }
        all.forEach((r, i) => {
          applyGradients(r.cc, gs[i]!.grads, { optimizer: opts[i]!, lr: 1e-2, clipGradNorm: 1 })
          r.cc.sparsity.update?.(gs[i]!.stats, t)
        })
      }
      const ref = all[0]!.cc
      for (const r of all.slice(1)) {
        for (const p of ref.allParams()) {
          const q = r.cc.allParams().find((o) => o.name === p.name)!
          expect(maxAbsDiff(p.data, q.data), `${r.name} ${p.name}`).toBeLessThan(1e-5)
        }
        expect(r.cc.integrity()).toEqual({ encoderMaxForbidden: 0, decoderMaxForbidden: 0 })
        const [ta, tb] = [ref.sparsity.getState().threshold, r.cc.sparsity.getState().threshold]
        if (sparsity.kind === "batch-topk") {
          expect(ta as number).toBeGreaterThan(0)
          expect(Math.abs((tb as number) - (ta as number))).toBeLessThan(1e-5 * (ta as number))
        }
      }
    })
  }
})

describe("step choice", () => {
  it('"auto" (the default) picks the sparse step for TopK and BatchTopK and says why it falls back to dense', async () => {
    const backend = (await build(configOf(sparsities[0]![1], { kind: "none" }))).tf.getBackend()
    for (const [, sparsity] of sparsities) {
      const cc = await build(configOf(sparsity, partitions[0]![1]))
      const r = Result.getOrThrow(resolveTrainStep(undefined, cc))
      expect(r.step).toBe(sparseTopKStep)
      expect(r.why).toBe(`training step: sparse (${sparseKernelsFor(backend)} kernels on ${backend})`)
    }
    const relu = await build(configOf({ kind: "relu-l1", lambda: 0.1 }, { kind: "none" }))
    const r = Result.getOrThrow(resolveTrainStep("auto", relu))
    expect(r.step).toBe(denseStep)
    expect(r.why).toMatch(
      /training step: dense, because the sparse step needs a per-row TopK or a BatchTopK scheme.*"relu-l1"/
    )
    expect(Result.getOrThrow(resolveTrainStep("dense", relu)).step).toBe(denseStep)
    expect(Result.isFailure(resolveTrainStep("sparse", relu))).toBe(true)
    expect(sparseKernelsFor("wasm")).toBe("tensor")
    expect(sparseKernelsFor("wasm", 1024 * 32 * 512)).toBe("tensor")
    expect(sparseKernelsFor("wasm", 256 * 2 * 16)).toBe("host")
    expect(sparseKernelsFor("cpu")).toBe("host")
    expect(sparseKernelsFor("tensorflow-gpu", 16)).toBe("tensor")
    const small = await build(configOf(sparsities[0]![1], { kind: "none" }))
    expect(sparseKernelsFor("native", 16)).toBe("native")
    expect(Result.getOrThrow(resolveTrainStep(undefined, small, 32)).why).toBe(
      testBackend === "native"
        ? "training step: sparse (native kernels on native)"
        : "training step: sparse (host kernels on wasm)"
    )
  })

  it("end to end: `train` with the default step equals `train` with the dense step to float tolerance (TopK and BatchTopK)", async () => {
    const data = randomArray(256 * W, 5, 1)
    const layer = Layer.mergeAll(
      NodeServices.layer,
      TensorBackend.layerFor(testBackend),
      Plugins.layer,
      memorySourceLayer(data, sources, d)
    )
    for (const [, sparsity] of sparsities) {
      const [a, b] = await Promise.all(
        (["dense", undefined] as const).map((step) =>
          Effect.runPromise(
            train(configOf(sparsity, partitions[0]![1]), {
              steps: 12,
              batchSize: 32,
              seed: 3,
              lr: 5e-3,
              loss: { ...paperLoss(0.01, 0.01), auxK: { k: 3 } },
              normalization: "none",
              deadAfterTokens: 64,
              logEvery: 100,
              ...(step === undefined ? {} : { step })
            }).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Warn"))
          )
        )
      )
      const [ra, rb] = [a as TrainResult, b as TrainResult]
      for (const p of ra.crosscoder.allParams()) {
        const q = rb.crosscoder.allParams().find((o) => o.name === p.name)!
        expect(maxAbsDiff(p.data, q.data), p.name).toBeLessThan(1e-4)
      }
      expect(Array.from(rb.state.tokensSinceFired)).toEqual(Array.from(ra.state.tokensSinceFired))
      const [ta, tb] = [ra.crosscoder.sparsity.getState().threshold, rb.crosscoder.sparsity.getState().threshold]
      if (sparsity.kind === "batch-topk") {
        expect(ta as number).toBeGreaterThan(0)
        expect(Math.abs((tb as number) - (ta as number))).toBeLessThan(1e-5 * (ta as number))
      } else expect([ta, tb]).toEqual([undefined, undefined])
    }
  })
})
