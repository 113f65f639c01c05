import { Effect, Result } from "effect"
import { describe, expect, it } from "vitest"
import {
  Adam,
  type CrosscoderConfig,
  DfcPartition,
  denseStep,
  makeSparseStep,
  modelFeatures,
  PartitionRegistry,
  sharedFeatures,
  sourcesFor,
  sparseTopKStep
} from "../src/index.js"
import { resolveLoss } from "../src/train/loss.js"
import { applyGradients } from "../src/train/step.js"
import { build, randomArray, run } from "./helpers.js"

const resolve = (spec: unknown, features: number, models: Array<string>) =>
  run(PartitionRegistry.use((r) => r.resolve(spec, { features, models })))

describe("DFC partition", () => {
  it("matches the paper's partition sizes and contiguous layout", async () => {
    for (const [D, p, n, shared] of [
      [8192, 0.03, 245, 7702],
      [8192, 0.05, 409, 7374],
      [8192, 0.1, 819, 6554],
      [16384, 0.03, 491, 15402],
      [16384, 0.05, 819, 14746],
      [16384, 0.1, 1638, 13108]
    ] as const) {
      const part = await resolve({ kind: "dfc", fractions: [p, p] }, D, ["A", "B"])
      expect(part.groups.map((g) => [g.name, g.range])).toEqual([
        ["exclusive:A", [0, n]],
        ["exclusive:B", [n, 2 * n]],
        ["shared", [2 * n, D]]
      ])
      expect(sharedFeatures(part).length).toBe(shared)
    }
  })

  it("masks: A-exclusive reads/writes only A, B-exclusive only B, shared both; p = 0 has no masks", async () => {
    const part = await resolve({ kind: "dfc", counts: [2, 3] }, 10, ["A", "B"])
    const row = (m: number) => Array.from(part.encoderMask!.subarray(m * 10, (m + 1) * 10))
    expect(row(0)).toEqual([1, 1, 0, 0, 0, 1, 1, 1, 1, 1])
    expect(row(1)).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    expect(part.decoderMask).toEqual(part.encoderMask)
    expect(Array.from(modelFeatures(part, 0))).toEqual([0, 1, 5, 6, 7, 8, 9])
    const plain = await resolve({ kind: "dfc", fractions: [0, 0] }, 10, ["A", "B"])
    expect(plain.encoderMask).toBeUndefined()
    expect(plain.groups.map((g) => g.name)).toEqual(["exclusive:A", "exclusive:B", "shared"])
  })

  it("generalises to N models: one exclusive block per model, then shared", async () => {
    const part = await resolve({ kind: "dfc", counts: [1, 2, 3] }, 10, ["A", "B", "C"])
    expect(part.groups.map((g) => [g.name, g.range])).toEqual([
      ["exclusive:A", [0, 1]],
      ["exclusive:B", [1, 3]],
      ["exclusive:C", [3, 6]],
      ["shared", [6, 10]]
    ])
    expect(Array.from(part.encoderMask!.subarray(20, 30))).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
  })

  it("rejects impossible specs with typed errors", async () => {
    const bad = async (spec: unknown, F = 10, models = ["A", "B"]) => {
      const exit = await Effect.runPromiseExit(
        PartitionRegistry.use((r) => r.resolve(spec, { features: F, models })).pipe(
          Effect.provide(PartitionRegistry.layer)
        )
      )
      expect(exit._tag).toBe("Failure")
      return JSON.stringify(exit)
    }
    expect(await bad({ kind: "dfc", counts: [6, 6] })).toMatch(/sum to 12 > features 10/)
    expect(await bad({ kind: "dfc", fractions: [0.1] })).toMatch(/1 fractions for 2 models/)
    expect(await bad({ kind: "dfc" })).toMatch(/exactly one of/)
    expect(await bad({ kind: "dfc", fractions: "x" })).toMatch(/invalid partition spec/)
    expect(await bad({ kind: "pairwise" })).toMatch(/unknown partition kind .*pairwise/)
    expect(Result.isFailure(DfcPartition.make({ kind: "dfc", counts: [1] }, { features: 4, models: ["A"] }))).toBe(true)
  })
})

describe("partition enforcement during training", () => {
  const config = (sparsity: CrosscoderConfig["sparsity"]): CrosscoderConfig => ({
    architecture: { sources: [...sourcesFor(["A", "B"], "l1"), ...sourcesFor(["A", "B"], "l2")], dim: 5, features: 16 },
    sparsity,
    partition: { kind: "dfc", counts: [3, 4] }
  })
  for (const [name, step, sparsity] of [
    ["dense, TopK", denseStep, { kind: "topk", k: 4 }],
    ["sparse (default kernels), TopK", sparseTopKStep, { kind: "topk", k: 4 }],
    ["sparse (host kernels), TopK", makeSparseStep({ kernels: "host" }), { kind: "topk", k: 4 }],
    ["sparse (host kernels), BatchTopK", makeSparseStep({ kernels: "host" }), { kind: "batch-topk", k: 4 }],
    ["sparse (tensor kernels), BatchTopK", makeSparseStep({ kernels: "tensor" }), { kind: "batch-topk", k: 4 }],
    ["dense, BatchTopK", denseStep, { kind: "batch-topk", k: 4 }],
    ["dense, ReLU-L1", denseStep, { kind: "relu-l1", lambda: 0.01 }]
  ] as const) {
    it(`forbidden weights and their Adam moments stay exactly 0 over 40 steps with aux-k (${name}; 2 models × 2 sites)`, async () => {
      const cc = await build(config(sparsity), undefined, { seed: 3 })
      const B = 16
      const loss = resolveLoss(
        { reconstruction: "l2", partitionL1: { shared: 0.01, exclusive: 0.01 }, auxK: { alpha: 1, k: 3 } },
        cc.sparsity,
        cc.partition,
        cc.dim
      )
      const adam = new Adam(cc.allParams())
      // every exclusive latent is "dead", so aux-k reconstructs both models' residuals through them
      const dead = new Uint8Array(16)
      for (let j = 0; j < 12; j++) dead[j] = 1
      const coefficients = { l1_shared: 0.01, l1_exclusive: 0.01, auxk: 1, l1: 0.01 }
      for (let t = 0; t < 40; t++) {
        const x = randomArray(B * cc.width, 1000 + t, 2)
        const g = step.gradients({ crosscoder: cc, batch: x, batchSize: B, step: t, loss, coefficients, dead })
        expect(g.terms.auxk).toBeGreaterThan(0)
        // raw gradients do reach forbidden entries; the trainer masks them
        if (t === 0) expect(cc.W_dec.forbidden!.maxAbs(g.grads.get("W_dec")!)).toBeGreaterThan(0)
        applyGradients(cc, g.grads, { optimizer: adam, lr: 1e-2, clipGradNorm: 1 })
      }
      expect(cc.integrity()).toEqual({ encoderMaxForbidden: 0, decoderMaxForbidden: 0 })
      for (const p of [cc.W_enc, cc.W_dec]) {
        expect(p.forbidden!.count()).toBeGreaterThan(0)
        expect(p.forbidden!.maxAbs(adam.m.get(p.name)!)).toBe(0)
        expect(p.forbidden!.maxAbs(adam.v.get(p.name)!)).toBe(0)
      }
      // allowed weights did move
      const a = await build(config(sparsity), undefined, { seed: 3 })
      let moved = 0
      for (let i = 0; i < a.W_dec.data.length; i++)
        moved = Math.max(moved, Math.abs(a.W_dec.data[i]! - cc.W_dec.data[i]!))
      expect(moved).toBeGreaterThan(1e-3)
    })
  }

  it("forbiddenZero: checked once per version, carried over masked Adam updates, re-checked after changed()", async () => {
    const cc = await build(config({ kind: "topk", k: 4 }), undefined, { seed: 5 })
    for (const p of cc.allParams()) p.forbidden?.zero(p.data)
    const W = cc.W_dec
    const set = W.forbidden!
    let scans = 0
    const maxAbs = set.maxAbs.bind(set)
    set.maxAbs = (a) => {
      scans++
      return maxAbs(a)
    }
    expect(W.forbiddenZero()).toBe(true)
    expect(W.forbiddenZero()).toBe(true)
    expect(scans).toBe(1)
    const adam = new Adam(cc.allParams())
    const loss = resolveLoss({ reconstruction: "mse" }, cc.sparsity, cc.partition, cc.dim)
    for (let t = 0; t < 3; t++) {
      const x = randomArray(8 * cc.width, 50 + t, 2)
      const g = sparseTopKStep.gradients({
        crosscoder: cc,
        batch: x,
        batchSize: 8,
        step: t,
        loss,
        coefficients: {},
        dead: undefined
      })
      applyGradients(cc, g.grads, { optimizer: adam, lr: 1e-2, clipGradNorm: 1 })
    }
    expect(W.forbiddenZero()).toBe(true)
    expect(scans).toBe(1)
    // a hand edit announced with changed() is seen, and the forward masks it
    let at = -1
    set.forEachSpan((a) => {
      if (at === -1) at = a
    })
    W.data[at] = 3
    W.changed()
    expect(W.forbiddenZero()).toBe(false)
    expect(W.tensor().dataSync()[at]).toBe(0)
    expect(cc.integrity().decoderMaxForbidden).toBe(3)
  })
})
