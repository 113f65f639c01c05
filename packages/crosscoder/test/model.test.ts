import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { type CrosscoderConfig, denseStep, paperLoss, sourcesFor, sparseTopKStep } from "../src/index.js"
import { referenceLoss, resolveLoss } from "../src/train/loss.js"
import { build, getTf } from "./helpers.js"

// S = 2 sources (A, B), d = 2, F = 3: feature 0 A-exclusive, 1 B-exclusive, 2 shared.
const config: CrosscoderConfig = {
  architecture: { sources: sourcesFor(["A", "B"]), dim: 2, features: 3 },
  sparsity: { kind: "topk", k: 2 },
  partition: { kind: "dfc", counts: [1, 1] }
}
// W_enc [S, d, F]; the 9s are forbidden (B→feature 0, A→feature 1) and must be masked.
const W_enc = Float32Array.from([1, 9, 0.5, 0, 9, 0.5, 9, 1, 0.25, 9, 0, 0.25])
const b_enc = Float32Array.from([0, -1, 0.1])
// W_dec [F, S, d]; the 7s are forbidden (feature 0 → B, feature 1 → A).
const W_dec = Float32Array.from([1, 0, 7, 7, 7, 7, 0, 1, 0.1, 0.2, 0.3, 0.4])
const b_dec = Float32Array.from([0.5, 0.5, 0, 0])
const x = Float32Array.from([1, 2, 3, 4])

// By hand: pre_0 = 1·1 + 2·0 = 1; pre_1 = 3·1 + 4·0 − 1 = 2; pre_2 = (1+2)·0.5 + (3+4)·0.25 + 0.1 = 3.35
// top-2 of ReLU → codes [0, 2, 3.35]
// x̂_A = 3.35·[0.1, 0.2] + [0.5, 0.5] = [0.835, 1.17];  x̂_B = 2·[0, 1] + 3.35·[0.3, 0.4] = [1.005, 3.34]
const codesByHand = [0, 2, 3.35]
const xhatByHand = [0.835, 1.17, 1.005, 3.34]
const E = xhatByHand.map((v, i) => v - x[i]!)
const mseByHand = E.reduce((a, e) => a + e * e, 0) / 4
const l2ByHand = (Math.hypot(E[0]!, E[1]!) + Math.hypot(E[2]!, E[3]!)) / 2
// paper L1: shared {2}: 3.35; A∪sh {0,2}: (0 + 3.35)/2; B∪sh {1,2}: (2 + 3.35)/2
const l1SharedByHand = 3.35
const l1ExclByHand = ((0 + 3.35) / 2 + (2 + 3.35) / 2) / 2

describe("crosscoder forward (hand-computed)", () => {
  it("encodes with masked weights, per-sample TopK on ReLU values, and decodes per model", async () => {
    const tf = await getTf()
    const cc = await build(config, { W_enc: W_enc.slice(), b_enc, W_dec: W_dec.slice(), b_dec })
    expect(cc.integrity()).toEqual({ encoderMaxForbidden: 9, decoderMaxForbidden: 7 })
    const codes = cc.encode(tf.tensor3d(x, [1, 2, 2]))
    expect(Array.from(codes.dataSync())).toEqual(
      codesByHand.map((v) => Math.fround(v)).map((v, i) => (i === 2 ? expect.closeTo(v, 6) : v))
    )
    const xhat = cc.decode(codes)
    expect(xhat.shape).toEqual([1, 2, 2])
    for (const [i, v] of Array.from(xhat.dataSync()).entries()) expect(v).toBeCloseTo(xhatByHand[i]!, 5)
    const pre = cc.preActivations(tf.tensor2d(x, [1, 4]))
    for (const [i, v] of Array.from(pre.dataSync()).entries()) expect(v).toBeCloseTo([1, 2, 3.35][i]!, 5)
    expect(cc.decoderDirection(0, 1)).toEqual(new Float32Array(2)) // A-exclusive feature writes nothing into B
  })

  it("computes the paper loss (MSE + λ_sh·mean|f_sh| + λ_excl·mean of the per-model means)", async () => {
    const cc = await build(config, { W_enc: W_enc.slice(), b_enc, W_dec: W_dec.slice(), b_dec })
    const loss = resolveLoss(paperLoss(0.1, 0.2), cc.sparsity, cc.partition, cc.dim)
    const coefficients = { l1_shared: 0.1, l1_exclusive: 0.2 }
    for (const step of [denseStep, sparseTopKStep]) {
      const g = step.gradients({ crosscoder: cc, batch: x, batchSize: 1, step: 0, loss, coefficients, dead: undefined })
      expect(g.terms.recon).toBeCloseTo(mseByHand, 5)
      expect(g.terms.l1_shared).toBeCloseTo(l1SharedByHand, 5)
      expect(g.terms.l1_exclusive).toBeCloseTo(l1ExclByHand, 5)
      expect(g.loss).toBeCloseTo(mseByHand + 0.1 * l1SharedByHand + 0.2 * l1ExclByHand, 5)
      expect(Array.from(g.firedCounts)).toEqual([0, 1, 1])
    }
  })

  it("computes the reference loss (mean per-model L2 norm)", async () => {
    const cc = await build(config, { W_enc: W_enc.slice(), b_enc, W_dec: W_dec.slice(), b_dec })
    const loss = resolveLoss({ ...referenceLoss(), auxK: undefined } as never, cc.sparsity, cc.partition, cc.dim)
    for (const step of [denseStep, sparseTopKStep]) {
      const g = step.gradients({
        crosscoder: cc,
        batch: x,
        batchSize: 1,
        step: 0,
        loss,
        coefficients: {},
        dead: undefined
      })
      expect(g.terms.recon).toBeCloseTo(l2ByHand, 5)
      expect(g.terms.mse).toBeCloseTo(mseByHand, 5)
    }
  })

  it("rejects wrong input shapes with a typed error", async () => {
    const tf = await getTf()
    const cc = await build(config, { W_enc, b_enc, W_dec, b_dec })
    expect(() => cc.encode(tf.zeros([1, 3, 2]))).toThrow(/expected \[batch, 2, 2\]/)
    try {
      cc.decode(tf.zeros([1, 4]) as never)
    } catch (e) {
      expect((e as { _tag: string })._tag).toBe("CrosscoderInputError")
    }
  })

  it("a plain SAE is S = 1 with partition none", async () => {
    const tf = await getTf()
    const sae = await build({
      architecture: { sources: sourcesFor(["m"]), dim: 4, features: 8 },
      sparsity: { kind: "topk", k: 3 },
      partition: { kind: "none" }
    })
    const codes = sae.encode(tf.randomNormal([5, 1, 4]))
    expect(codes.shape).toEqual([5, 8])
    const nz = Array.from(codes.dataSync()).filter((v) => v !== 0).length
    expect(nz).toBeLessThanOrEqual(15)
    expect(Result.isSuccess(sae.foldNormalization())).toBe(true)
  })
})
