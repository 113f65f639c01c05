import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import {
  type CrosscoderConfig,
  decoderMetrics,
  denseStep,
  evaluateReconstruction,
  SparsityRegistry,
  sourcesFor
} from "../src/index.js"
import { resolveLoss } from "../src/train/loss.js"
import { build, getTf, maxAbsDiff, memorySource, randomArray } from "./helpers.js"

const arch = { sources: sourcesFor(["A", "B"]), dim: 6, features: 20 }
const cfg = (sparsity: CrosscoderConfig["sparsity"]): CrosscoderConfig => ({
  architecture: arch,
  sparsity,
  partition: { kind: "none" }
})

describe("sparsity schemes", () => {
  it("TopK keeps exactly k positive post-ReLU values per row (as torch.topk on ReLU(pre))", async () => {
    const tf = await getTf()
    const cc = await build(cfg({ kind: "topk", k: 3 }), undefined, { seed: 1 })
    const x = tf.tensor2d(randomArray(8 * 12, 3, 2), [8, 12])
    const pre = cc.preActivations(x).arraySync() as Array<Array<number>>
    const codes = cc.encodeNormalized(x).arraySync() as Array<Array<number>>
    for (let b = 0; b < 8; b++) {
      const top = [...pre[b]!.keys()].sort((p, q) => pre[b]![q]! - pre[b]![p]!).slice(0, 3)
      for (let j = 0; j < 20; j++) expect(codes[b]![j]).toBeCloseTo(top.includes(j) ? Math.max(pre[b]![j]!, 0) : 0, 6)
    }
  })

  it("BatchTopK keeps k·B decoder-norm-scaled entries per batch, tracks an EMA threshold, and infers batch-independently", async () => {
    const tf = await getTf()
    const cc = await build(cfg({ kind: "batch-topk", k: 3, thresholdBeta: 0.5, thresholdStartStep: 0 }), undefined, {
      seed: 2
    })
    const B = 16
    const x = randomArray(B * 12, 5, 2)
    const loss = resolveLoss({ reconstruction: "l2" }, cc.sparsity, cc.partition, 6)
    const norms = cc.decoderNorms()
    const s = Array.from({ length: 20 }, (_, j) => norms[j * 2]! + norms[j * 2 + 1]!)
    const pre = cc.preActivations(tf.tensor2d(x, [B, 12])).arraySync() as Array<Array<number>>
    const scored = pre.flatMap((row) => row.map((v, j) => Math.max(v, 0) * s[j]!))
    const kth = [...scored].sort((a, b) => b - a)[3 * B - 1]!
    const g = denseStep.gradients({
      crosscoder: cc,
      batch: x,
      batchSize: B,
      step: 1,
      loss,
      coefficients: {},
      dead: undefined
    })
    expect(g.firedCounts.reduce((a, b) => a + b, 0)).toBe(3 * B)
    const minActive = g.stats.minActive![0]!
    expect(minActive).toBeCloseTo(kth, 4)
    expect(cc.sparsity.getState()).toEqual({ threshold: -1 })
    cc.sparsity.update!(g.stats, 1)
    expect(cc.sparsity.getState().threshold).toBeCloseTo(minActive, 6)
    cc.sparsity.update!({ minActive: Float32Array.of(1) }, 2)
    expect(cc.sparsity.getState().threshold).toBeCloseTo(0.5 * minActive + 0.5, 6)
    // inference: f_j = ReLU(pre)_j · [ReLU(pre)_j · s_j > θ], the same for a row alone or in a batch
    const th = cc.sparsity.getState().threshold as number
    const all = cc.encodeNormalized(tf.tensor2d(x, [B, 12])).arraySync() as Array<Array<number>>
    const one = cc.encodeNormalized(tf.tensor2d(x.subarray(0, 12), [1, 12])).arraySync() as Array<Array<number>>
    expect(one[0]).toEqual(all[0])
    for (let j = 0; j < 20; j++)
      expect(all[3]![j]).toBeCloseTo(Math.max(pre[3]![j]!, 0) * s[j]! > th ? Math.max(pre[3]![j]!, 0) : 0, 5)
  })

  it("ReLU-L1 penalises Σ_j f_j Σ_s ‖d_j^s‖ (Anthropic) and JumpReLU counts active features", async () => {
    const cc = await build(cfg({ kind: "relu-l1", lambda: 0.5 }), undefined, { seed: 3 })
    const B = 4
    const x = randomArray(B * 12, 9, 2)
    const g = denseStep.gradients({
      crosscoder: cc,
      batch: x,
      batchSize: B,
      step: 0,
      loss: resolveLoss({ reconstruction: "sse" }, cc.sparsity, cc.partition, 6),
      coefficients: { l1: 0.5 },
      dead: undefined
    })
    const tf = await getTf()
    const codes = cc.encodeNormalized(tf.tensor2d(x, [B, 12])).arraySync() as Array<Array<number>>
    const norms = cc.decoderNorms()
    let l1 = 0
    for (const row of codes) for (const [j, v] of row.entries()) l1 += v * (norms[2 * j]! + norms[2 * j + 1]!)
    expect(g.terms.l1).toBeCloseTo(l1 / B, 4)
    expect(g.loss).toBeCloseTo(g.terms.recon! + 0.5 * g.terms.l1!, 4)

    const jr = await build(cfg({ kind: "jumprelu", lambda: 1, initialThreshold: 0.3 }), undefined, { seed: 3 })
    const gj = denseStep.gradients({
      crosscoder: jr,
      batch: x,
      batchSize: B,
      step: 0,
      loss: resolveLoss({ reconstruction: "mse" }, jr.sparsity, jr.partition, 6),
      coefficients: { l0: 1 },
      dead: undefined
    })
    const pre = jr.preActivations(tf.tensor2d(x, [B, 12])).arraySync() as Array<Array<number>>
    const l0 = pre.flat().filter((v) => v > Math.fround(Math.exp(Math.fround(Math.log(0.3))))).length / B
    expect(gj.terms.l0).toBeCloseTo(l0, 6)
    expect(gj.grads.get("sparsity.logThreshold")).toBeDefined()
  })

  it("rejects bad specs and unknown kinds", async () => {
    const bad = async (spec: unknown) =>
      JSON.stringify(
        await Effect.runPromiseExit(
          SparsityRegistry.use((r) => r.resolve(spec, { features: 10, sources: 2, dim: 4 })).pipe(
            Effect.provide(SparsityRegistry.layer)
          )
        )
      )
    expect(await bad({ kind: "topk", k: 0 })).toMatch(/k = 0 must be an integer in \[1, features = 10\]/)
    expect(await bad({ kind: "topk", k: 2.5 })).toMatch(/invalid sparsity spec/)
    expect(await bad({ kind: "batchtopk", k: 2 })).toMatch(/unknown sparsity kind/)
    expect(await bad({ k: 2 })).toMatch(/no string .*kind/)
    expect(await bad({ kind: "jumprelu", lambda: 1, bandwidth: -1 })).toMatch(/bandwidth/)
  })
})

describe("metrics", () => {
  it("MSE / FVE per source, L0 per partition group, dead fraction, decoder norms and cosines", async () => {
    const cc = await build(
      { architecture: arch, sparsity: { kind: "topk", k: 4 }, partition: { kind: "dfc", counts: [3, 2] } },
      undefined,
      { seed: 5 }
    )
    const rows = 64
    const data = randomArray(rows * 12, 17, 1)
    const src = memorySource(data, arch.sources, 6)
    const m = await Effect.runPromise(evaluateReconstruction(cc, src, { batchSize: 20 }))
    expect(m.rows).toBe(rows)
    expect(m.l0).toBeCloseTo(4, 6)
    expect(Object.values(m.l0PerGroup).reduce((a, b) => a + b, 0)).toBeCloseTo(4, 6)
    // direct computation of per-source MSE and FVE
    const tf = await getTf()
    const x = tf.tensor2d(data, [rows, 12])
    const xhat = cc.decodeNormalized(cc.encodeNormalized(x)).dataSync()
    for (let s = 0; s < 2; s++) {
      let sse = 0
      let tot = 0
      const mean = new Float64Array(6)
      for (let r = 0; r < rows; r++) for (let i = 0; i < 6; i++) mean[i] = mean[i]! + data[r * 12 + s * 6 + i]! / rows
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < 6; i++) {
          sse += (xhat[r * 12 + s * 6 + i]! - data[r * 12 + s * 6 + i]!) ** 2
          tot += (data[r * 12 + s * 6 + i]! - mean[i]!) ** 2
        }
      }
      expect(m.perSource[s]!.mse).toBeCloseTo(sse / (rows * 6), 5)
      expect(m.perSource[s]!.fve).toBeCloseTo(1 - sse / tot, 5)
    }
    expect(m.deadFraction).toBeCloseTo(Array.from(m.firingRate).filter((v) => v === 0).length / 20, 6)
    const dm = decoderMetrics(cc)
    expect(dm.pairs).toEqual([[0, 1]])
    for (let j = 0; j < 3; j++) expect([dm.relativeNorm[j], dm.cosine[j]]).toEqual([0, 0]) // A-exclusive
    for (let j = 3; j < 5; j++) expect(dm.relativeNorm[j]).toBe(1) // B-exclusive
    const a = cc.decoderDirection(10, 0)
    const b = cc.decoderDirection(10, 1)
    const dot = a.reduce((acc, v, i) => acc + v * b[i]!, 0)
    expect(dm.cosine[10]).toBeCloseTo(dot / (Math.hypot(...a) * Math.hypot(...b)), 5)
    expect(maxAbsDiff([dm.norms[20]!, dm.norms[21]!], [Math.hypot(...a), Math.hypot(...b)])).toBeLessThan(1e-5)
  })
})
