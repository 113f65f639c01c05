/**
 * Crosscoder training-step throughput (tokens/s = batch rows per second through loss + gradients
 * + masked, clipped Adam update).
 *
 *   pnpm bench train-step -- --batch 1024 --dim 256 --features 4096 --k 32 --step both
 *   pnpm bench train-step -- --batch 1024 --dim 2048 --features 8192 --k 45 --steps 2   (the paper's shape)
 *
 * Flags: --batch B (1024) --dim d (256) --features F (4096) --k (32) --models M (2) --steps (5)
 * --warmup (1) --backend auto|wasm|cpu|tensorflow|tensorflow-gpu|webgpu (auto)
 * --step dense|sparse|sparse-host|sparse-tensor|sparse-native|both|all, or a comma-separated list (both = dense +
 *   sparse with the backend's default kernels; all = dense, sparse-host, sparse-tensor)
 * --sparsity topk|batch-topk (topk) --partition p (exclusive fraction per model, 0.1; 0 = none)
 * --aux (add aux-k, k_aux = d/2, with every 16th latent dead) --no-l1 (plain MSE, no partition L1)
 * Several variants run one after the other, each in its own process (clean peak RSS).
 * Records go to bench-results/crosscoder-train-step.jsonl: shape (B, d, F, k, M, step, kernels,
 * sparsity, partition, aux), tokens/s, ms/step (mean, min), per-phase ms (encode, decode, backward,
 * optimizer), dense-equivalent GFLOP/s, peak RSS and peak tensor bytes (one extra step under
 * tf.profile, not timed) and the machine's 1-minute load average.
 */

import { spawnSync } from "node:child_process"
import * as os from "node:os"
import { parseArgs } from "node:util"
import {
  type BackendChoice,
  type BenchRecord,
  initTensorBackend,
  Rng,
  TensorBackend,
  trackPeakRss,
  writeBenchRecords
} from "@crosscode/core"
import { Effect, Layer } from "effect"
import {
  Adam,
  applyGradients,
  type CrosscoderConfig,
  denseStep,
  type LossConfig,
  makeCrosscoder,
  makeSparseStep,
  Plugins,
  paperLoss,
  resolveLoss,
  type SparseKernels,
  sourcesFor,
  sparseKernelsFor,
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
    sparsity: { type: "string", default: "topk" },
    partition: { type: "string", default: "0.1" },
    aux: { type: "boolean", default: false },
    "no-l1": { type: "boolean", default: false }
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
const stepNames =
  flags.step === "both"
    ? ["dense", "sparse"]
    : flags.step === "all"
      ? ["dense", "sparse-host", "sparse-tensor"]
      : flags.step.split(",")
for (const n of stepNames) {
  if (!["dense", "sparse", "sparse-host", "sparse-tensor", "sparse-native"].includes(n))
    throw new Error(`unknown --step ${n}`)
}
if (flags.sparsity !== "topk" && flags.sparsity !== "batch-topk")
  throw new Error(`unknown --sparsity ${flags.sparsity}`)

// Several variants: run each in its own process, so that one's peak RSS (the wasm heap never
// shrinks) does not carry over into the next.
if (stepNames.length > 1) {
  const args = process.argv.slice(2)
  const at = args.findIndex((a) => a === "--step" || a.startsWith("--step="))
  const rest = at === -1 ? args : args.filter((_, i) => i !== at && !(i === at + 1 && args[at] === "--step"))
  let failed = 0
  for (const name of stepNames) {
    const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, ...rest, "--step", name], {
      stdio: "inherit"
    })
    if (r.status !== 0) failed++
  }
  process.exit(failed === 0 ? 0 : 1)
}

const program = Effect.gen(function* () {
  const backend = yield* TensorBackend
  const tf = backend.tf
  const config: CrosscoderConfig = {
    architecture: {
      sources: sourcesFor(Array.from({ length: M }, (_, m) => String.fromCharCode(65 + m))),
      dim: d,
      features: F
    },
    sparsity: flags.sparsity === "topk" ? { kind: "topk", k } : { kind: "batch-topk", k, thresholdStartStep: 0 },
    partition: p > 0 ? { kind: "dfc", fractions: Array.from({ length: M }, () => p) } : { kind: "none" }
  }
  const rng = Rng.seeded(1)
  const batches = Array.from({ length: 2 }, () => rng.fillNormal(new Float32Array(B * M * d)))
  const dead = flags.aux ? Uint8Array.from({ length: F }, (_, j) => (j % 16 === 0 ? 1 : 0)) : undefined
  const records: Array<BenchRecord> = []
  for (const name of stepNames) {
    const phases: Record<string, number> = {}
    const profile = (phase: string, ms: number) => {
      phases[phase] = (phases[phase] ?? 0) + ms
    }
    const kernels = name === "sparse" ? sparseKernelsFor(backend.name) : name.replace("sparse-", "")
    const step: TrainStep =
      name === "dense" ? denseStep : makeSparseStep({ kernels: kernels as SparseKernels, profile })
    const cc = yield* makeCrosscoder(config, { seed: 0 })
    const base: LossConfig = flags["no-l1"] ? { reconstruction: "mse" } : paperLoss()
    const loss = resolveLoss(flags.aux ? { ...base, auxK: {} } : base, cc.sparsity, cc.partition, d)
    const coefficients: Record<string, number> = {}
    for (const [t, c] of Object.entries(loss.coefficients)) coefficients[t] = c.value
    const adam = new Adam(cc.allParams())
    const one = (i: number) => {
      const g = step.gradients({
        crosscoder: cc,
        batch: batches[i % 2]!,
        batchSize: B,
        step: i,
        loss,
        coefficients,
        dead
      })
      const t0 = performance.now()
      applyGradients(cc, g.grads, { optimizer: adam, lr: 1e-4, clipGradNorm: 1 })
      profile("optimizer", performance.now() - t0)
      cc.sparsity.update?.(g.stats, i)
      return g
    }
    for (let i = 0; i < warmup; i++) one(i)
    for (const key of Object.keys(phases)) delete phases[key]
    const rss = trackPeakRss()
    const times: Array<number> = []
    let last = 0
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now()
      last = one(warmup + i).loss
      times.push(performance.now() - t0)
    }
    const peakRss = rss.stop()
    const measured = { ...phases }
    const prof = yield* Effect.promise(() => tf.profile(() => void one(warmup + steps)))
    const ms = times.reduce((a, b) => a + b, 0) / times.length
    const denseFlop = 2 * B * M * d * F * 5 // enc fwd, dec fwd, dCodes, dW_enc, dW_dec
    const extra: Record<string, number | string> = {
      msPerStep: Number(ms.toFixed(1)),
      minMsPerStep: Number(Math.min(...times).toFixed(1)),
      denseEquivalentGflops: Number((denseFlop / (ms * 1e6)).toFixed(2)),
      steps,
      finalLoss: Number(last.toPrecision(6)),
      load1: Number(os.loadavg()[0]!.toFixed(2))
    }
    for (const [ph, t] of Object.entries(measured)) extra[`${ph}Ms`] = Number((t / steps).toFixed(1))
    records.push({
      name: "crosscoder.train_step",
      backend: `${backend.name}`,
      shape: {
        B,
        d,
        F,
        k,
        M,
        step: name === "dense" ? "dense" : "sparse",
        kernels: name === "dense" ? "-" : kernels,
        sparsity: flags.sparsity,
        partition: p,
        aux: flags.aux ? 1 : 0
      },
      value: (B * 1000) / ms,
      unit: "tokens/s",
      extra,
      peakRssBytes: peakRss,
      peakTensorBytes: Math.max(prof.peakBytes, backend.memoryBytes())
    })
    console.log(
      `${name}: ${((B * 1000) / ms).toFixed(0)} tok/s, ${ms.toFixed(0)} ms/step`,
      Object.entries(measured)
        .map(([ph, t]) => `${ph}=${(t / steps).toFixed(0)}ms`)
        .join(" ")
    )
    cc.dispose()
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
