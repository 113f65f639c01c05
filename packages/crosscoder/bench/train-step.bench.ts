/**
 * Crosscoder training-step throughput (tokens/s = batch rows per second through loss + gradients
 * + masked, clipped Adam update).
 *
 *   pnpm bench train-step -- --dim 256 --features 4096 --batch 1024 --k 32
 *   pnpm bench train-step -- --dim 2048 --features 8192 --k 45 --steps 3      (the paper's shape)
 *
 * Flags: --batch B (1024) --dim d (256) --features F (4096) --k (32) --models M (2) --steps (5)
 * --warmup (1) --backend auto|wasm|cpu|tensorflow|tensorflow-gpu|webgpu (auto) --step dense|sparse|both (both)
 * --partition p (exclusive fraction per model, 0.1) --aux (add aux-k with every 16th latent dead)
 * Records go to bench-results/crosscoder-train-step.jsonl.
 */

import { parseArgs } from "node:util"
import { type BackendChoice, initTensorBackend, TensorBackend, trackPeakRss, writeBenchRecords } from "@crosscode/core"
import { Effect, Layer } from "effect"
import {
  Adam,
  type CrosscoderConfig,
  denseStep,
  makeCrosscoder,
  Plugins,
  paperLoss,
  Rng,
  resolveLoss,
  runStep,
  sourcesFor,
  sparseTopKStep,
  type TrainStep
} from "../src/index.js"

const { values: flags } = parseArgs({
  options: {
    batch: { type: "string", default: "1024" },
    dim: { type: "string", default: "256" },
    features: { type: "string", default: "4096" },
    k: { type: "string", default: "32" },
    models: { type: "string", default: "2" },
    steps: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    backend: { type: "string", default: "auto" },
    step: { type: "string", default: "both" },
    partition: { type: "string", default: "0.1" },
    aux: { type: "boolean", default: false }
  },
  allowPositionals: true
})
const B = Number(flags.batch)
const d = Number(flags.dim)
const F = Number(flags.features)
const k = Number(flags.k)
const M = Number(flags.models)
const steps = Number(flags.steps)
const warmup = Number(flags.warmup)
const p = Number(flags.partition)
const stepNames = flags.step === "both" ? ["dense", "sparse"] : [flags.step]

const program = Effect.gen(function* () {
  const backend = yield* TensorBackend
  const tf = backend.tf
  const config: CrosscoderConfig = {
    architecture: {
      sources: sourcesFor(Array.from({ length: M }, (_, m) => String.fromCharCode(65 + m))),
      dim: d,
      features: F
    },
    sparsity: { kind: "topk", k },
    partition: p > 0 ? { kind: "dfc", fractions: Array.from({ length: M }, () => p) } : { kind: "none" }
  }
  const rng = Rng.seeded(1)
  const batches = Array.from({ length: 2 }, () => rng.fillNormal(new Float32Array(B * M * d)))
  const dead = flags.aux ? Uint8Array.from({ length: F }, (_, j) => (j % 16 === 0 ? 1 : 0)) : undefined
  const records = []
  for (const name of stepNames) {
    const step: TrainStep = name === "sparse" ? sparseTopKStep : denseStep
    const cc = yield* makeCrosscoder(config, { seed: 0 })
    const lossConfig = flags.aux ? { ...paperLoss(), auxK: {} } : paperLoss()
    const loss = resolveLoss(lossConfig, cc.sparsity, cc.partition, d)
    const coefficients: Record<string, number> = {}
    for (const [t, c] of Object.entries(loss.coefficients)) coefficients[t] = c.value
    const adam = new Adam(cc.allParams())
    const one = (i: number) =>
      runStep(
        step,
        { crosscoder: cc, batch: batches[i % 2]!, batchSize: B, step: i, loss, coefficients, dead },
        { optimizer: adam, lr: 1e-4, clipGradNorm: 1 }
      )
    for (let i = 0; i < warmup; i++) one(i)
    const rss = trackPeakRss()
    let peakTensor = backend.memoryBytes()
    const times: Array<number> = []
    let last = 0
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now()
      last = one(warmup + i).loss
      times.push(performance.now() - t0)
      peakTensor = Math.max(peakTensor, backend.memoryBytes())
    }
    const ms = times.reduce((a, b) => a + b, 0) / times.length
    const denseFlop = 2 * B * M * d * F * 5 // enc fwd, dec fwd, dCodes, dW_enc, dW_dec
    records.push({
      name: "crosscoder.train_step",
      backend: `${backend.name}`,
      shape: { B, d, F, k, M, step: name, partition: p, aux: flags.aux ? 1 : 0 },
      value: (B * 1000) / ms,
      unit: "tokens/s",
      extra: {
        msPerStep: Number(ms.toFixed(1)),
        minMsPerStep: Number(Math.min(...times).toFixed(1)),
        denseEquivalentGflops: Number((denseFlop / (ms * 1e6)).toFixed(2)),
        steps,
        finalLoss: Number(last.toPrecision(6))
      },
      peakRssBytes: rss.stop(),
      peakTensorBytes: peakTensor
    })
    cc.dispose()
    tf.disposeVariables()
  }
  writeBenchRecords("crosscoder-train-step", records)
})

const choice = flags.backend as BackendChoice
await Effect.runPromise(
  program.pipe(
    Effect.provide(
      Layer.mergeAll(
        Layer.effect(
          TensorBackend,
          Effect.map(initTensorBackend(choice, { allowCpu: choice === "cpu" }), (s) => TensorBackend.of(s))
        ),
        Plugins.layer
      )
    )
  )
)
