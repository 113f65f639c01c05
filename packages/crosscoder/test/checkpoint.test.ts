import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { ActivationSource, type NormalizationMode } from "@crosscode/activations"
import { TensorBackend } from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, References, Result } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { CROSSCODER_VERSION } from "../src/checkpoint/checkpoint.js"
import { writeSafetensors } from "../src/checkpoint/safetensors.js"
import {
  type CrosscoderConfig,
  convertPaperCheckpoint,
  loadCrosscoder,
  makeSparseStep,
  normalizationFromStats,
  Plugins,
  saveCrosscoder,
  sourcesFor,
  type TrainConfig,
  type TrainResult,
  train
} from "../src/index.js"
import { referenceLoss } from "../src/train/loss.js"
import { bitsEqual, build, getTf, maxAbsDiff, memorySource, randomArray, run } from "./helpers.js"

const dirs: Array<string> = []
const tempDir = async () => {
  const d = await mkdtemp(path.join(tmpdir(), "crosscoder-test-"))
  dirs.push(d)
  return d
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

const S = 2
const d = 8
const rows = 200
const data = randomArray(rows * S * d, 5, 2)
const source = memorySource(data, sourcesFor(["A", "B"]), d)
const layer = Layer.mergeAll(
  NodeServices.layer,
  TensorBackend.layerFor("wasm"),
  Plugins.layer,
  Layer.succeed(ActivationSource, ActivationSource.of(source))
)
const quiet = <A, E>(e: Effect.Effect<A, E, any>) =>
  Effect.runPromise(
    e.pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Warn")) as Effect.Effect<A, E>
  )

const ccConfig = (sparsity: CrosscoderConfig["sparsity"]): CrosscoderConfig => ({
  architecture: { sources: sourcesFor(["A", "B"]), dim: d, features: 32 },
  sparsity,
  partition: { kind: "dfc", counts: [4, 4] }
})

describe("checkpoints", () => {
  it("package version constant matches package.json", async () => {
    const pkg = JSON.parse(await readFile(path.join(import.meta.dirname, "..", "package.json"), "utf8"))
    expect(CROSSCODER_VERSION).toBe(pkg.version)
  })

  it("save → load gives bit-identical weights, state, normalization and outputs", async () => {
    const dir = await tempDir()
    const res = await quiet(
      train(ccConfig({ kind: "batch-topk", k: 4, thresholdStartStep: 2 }), {
        steps: 12,
        batchSize: 32,
        lr: 1e-2,
        loss: referenceLoss(),
        normalization: "zscore",
        logEvery: 100
      })
    )
    const cc = res.crosscoder
    await run(saveCrosscoder(dir, cc))
    const cfg = JSON.parse(await readFile(path.join(dir, "config.json"), "utf8"))
    expect(cfg).toMatchObject({
      format: "crosscode-crosscoder",
      sparsity: { kind: "batch-topk", k: 4 },
      partition: { kind: "dfc", counts: [4, 4] },
      normalization: { mode: "zscore", count: rows },
      trainedSteps: 12,
      partitionGroups: [
        { name: "exclusive:A", range: [0, 4], count: 4 },
        { name: "exclusive:B", range: [4, 8], count: 4 },
        { name: "shared", range: [8, 32], count: 24 }
      ],
      versions: { "@crosscode/crosscoder": CROSSCODER_VERSION }
    })
    expect(cfg.sparsityState.threshold).toBeGreaterThan(0)
    const back = await run(loadCrosscoder(dir))
    for (const p of cc.allParams())
      expect(bitsEqual(p.data, back.allParams().find((q) => q.name === p.name)!.data)).toBe(true)
    expect(bitsEqual(back.normalization.mean, cc.normalization.mean)).toBe(true)
    expect(bitsEqual(back.normalization.divisor, cc.normalization.divisor)).toBe(true)
    expect(back.sparsity.getState()).toEqual(cc.sparsity.getState())
    const tf = await getTf()
    const x = tf.tensor3d(data.subarray(0, 10 * S * d), [10, S, d])
    expect(
      bitsEqual(cc.reconstruct(x).dataSync() as Float32Array, back.reconstruct(x).dataSync() as Float32Array)
    ).toBe(true)
  })

  it("loading reports a missing plugin kind and a malformed file as typed errors", async () => {
    const dir = await tempDir()
    const cc = await build(ccConfig({ kind: "topk", k: 2 }))
    await run(saveCrosscoder(dir, cc))
    const cfgPath = path.join(dir, "config.json")
    const cfg = JSON.parse(await readFile(cfgPath, "utf8"))
    await writeFile(cfgPath, JSON.stringify({ ...cfg, sparsity: { kind: "mystery" } }))
    const exit1 = await Effect.runPromiseExit(loadCrosscoder(dir).pipe(Effect.provide(layer)))
    expect(JSON.stringify(exit1)).toMatch(/unknown sparsity kind .*mystery/)
    await writeFile(path.join(dir, "model.safetensors"), new Uint8Array([1, 2, 3]))
    await writeFile(cfgPath, JSON.stringify(cfg))
    const exit2 = await Effect.runPromiseExit(loadCrosscoder(dir).pipe(Effect.provide(layer)))
    expect(JSON.stringify(exit2)).toMatch(/CheckpointError/)
  })
})

describe("resume", () => {
  const cases: Array<[string, CrosscoderConfig["sparsity"], NonNullable<TrainConfig["step"]>]> = [
    ["dense step, BatchTopK with threshold EMA", { kind: "batch-topk", k: 4, thresholdStartStep: 3 }, "dense"],
    ["sparse step, TopK", { kind: "topk", k: 4 }, "sparse"],
    [
      "default (sparse) step, BatchTopK with threshold EMA",
      { kind: "batch-topk", k: 4, thresholdStartStep: 3 },
      "auto"
    ],
    [
      "sparse step with host kernels, BatchTopK with threshold EMA",
      { kind: "batch-topk", k: 4, thresholdStartStep: 3 },
      makeSparseStep({ kernels: "host" })
    ]
  ]
  for (const [name, sparsity, step] of cases) {
    it(`N steps + resume + N steps equals 2N steps bit for bit (${name})`, async () => {
      const N = 9 // 2N = 18 steps of 32 rows over 200 rows: crosses epoch boundaries (drop-last)
      const base: TrainConfig = {
        steps: 2 * N,
        batchSize: 32,
        seed: 11,
        lr: 5e-3,
        lrSchedule: { warmupSteps: 4, decayStartStep: 10 },
        sparsityWarmupSteps: 5,
        loss: { reconstruction: "l2", partitionL1: { shared: 0.01, exclusive: 0.02 }, auxK: { k: 3 } },
        deadAfterTokens: 64,
        normalization: "scale",
        decoderBiasInit: "geometric-median",
        step,
        logEvery: 100
      }
      const straightDir = await tempDir()
      const a: TrainResult = await quiet(
        train(ccConfig(sparsity), { ...base, checkpoint: { dir: straightDir, every: N } })
      )
      const resumeDir = await tempDir()
      const first: TrainResult = await quiet(
        train(ccConfig(sparsity), { ...base, checkpoint: { dir: resumeDir }, stopAfter: N })
      )
      expect(first.state.step).toBe(N)
      const b: TrainResult = await quiet(train(ccConfig(sparsity), { ...base, checkpoint: { dir: resumeDir } }))
      expect(b.state.step).toBe(2 * N)
      expect(b.history.length).toBe(1) // only the resumed half ran in the second call
      for (const p of a.crosscoder.allParams()) {
        const q = b.crosscoder.allParams().find((r) => r.name === p.name)!
        expect(bitsEqual(p.data, q.data)).toBe(true)
        if (p.trainable) {
          expect(bitsEqual(a.optimizer.m.get(p.name)!, b.optimizer.m.get(p.name)!)).toBe(true)
          expect(bitsEqual(a.optimizer.v.get(p.name)!, b.optimizer.v.get(p.name)!)).toBe(true)
        }
      }
      expect(b.optimizer.t).toBe(a.optimizer.t)
      expect(b.state.cursor).toEqual(a.state.cursor)
      expect(b.state.rng).toEqual(a.state.rng)
      expect(Array.from(b.state.tokensSinceFired)).toEqual(Array.from(a.state.tokensSinceFired))
      expect(b.crosscoder.sparsity.getState()).toEqual(a.crosscoder.sparsity.getState())
      // and the straight run's step-N checkpoint equals the interrupted run's
      const ckA = await run(loadCrosscoder(path.join(straightDir, "checkpoints", `step-${String(N).padStart(9, "0")}`)))
      expect(ckA.trainedSteps).toBe(N)
      expect(maxAbsDiff(ckA.W_dec.data, first.crosscoder.W_dec.data)).toBe(0)
    })
  }

  it("refuses to resume with a different crosscoder config or batch size", async () => {
    const dir = await tempDir()
    const base: TrainConfig = {
      steps: 4,
      batchSize: 32,
      lr: 1e-3,
      loss: referenceLoss(),
      logEvery: 100,
      checkpoint: { dir }
    }
    await quiet(train(ccConfig({ kind: "topk", k: 4 }), { ...base, stopAfter: 2 }))
    const e1 = await Effect.runPromiseExit(train(ccConfig({ kind: "topk", k: 5 }), base).pipe(Effect.provide(layer)))
    expect(JSON.stringify(e1)).toMatch(/different crosscoder config/)
    const e2 = await Effect.runPromiseExit(
      train(ccConfig({ kind: "topk", k: 4 }), { ...base, batchSize: 16 }).pipe(Effect.provide(layer))
    )
    expect(JSON.stringify(e2)).toMatch(/batchSize 32/)
  })
})

describe("normalization rule: encode/decode on raw activations == folded weights", () => {
  const stats = (mode: NormalizationMode) => {
    const mean = randomArray(S * d, 21, 3)
    const std = randomArray(S * d, 22, 1).map((v) => 0.5 + Math.abs(v) * 3)
    const n = normalizationFromStats({ count: 100, mean, std, scale: Float32Array.from([2.5, 0.7]) }, mode, S, d)
    return Result.getOrThrow(n)
  }
  for (const mode of ["zscore", "scale"] as const) {
    for (const sparsity of [
      { kind: "topk", k: 5 },
      { kind: "relu-l1", lambda: 0.1 },
      { kind: "jumprelu", lambda: 0, initialThreshold: 0.05 }
    ] as const) {
      it(`${mode}, ${sparsity.kind}: same codes and reconstructions, raw in / raw out`, async () => {
        const tf = await getTf()
        const cc = await build(ccConfig(sparsity), undefined, { seed: 4, normalization: stats(mode) })
        const folded = Result.getOrThrow(cc.foldNormalization())
        expect(folded.normalization.mode).toBe("none")
        expect(folded.normalization.foldedFrom).toBe(mode)
        expect(Result.getOrThrow(folded.foldNormalization())).toBe(folded) // double-fold guard
        const raw = tf.tensor3d(
          randomArray(16 * S * d, 23, 4).map((v, i) => v + cc.normalization.mean[i % (S * d)]!),
          [16, S, d]
        )
        const c1 = cc.encode(raw).dataSync()
        const c2 = folded.encode(raw).dataSync()
        expect(maxAbsDiff(c1, c2)).toBeLessThan(1e-4)
        const r1 = cc.reconstruct(raw).dataSync()
        const r2 = folded.reconstruct(raw).dataSync()
        expect(maxAbsDiff(r1, r2)).toBeLessThan(1e-4 * Math.max(...Array.from(r1, Math.abs)))
        // normalized-space decode of the same codes differs from raw-space decode by the normalization
        const rn = cc.decodeNormalized(cc.encode(raw)).dataSync()
        expect(maxAbsDiff(rn, r1)).toBeGreaterThan(0.1)
        // decoder directions in raw units agree
        expect(maxAbsDiff(cc.decoderDirection(10, 1, "raw"), folded.decoderDirection(10, 1, "raw"))).toBeLessThan(1e-5)
        // a saved folded crosscoder loads and still folds to itself
        const dir = await tempDir()
        await run(saveCrosscoder(dir, folded))
        const back = await run(loadCrosscoder(dir))
        expect(back.normalization.foldedFrom).toBe(mode)
        expect(maxAbsDiff(back.reconstruct(raw).dataSync(), r2)).toBe(0)
      })
    }
  }

  it("BatchTopK folds into an equivalent JumpReLU (per-feature thresholds θ / Σ‖d_j‖)", async () => {
    const tf = await getTf()
    const cc = await build(ccConfig({ kind: "batch-topk", k: 4 }), undefined, {
      seed: 4,
      normalization: stats("zscore")
    })
    expect(Result.isFailure(cc.foldNormalization())).toBe(true) // no threshold yet
    cc.sparsity.setState({ threshold: 0.8 })
    const folded = Result.getOrThrow(cc.foldNormalization())
    expect(folded.config.sparsity.kind).toBe("jumprelu")
    const raw = tf.tensor3d(
      randomArray(32 * S * d, 29, 4).map((v, i) => v + cc.normalization.mean[i % (S * d)]!),
      [32, S, d]
    )
    const c1 = cc.encode(raw).dataSync()
    const c2 = folded.encode(raw).dataSync()
    expect(Array.from(c1).filter((v) => v !== 0).length).toBeGreaterThan(10)
    expect(maxAbsDiff(c1, c2)).toBeLessThan(1e-4)
  })
})

describe("paper checkpoint converter", () => {
  const D = 12
  const pd = 3
  const n_a = 2
  const n_b = 3
  const paperArrays = () => {
    const W_enc = randomArray(2 * pd * D, 41, 1)
    const W_dec = randomArray(D * 2 * pd, 42, 1)
    const enc_mask = new Float32Array(2 * D).fill(1)
    const dec_mask = new Float32Array(D * 2).fill(1)
    for (let j = 0; j < n_a; j++) {
      enc_mask[D + j] = 0
      dec_mask[j * 2 + 1] = 0
    }
    for (let j = n_a; j < n_a + n_b; j++) {
      enc_mask[j] = 0
      dec_mask[j * 2] = 0
    }
    for (let m = 0; m < 2; m++)
      for (let i = 0; i < pd; i++) for (let j = 0; j < D; j++) W_enc[(m * pd + i) * D + j]! *= enc_mask[m * D + j]!
    for (let j = 0; j < D; j++)
      for (let m = 0; m < 2; m++) for (let i = 0; i < pd; i++) W_dec[(j * 2 + m) * pd + i]! *= dec_mask[j * 2 + m]!
    return { W_enc, b_enc: randomArray(D, 43, 0.1), W_dec, b_dec: randomArray(2 * pd, 44, 0.1), enc_mask, dec_mask }
  }
  const writePaper = async (
    dir: string,
    a: ReturnType<typeof paperArrays>,
    cfg = { activation_dim: pd, dict_size: D, k: 3, n_a, n_b }
  ) => {
    await run(
      writeSafetensors(path.join(dir, "model.safetensors"), [
        { name: "W_enc", dtype: "F32", shape: [2, pd, D], data: a.W_enc },
        { name: "b_enc", dtype: "F32", shape: [D], data: a.b_enc },
        { name: "W_dec", dtype: "F32", shape: [D, 2, pd], data: a.W_dec },
        { name: "b_dec", dtype: "F32", shape: [2, pd], data: a.b_dec },
        { name: "enc_mask", dtype: "F32", shape: [2, D], data: a.enc_mask },
        { name: "dec_mask", dtype: "F32", shape: [D, 2], data: a.dec_mask }
      ])
    )
    await writeFile(path.join(dir, "config.json"), JSON.stringify(cfg))
  }

  it("converts the authors' layout and reproduces their forward pass", async () => {
    const dir = await tempDir()
    const a = paperArrays()
    await writePaper(dir, a)
    const { crosscoder: cc, report } = await run(convertPaperCheckpoint({ dir }))
    expect(report).toMatchObject({ encoderMaxForbidden: 0, decoderMaxForbidden: 0, config: { k: 3, n_a, n_b } })
    expect(cc.config.partition).toEqual({ kind: "dfc", counts: [n_a, n_b] })
    expect(cc.config.sparsity).toEqual({ kind: "topk", k: 3 })
    // the paper's forward, by loops: pre = ReLU(Σ_m x_m W_enc[m] + b_enc); top-3; x̂_m = f W_dec[:, m] + b_dec[m]
    const x = randomArray(2 * pd, 45, 2)
    const pre = Array.from({ length: D }, (_, j) => {
      let acc = a.b_enc[j]!
      for (let m = 0; m < 2; m++) for (let i = 0; i < pd; i++) acc += x[m * pd + i]! * a.W_enc[(m * pd + i) * D + j]!
      return Math.max(acc, 0)
    })
    const top = [...pre.keys()].sort((p, q) => pre[q]! - pre[p]!).slice(0, 3)
    const f = pre.map((v, j) => (top.includes(j) ? v : 0))
    const xhat = Array.from({ length: 2 * pd }, (_, r) => {
      let acc = a.b_dec[r]!
      for (let j = 0; j < D; j++) acc += f[j]! * a.W_dec[j * 2 * pd + r]!
      return acc
    })
    const tf = await getTf()
    const codes = cc.encode(tf.tensor3d(x, [1, 2, pd])).dataSync()
    expect(maxAbsDiff(codes, f)).toBeLessThan(1e-5)
    expect(maxAbsDiff(cc.reconstruct(tf.tensor3d(x, [1, 2, pd])).dataSync(), xhat)).toBeLessThan(1e-5)
    // round trip through our own format
    const out = await tempDir()
    await run(saveCrosscoder(out, cc))
    expect(bitsEqual((await run(loadCrosscoder(out))).W_enc.data, cc.W_enc.data)).toBe(true)
  })

  it("reports masks that contradict n_a / n_b, and forbidden weights that are not zero", async () => {
    const dir = await tempDir()
    const a = paperArrays()
    await writePaper(dir, a, { activation_dim: pd, dict_size: D, k: 3, n_a: 3, n_b: 2 })
    const exit = await Effect.runPromiseExit(convertPaperCheckpoint({ dir }).pipe(Effect.provide(layer)))
    expect(JSON.stringify(exit)).toMatch(/contradicts n_a = 3, n_b = 2/)
    const dir2 = await tempDir()
    const b = paperArrays()
    b.W_dec[(0 * 2 + 1) * pd]! = 0.25 // feature 0 (A-exclusive) writing into B
    await writePaper(dir2, b)
    const { report, crosscoder } = await run(convertPaperCheckpoint({ dir: dir2 }))
    expect(report.decoderMaxForbidden).toBe(0.25)
    expect(crosscoder.decoderDirection(0, 1)).toEqual(new Float32Array(pd)) // masked forward
  })
})
