import { describe, expect, it } from "vitest"
import {
  Adam,
  type Crosscoder,
  type CrosscoderConfig,
  denseStep,
  type LossConfig,
  makeSparseStep,
  sourcesFor,
  sparseTopKStep,
  type TrainStep
} from "../src/index.js"
import { resolveLoss } from "../src/train/loss.js"
import { applyGradients } from "../src/train/step.js"
import { build, maxAbs, maxAbsDiff, randomArray } from "./helpers.js"
import { finiteDifferences, type RefModel, type RefOptions, type RefScheme } from "./reference.js"

const S = 2
const d = 4
const F = 10
const B = 6
const W = S * d

const arrays = (seed: number) => ({
  W_enc: randomArray(S * d * F, seed, 0.6),
  b_enc: randomArray(F, seed + 1, 0.2),
  W_dec: randomArray(F * S * d, seed + 2, 0.5),
  b_dec: randomArray(S * d, seed + 3, 0.1)
})
const x32 = randomArray(B * W, 99, 1.5)

const refModel = (cc: Crosscoder): RefModel => ({
  S,
  d,
  F,
  We: Float64Array.from(cc.W_enc.data),
  be: Float64Array.from(cc.b_enc.data),
  Wd: Float64Array.from(cc.W_dec.data),
  bd: Float64Array.from(cc.b_dec.data),
  ...(cc.partition.encoderMask === undefined ? {} : { encMask: cc.partition.encoderMask }),
  ...(cc.partition.decoderMask === undefined ? {} : { decMask: cc.partition.decoderMask }),
  sourceModel: cc.sourceModel
})

interface Case {
  readonly name: string
  readonly sparsity: CrosscoderConfig["sparsity"]
  readonly partition: CrosscoderConfig["partition"]
  readonly loss: LossConfig
  readonly coefficients: Record<string, number>
  readonly dead?: Array<number>
  readonly ref: (cc: Crosscoder) => RefScheme
  readonly sparse: boolean
}

const cases: Array<Case> = [
  {
    name: "paper: TopK + MSE + partition L1 (DFC 2/2/6)",
    sparsity: { kind: "topk", k: 3 },
    partition: { kind: "dfc", counts: [2, 2] },
    loss: { reconstruction: "mse", partitionL1: { shared: 0.05, exclusive: 0.1 } },
    coefficients: { l1_shared: 0.05, l1_exclusive: 0.1 },
    ref: () => ({ kind: "topk", k: 3 }),
    sparse: true
  },
  {
    name: "reference: TopK + L2 + aux-k on dead latents (incl. exclusive ones)",
    sparsity: { kind: "topk", k: 2 },
    partition: { kind: "dfc", counts: [2, 1] },
    loss: { reconstruction: "l2", auxK: { alpha: 0.5, k: 2 } },
    coefficients: { auxk: 0.5 },
    dead: [0, 2, 5, 7, 9],
    ref: () => ({ kind: "topk", k: 2 }),
    sparse: true
  },
  {
    name: "Anthropic: ReLU + decoder-norm-weighted L1 + SSE",
    sparsity: { kind: "relu-l1", lambda: 0.1 },
    partition: { kind: "dfc", counts: [1, 2] },
    loss: { reconstruction: "sse" },
    coefficients: { l1: 0.1 },
    ref: () => ({ kind: "relu-l1", lambda: 0.1 }),
    sparse: false
  },
  {
    name: "reference DFC: BatchTopK on decoder-norm-scaled values + L2 + aux-k",
    sparsity: { kind: "batch-topk", k: 3 },
    partition: { kind: "dfc", counts: [2, 2] },
    loss: { reconstruction: "l2", auxK: { alpha: 1 / 32 } },
    coefficients: { auxk: 1 / 32 },
    dead: [1, 4, 8],
    ref: () => ({ kind: "batch-topk", k: 3 }),
    sparse: true
  },
  {
    name: "JumpReLU weights (thresholds fixed)",
    sparsity: { kind: "jumprelu", lambda: 0, initialThreshold: 0.15 },
    partition: { kind: "none" },
    loss: { reconstruction: "mse" },
    coefficients: { l0: 0 },
    ref: () => ({
      kind: "jumprelu",
      theta: new Float64Array(F).fill(Math.fround(Math.exp(Math.fround(Math.log(0.15)))))
    }),
    sparse: false
  }
]

const deadMask = (dead?: Array<number>) => {
  if (dead === undefined) return undefined
  const m = new Uint8Array(F)
  for (const j of dead) m[j] = 1
  return m
}

const configOf = (c: Case): CrosscoderConfig => ({
  architecture: { sources: sourcesFor(["A", "B"]), dim: d, features: F },
  sparsity: c.sparsity,
  partition: c.partition
})

const gradientsFor = (cc: Crosscoder, c: Case, step: TrainStep) => {
  const loss = resolveLoss(c.loss, cc.sparsity, cc.partition, d)
  return step.gradients({
    crosscoder: cc,
    batch: x32,
    batchSize: B,
    step: 0,
    loss,
    coefficients: c.coefficients,
    dead: deadMask(c.dead)
  })
}

describe("gradients", () => {
  for (const c of cases) {
    it(`dense step matches finite differences: ${c.name}`, async () => {
      const cc = await build(configOf(c), arrays(7))
      const g = gradientsFor(cc, c, denseStep)
      const model = refModel(cc)
      const opts: RefOptions = {
        scheme: c.ref(cc),
        recon: c.loss.reconstruction,
        l1Terms: resolveLoss(c.loss, cc.sparsity, cc.partition, d).l1Terms.map((t) => ({
          weights: t.weights,
          coef: c.coefficients[t.name] ?? 0
        })),
        ...(c.loss.auxK === undefined
          ? {}
          : {
              aux: {
                dead: deadMask(c.dead)!,
                k: Math.min(c.loss.auxK.k ?? d / 2, c.dead!.length),
                alpha: c.loss.auxK.alpha!
              }
            })
      }
      const x = Float64Array.from(x32)
      for (const [name, key] of [
        ["W_enc", "We"],
        ["b_enc", "be"],
        ["W_dec", "Wd"],
        ["b_dec", "bd"]
      ] as const) {
        const got = g.grads.get(name)!.slice()
        const p = cc.allParams().find((q) => q.name === name)!
        p.forbidden?.zero(got) // what the trainer applies
        const fd = finiteDifferences(model, key, x, B, opts)
        const scale = maxAbs(fd)
        expect(scale).toBeGreaterThan(0)
        expect(maxAbsDiff(got, fd)).toBeLessThan(2e-4 * scale + 1e-6)
      }
    })
    if (c.sparse) {
      for (const kernels of ["host", "tensor"] as const) {
        it(`sparse step (${kernels} kernels) matches the dense step (loss, terms, gradients, stats): ${c.name}`, async () => {
          const cc = await build(configOf(c), arrays(11))
          const a = gradientsFor(cc, c, denseStep)
          const b = gradientsFor(cc, c, makeSparseStep({ kernels }))
          expect(b.loss).toBeCloseTo(a.loss, 5)
          expect(Object.keys(b.terms).sort()).toEqual(Object.keys(a.terms).sort())
          for (const [k, v] of Object.entries(a.terms)) expect(b.terms[k]).toBeCloseTo(v, 5)
          expect(Array.from(b.firedCounts)).toEqual(Array.from(a.firedCounts))
          expect(Object.keys(b.stats)).toEqual(Object.keys(a.stats))
          for (const [k, v] of Object.entries(a.stats)) expect(Array.from(b.stats[k]!)).toEqual(Array.from(v))
          expect([...b.grads.keys()].sort()).toEqual([...a.grads.keys()].sort())
          for (const [name, ga] of a.grads) {
            const gb = b.grads.get(name)!
            expect(maxAbs(ga)).toBeGreaterThan(0)
            expect(maxAbsDiff(ga, gb)).toBeLessThan(1e-5 * Math.max(1, maxAbs(ga)))
          }
        })
      }
    }
  }

  it("JumpReLU threshold gradient is the rectangle-kernel straight-through estimate", async () => {
    const eps = 0.5 // wide kernel so that some pre-activations fall inside it
    const c = cases[4]!
    const cc = await build(
      { ...configOf(c), sparsity: { kind: "jumprelu", lambda: 1, initialThreshold: 0.15, bandwidth: eps } },
      arrays(7)
    )
    const loss = resolveLoss({ reconstruction: "mse" }, cc.sparsity, cc.partition, d)
    const g = denseStep.gradients({
      crosscoder: cc,
      batch: x32,
      batchSize: B,
      step: 0,
      loss,
      coefficients: { l0: 1 },
      dead: undefined
    })
    const model = refModel(cc)
    const theta = Math.fround(Math.exp(Math.fround(Math.log(0.15))))
    const fwd = (await import("./reference.js")).refForward(model, Float64Array.from(x32), B, {
      scheme: { kind: "jumprelu", theta: new Float64Array(F).fill(theta) },
      recon: "mse",
      l1Terms: []
    })
    // ∂L/∂codes from the MSE: 2/(B·W) (x̂ − x) · W_decᵀ
    const expected = new Float64Array(F)
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < F; j++) {
        const pre = fwd.pre[b * F + j]!
        const inKernel = Math.abs((pre - theta) / eps) < 0.5 ? 1 : 0
        let dCode = 0
        for (let r = 0; r < W; r++)
          dCode += (2 / (B * W)) * (fwd.xhat[b * W + r]! - x32[b * W + r]!) * model.Wd[j * W + r]!
        expected[j] = expected[j]! + dCode * (-(theta / eps) * inKernel) + (-(1 / eps) * inKernel) / B
      }
    }
    const dLog = g.grads.get("sparsity.logThreshold")!
    const got = Array.from(dLog, (v) => v / theta) // ∂/∂logθ = θ ∂/∂θ
    expect(maxAbs(expected)).toBeGreaterThan(0)
    expect(maxAbsDiff(got, expected)).toBeLessThan(1e-4 * maxAbs(expected))
  })

  it("several optimizer steps: sparse and dense trajectories agree to float tolerance", async () => {
    const c = cases[1]!
    const a = await build(configOf(c), arrays(5))
    const b = await build(configOf(c), arrays(5))
    const optA = new Adam(a.allParams())
    const optB = new Adam(b.allParams())
    for (let t = 0; t < 6; t++) {
      const ga = gradientsFor(a, c, denseStep)
      const gb = gradientsFor(b, c, sparseTopKStep)
      expect(gb.loss).toBeCloseTo(ga.loss, 4)
      applyGradients(a, ga.grads, { optimizer: optA, lr: 1e-2, clipGradNorm: 1 })
      applyGradients(b, gb.grads, { optimizer: optB, lr: 1e-2, clipGradNorm: 1 })
    }
    for (const p of a.allParams()) {
      const q = b.allParams().find((r) => r.name === p.name)!
      expect(maxAbsDiff(p.data, q.data)).toBeLessThan(1e-5)
    }
  })
})
