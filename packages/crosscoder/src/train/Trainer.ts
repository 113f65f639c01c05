/**
 * The trainer: Adam with gradient clipping, LR warm-up/decay, coefficient warm-up, dead-latent
 * tracking (tokens since fired) feeding aux-k, periodic checkpoints and exact resume.
 *
 * Data comes from the `ActivationSource` in context, read raw and normalized on the host with the
 * store's statistics; the normalization is stored in the crosscoder (see Normalization.ts).
 *
 * Run directory layout (`checkpoint.dir`):
 *   checkpoints/step-<n>/model.safetensors, config.json   a loadable crosscoder
 *   checkpoints/step-<n>/optimizer.safetensors           Adam moments, tokens-since-fired
 *   checkpoints/step-<n>/trainer.json                    step, cursor, RNG, Adam t, configs
 *   latest.json                                          { step, dir } of the newest checkpoint
 *   metrics.jsonl                                        one progress record per log line
 *
 * Resume restores weights, moments, step, RNG state, reader cursor, dead counters and scheme
 * state, so N steps + resume + N steps equals 2N steps bit for bit.
 *
 * Progress goes to core's `Progress` service (a bar of steps, with loss and L0 at log steps);
 * `TrainOptions.periodic` runs caller code (evaluation, exports) on the live crosscoder every few
 * steps, after that step's checkpoint, so nothing has to stop and reload training to measure it.
 */

import { mkdir, readdir, rename } from "node:fs/promises"
import * as path from "node:path"
import {
  ActivationSource,
  type ActivationSourceShape,
  type ActivationStoreError,
  type NormalizationMode,
  normalizeRowsInPlace,
  type ReaderCursor
} from "@crosscode/activations"
import { appendJsonLine, Progress, Rng, type RngState, TensorBackend, type TensorBackendShape } from "@crosscode/core"
import { Effect, Result, Schema, Stream } from "effect"
import { CONFIG_FILE, loadCrosscoder, saveCrosscoder } from "../checkpoint/checkpoint.js"
import { readSafetensors, type StTensorToWrite, writeSafetensors } from "../checkpoint/safetensors.js"
import { CheckpointError, CrosscoderConfigError, TrainError } from "../errors.js"
import { Crosscoder, type CrosscoderConfig, initialArrays, resolvePlugins } from "../model/Crosscoder.js"
import { identityNormalization, normalizationFromStats } from "../model/Normalization.js"
import { ioError, readJson, removeDir, removeStaleTemps, trimStepLog, writeJsonAtomic } from "../util/fs.js"
import { Adam, type AdamOptions } from "./Adam.js"
import { denseStep } from "./denseStep.js"
import {
  coefficientAt,
  type LossConfig,
  type LrSchedule,
  lrFactor,
  paperLoss,
  referenceLoss,
  resolveLoss
} from "./loss.js"
import { sparseEntriesPerStep, sparseKernelsFor, sparseTopKStep } from "./sparseStep.js"
import { runStepAsync, type TrainStep } from "./step.js"

export interface CheckpointOptions {
  /** Run directory. */
  readonly dir: string
  /** Save every this many steps (and always at the end). Default: only at the end. */
  readonly every?: number
  /** Keep at most this many checkpoints (default 3). */
  readonly keep?: number
}

export interface TrainConfig {
  readonly steps: number
  readonly batchSize: number
  /** Seed of the initial weights, the trainer RNG and (unless `dataSeed`) the data order. Default 0. */
  readonly seed?: number
  readonly dataSeed?: number
  /** Learning rate, or "auto" = 2e-4 / √(F / 2¹⁴). */
  readonly lr: number | "auto"
  readonly adam?: AdamOptions
  /** Global gradient-norm clip (default 1.0; null = none). */
  readonly clipGradNorm?: number | null
  readonly lrSchedule?: LrSchedule
  /** Default warm-up of loss-term coefficients (default 0 = none). */
  readonly sparsityWarmupSteps?: number
  readonly loss: LossConfig
  /** How activations are normalized with the store's statistics (default "zscore", as the paper). */
  readonly normalization?: NormalizationMode
  /** A latent is dead after this many tokens without firing (default 10,000,000). */
  readonly deadAfterTokens?: number
  /** Decoder bias at step 0: zeros (default, paper), the first batch's mean or geometric median (reference). */
  readonly decoderBiasInit?: "zeros" | "mean" | "geometric-median"
  /**
   * "auto" (default: the sparse step when it supports the crosscoder — TopK, BatchTopK — else
   * dense, logging why), "dense" (the reference), "sparse" (fails if unsupported), or a custom step.
   */
  readonly step?: "dense" | "sparse" | "auto" | TrainStep
  /** Log (and record progress) every this many steps (default 50). */
  readonly logEvery?: number
  readonly checkpoint?: CheckpointOptions
  /** Resume from the newest checkpoint in `checkpoint.dir` if there is one (default true). */
  readonly resume?: boolean
  /** Stop after this many completed steps (checkpointing there) as if interrupted; the schedule still uses `steps`. */
  readonly stopAfter?: number
}

export interface TrainProgress {
  /** Completed steps. */
  readonly step: number
  readonly steps: number
  readonly loss: number
  readonly terms: Readonly<Record<string, number>>
  readonly lr: number
  readonly gradNorm: number
  /** Mean active features per row, and per partition group. */
  readonly l0: number
  readonly l0PerGroup: Readonly<Record<string, number>>
  /** Fraction of latents not fired for `deadAfterTokens` tokens. */
  readonly deadFraction: number
  readonly tokensPerSecond: number
  readonly etaSeconds: number
  readonly integrity: { readonly encoderMaxForbidden: number; readonly decoderMaxForbidden: number }
}

/** Caller code run on the live crosscoder during training (see `TrainOptions.periodic`). */
export interface PeriodicHook {
  /** Run after every step that is a multiple of `every`, and after the last step of the call. */
  readonly every: number
  /**
   * Gets the crosscoder as trained after `step` steps (read it; do not change or dispose it).
   * A failure stops training as a `TrainError` at that step (the checkpoint of the step is kept).
   */
  readonly run: (crosscoder: Crosscoder, step: number) => Effect.Effect<void, { readonly message: string }>
}

export interface TrainOptions {
  /** Called at every log step. */
  readonly onProgress?: (p: TrainProgress) => void
  /** Periodic evaluation (or any read of the crosscoder), run after that step's checkpoint. */
  readonly periodic?: PeriodicHook
  /** Label of the bar on core's `Progress` service (default "train"). */
  readonly progressLabel?: string
  /** Start from this crosscoder instead of a fresh one (ignored when resuming). */
  readonly initial?: Crosscoder
}

export interface TrainerState {
  readonly step: number
  readonly cursor: ReaderCursor | undefined
  readonly rng: RngState
  readonly tokensSeen: number
  readonly tokensSinceFired: Float64Array
}

export interface TrainResult {
  readonly crosscoder: Crosscoder
  readonly optimizer: Adam
  readonly state: TrainerState
  readonly history: ReadonlyArray<TrainProgress>
  /** Directory of the last checkpoint written, if any. */
  readonly checkpoint: string | undefined
}

/**
 * The 2606.26474 recipe: Adam lr 1e-4 (betas 0.9/0.999), clip 1.0, batch 1024, 9000 steps, no
 * schedule, elementwise MSE + λ_sh·mean|f_sh| + λ_excl·(…)/2, z-scored inputs. Use with
 * `{ kind: "topk", k }` and `{ kind: "dfc", fractions: [p, p] }` (p = 0 for the plain crosscoder).
 */
export const paperTrainConfig = (overrides: Partial<TrainConfig> = {}): TrainConfig => ({
  steps: 9000,
  batchSize: 1024,
  lr: 1e-4,
  clipGradNorm: 1,
  loss: paperLoss(1e-3, 1e-3),
  normalization: "zscore",
  ...overrides
})

/**
 * The reference DFC recipe (dictionary_learning BatchTopK crosscoder): auto LR 2e-4/√(F/2¹⁴),
 * 1000 warm-up steps, clip 1.0, mean L2 + aux-k (1/32), geometric-median decoder bias, scale
 * normalization. Use with `{ kind: "batch-topk", k }`, `init: { kind: "tied" }` and a dfc partition.
 */
export const referenceTrainConfig = (steps: number, overrides: Partial<TrainConfig> = {}): TrainConfig => ({
  steps,
  batchSize: 2048,
  lr: "auto",
  clipGradNorm: 1,
  lrSchedule: { warmupSteps: 1000 },
  loss: referenceLoss(1 / 32),
  normalization: "scale",
  decoderBiasInit: "geometric-median",
  ...overrides
})

const TrainerJson = Schema.Struct({
  step: Schema.Int,
  adamT: Schema.Int,
  cursor: Schema.optionalKey(Schema.Struct({ epoch: Schema.Finite, offset: Schema.Finite })),
  rng: Schema.Tuple([Schema.Finite, Schema.Finite, Schema.Finite, Schema.Finite]),
  tokensSeen: Schema.Finite,
  batchSize: Schema.Int,
  dataSeed: Schema.Finite
})

const stepDirName = (step: number) => `step-${String(step).padStart(9, "0")}`

/**
 * The step `train` runs for `choice` (default "auto") on `cc`, with the line it logs saying which
 * and why; fails (with the reason) when an explicitly requested step does not support `cc`.
 */
export const resolveTrainStep = (
  choice: TrainConfig["step"],
  cc: Crosscoder,
  batchSize?: number
): Result.Result<{ readonly step: TrainStep; readonly why: string }, string> => {
  const c = choice ?? "auto"
  const backend = cc.tf.getBackend()
  const entries = batchSize === undefined ? undefined : sparseEntriesPerStep(cc, batchSize)
  const sparseName = () =>
    `sparse (${sparseKernelsFor(backend, entries === undefined ? undefined : entries * cc.width)} kernels on ${backend})`
  if (c === "dense") return Result.succeed({ step: denseStep, why: "training step: dense (requested)" })
  if (c === "auto") {
    const why = sparseTopKStep.supports(cc)
    return Result.succeed(
      why === undefined
        ? { step: sparseTopKStep, why: `training step: ${sparseName()}` }
        : { step: denseStep, why: `training step: dense, because ${why}` }
    )
  }
  const s = c === "sparse" ? sparseTopKStep : c
  const why = s.supports(cc)
  if (why !== undefined) return Result.fail(why)
  return Result.succeed({ step: s, why: `training step: ${c === "sparse" ? sparseName() : s.name}` })
}

/** Weiszfeld geometric median per source of `[B, S·d]` rows. */
const geometricMedian = (x: Float32Array, B: number, S: number, d: number): Float32Array => {
  const out = new Float32Array(S * d)
  for (let s = 0; s < S; s++) {
    const g = new Float64Array(d)
    for (let b = 0; b < B; b++) for (let i = 0; i < d; i++) g[i] = g[i]! + x[(b * S + s) * d + i]! / B
    for (let it = 0; it < 100; it++) {
      const next = new Float64Array(d)
      let wsum = 0
      for (let b = 0; b < B; b++) {
        let n = 0
        for (let i = 0; i < d; i++) {
          const c = x[(b * S + s) * d + i]! - g[i]!
          n += c * c
        }
        const w = 1 / Math.max(Math.sqrt(n), 1e-12)
        wsum += w
        for (let i = 0; i < d; i++) next[i] = next[i]! + w * x[(b * S + s) * d + i]!
      }
      let moved = 0
      for (let i = 0; i < d; i++) {
        next[i] = next[i]! / wsum
        moved += (next[i]! - g[i]!) ** 2
        g[i] = next[i]!
      }
      if (Math.sqrt(moved) < 1e-5) break
    }
    for (let i = 0; i < d; i++) out[s * d + i] = g[i]!
  }
  return out
}

const latestCheckpoint = (dir: string) =>
  Effect.gen(function* () {
    const ckDir = path.join(dir, "checkpoints")
    const names = yield* Effect.tryPromise({
      try: () => readdir(ckDir).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? [] : Promise.reject(e))),
      catch: ioError(ckDir, "cannot list")
    })
    const steps = names
      .map((n) => /^step-(\d+)$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ step: Number(m[1]), dir: path.join(ckDir, m[0]) }))
      .sort((a, b) => b.step - a.step)
    return steps
  })

interface StartPoint {
  readonly cc: Crosscoder
  readonly adam: Adam
  readonly state: TrainerState
}

/** The crosscoder, optimizer and trainer state saved in checkpoint `dir`, checked against this run's configs. */
const restoreCheckpoint = Effect.fnUntraced(function* (
  dir: string,
  crosscoderConfig: CrosscoderConfig,
  config: TrainConfig,
  dataSeed: number
) {
  const B = config.batchSize
  const F = crosscoderConfig.architecture.features
  const cc = yield* loadCrosscoder(dir)
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
  if (
    !same(cc.config.architecture, crosscoderConfig.architecture) ||
    !same(cc.config.sparsity, crosscoderConfig.sparsity) ||
    !same(cc.config.partition, crosscoderConfig.partition)
  ) {
    return yield* new TrainError({
      step: cc.trainedSteps,
      message: `checkpoint ${dir} was trained with a different crosscoder config; use another checkpoint.dir or resume: false`
    })
  }
  const tj = yield* readJson(path.join(dir, "trainer.json")).pipe(
    Effect.flatMap((raw) =>
      Schema.decodeUnknownEffect(TrainerJson)(raw).pipe(
        Effect.mapError((e) => new CheckpointError({ path: path.join(dir, "trainer.json"), message: e.message }))
      )
    )
  )
  if (tj.batchSize !== B || tj.dataSeed !== dataSeed) {
    return yield* new TrainError({
      step: tj.step,
      message: `checkpoint ${dir} used batchSize ${tj.batchSize}, dataSeed ${tj.dataSeed}; this run asks for ${B}, ${dataSeed}`
    })
  }
  const opt = yield* readSafetensors(path.join(dir, "optimizer.safetensors"))
  const adam = new Adam(cc.allParams(), config.adam)
  adam.t = tj.adamT
  for (const p of cc.allParams()) {
    if (!p.trainable) continue
    const m = opt.tensors.get(`adam.m.${p.name}`)?.data
    const v = opt.tensors.get(`adam.v.${p.name}`)?.data
    if (
      !(m instanceof Float32Array) ||
      !(v instanceof Float32Array) ||
      m.length !== p.data.length ||
      v.length !== p.data.length
    ) {
      return yield* new CheckpointError({
        path: dir,
        message: `optimizer state for ${p.name} is missing or has the wrong size`
      })
    }
    adam.m.get(p.name)!.set(m)
    adam.v.get(p.name)!.set(v)
  }
  adam.zeroForbidden()
  const tsf = opt.tensors.get("dead.tokensSinceFired")?.data
  if (!(tsf instanceof Float64Array) || tsf.length !== F)
    return yield* new CheckpointError({ path: dir, message: "dead-latent counters missing" })
  const state: TrainerState = {
    step: tj.step,
    cursor: tj.cursor,
    rng: tj.rng as unknown as RngState,
    tokensSeen: tj.tokensSeen,
    tokensSinceFired: Float64Array.from(tsf)
  }
  yield* Effect.logInfo(`resuming from ${dir} at step ${tj.step}`)
  return { cc, adam, state } satisfies StartPoint
})

/** A new crosscoder (or `options.initial`) with fresh optimizer and trainer state. */
const freshStart = Effect.fnUntraced(function* (
  crosscoderConfig: CrosscoderConfig,
  config: TrainConfig,
  options: TrainOptions,
  source: ActivationSourceShape,
  tf: TensorBackendShape["tf"]
) {
  const { sources, dim: d, features: F } = crosscoderConfig.architecture
  const S = sources.length
  const seed = config.seed ?? 0
  const mode = config.normalization ?? "zscore"
  const bad = (message: string) => new TrainError({ step: 0, message })
  let cc: Crosscoder
  if (options.initial !== undefined) {
    if (JSON.stringify(options.initial.config.architecture) !== JSON.stringify(crosscoderConfig.architecture)) {
      return yield* bad("options.initial has a different architecture than the crosscoder config")
    }
    cc = options.initial
  } else {
    let normalization = identityNormalization(S, d)
    if (mode !== "none") {
      if (source.normalization === undefined) {
        return yield* bad(`normalization "${mode}" needs statistics, but the activation source ${source.path} has none`)
      }
      const n = normalizationFromStats(source.normalization, mode, S, d)
      if (Result.isFailure(n)) return yield* bad(n.failure)
      normalization = n.success
    }
    const { sparsity, partition } = yield* resolvePlugins(crosscoderConfig)
    const made = Crosscoder.fromParts({
      tf,
      config: crosscoderConfig,
      sparsity,
      partition,
      normalization,
      arrays: initialArrays(crosscoderConfig, partition, seed)
    })
    if (Result.isFailure(made)) return yield* new CrosscoderConfigError({ message: made.failure })
    cc = made.success
  }
  const state: TrainerState = {
    step: 0,
    cursor: undefined,
    rng: Rng.seeded(seed ^ 0x5bd1e995).state(),
    tokensSeen: 0,
    tokensSinceFired: new Float64Array(F)
  }
  return { cc, adam: new Adam(cc.allParams(), config.adam), state } satisfies StartPoint
})

/** Train a crosscoder on the `ActivationSource` in context. */
export const train = Effect.fn("crosscoder.train")(function* (
  crosscoderConfig: CrosscoderConfig,
  config: TrainConfig,
  options: TrainOptions = {}
) {
  const backend = yield* TensorBackend
  const source = yield* ActivationSource
  const tf = backend.tf
  const { sources, dim: d, features: F } = crosscoderConfig.architecture
  const S = sources.length
  const B = config.batchSize
  const seed = config.seed ?? 0
  const dataSeed = config.dataSeed ?? seed
  const bad = (message: string) => new TrainError({ step: 0, message })
  if (!(Number.isInteger(config.steps) && config.steps >= 0))
    return yield* bad(`steps ${config.steps} must be a non-negative integer`)
  if (!(Number.isInteger(B) && B > 0)) return yield* bad(`batchSize ${B} must be a positive integer`)
  const every = options.periodic?.every
  if (every !== undefined && !(Number.isInteger(every) && every > 0))
    return yield* bad(`periodic.every ${every} must be a positive integer`)
  if (source.dim !== d || source.sources.length !== S) {
    return yield* bad(
      `the activation source has ${source.sources.length} sources × dim ${source.dim}; the crosscoder expects ${S} × ${d}`
    )
  }
  for (let s = 0; s < S; s++) {
    const a = source.sources[s]!
    const b = sources[s]!
    if (a.model !== b.model || a.site !== b.site) {
      return yield* bad(
        `source ${s} is ${a.model}@${a.site} in the store but ${b.model}@${b.site} in the crosscoder config`
      )
    }
  }
  const lrBase = config.lr === "auto" ? 2e-4 / Math.sqrt(F / 2 ** 14) : config.lr
  const deadAfter = config.deadAfterTokens ?? 10_000_000
  const logEvery = Math.max(1, config.logEvery ?? 50)
  const ck = config.checkpoint
  const clip = config.clipGradNorm === null ? undefined : (config.clipGradNorm ?? 1)

  // ---------------------------------------------------------------- start or resume
  const existing = ck !== undefined && (config.resume ?? true) ? yield* latestCheckpoint(ck.dir) : []
  const resumedFrom = existing[0]?.dir
  const start: StartPoint =
    resumedFrom !== undefined
      ? yield* restoreCheckpoint(resumedFrom, crosscoderConfig, config, dataSeed)
      : yield* freshStart(crosscoderConfig, config, options, source, tf)
  const { cc, adam, state } = start
  const stepFn = resolveTrainStep(config.step, cc, B)
  if (Result.isFailure(stepFn)) return yield* bad(stepFn.failure)
  yield* Effect.logInfo(stepFn.success.why)
  const loss = resolveLoss(config.loss, cc.sparsity, cc.partition, d)
  const defaultWarm = config.sparsityWarmupSteps ?? 0
  const rng = Rng.fromState(state.rng)
  const tokensSinceFired = state.tokensSinceFired
  let tokensSeen = state.tokensSeen
  let cursor = state.cursor
  let step = state.step
  const stopAt = Math.min(config.steps, config.stopAfter ?? config.steps)
  const history: Array<TrainProgress> = []
  let lastCheckpoint: string | undefined = resumedFrom
  /** The outcome as things stand now. */
  const result = (): TrainResult => ({
    crosscoder: cc,
    optimizer: adam,
    state: { step, cursor, rng: rng.state(), tokensSeen, tokensSinceFired },
    history,
    checkpoint: lastCheckpoint
  })

  if (ck !== undefined) {
    yield* Effect.tryPromise({
      try: () => mkdir(path.join(ck.dir, "checkpoints"), { recursive: true }),
      catch: ioError(ck.dir, "cannot create run directory")
    })
    // A kill mid-write leaves temp checkpoints, and log lines past the checkpoint resumed from
    // (they will be logged again): the run directory is made consistent with that checkpoint.
    const stale = yield* removeStaleTemps(path.join(ck.dir, "checkpoints"))
    yield* removeStaleTemps(ck.dir)
    if (stale.length > 0) yield* Effect.logWarning(`removed stale temporary checkpoints: ${stale.join(", ")}`)
    yield* trimStepLog(path.join(ck.dir, "metrics.jsonl"), step)
  }

  const saveCheckpoint = Effect.fnUntraced(function* () {
    if (ck === undefined) return
    const final = path.join(ck.dir, "checkpoints", stepDirName(step))
    const tmp = `${final}.tmp-${process.pid}`
    yield* removeDir(tmp)
    cc.trainedSteps = step
    yield* saveCrosscoder(tmp, cc)
    const opt: Array<StTensorToWrite> = []
    for (const p of cc.allParams()) {
      if (!p.trainable) continue
      opt.push({ name: `adam.m.${p.name}`, dtype: "F32", shape: p.shape, data: adam.m.get(p.name)! })
      opt.push({ name: `adam.v.${p.name}`, dtype: "F32", shape: p.shape, data: adam.v.get(p.name)! })
    }
    opt.push({ name: "dead.tokensSinceFired", dtype: "F64", shape: [F], data: tokensSinceFired })
    yield* writeSafetensors(path.join(tmp, "optimizer.safetensors"), opt)
    yield* writeJsonAtomic(path.join(tmp, "trainer.json"), {
      step,
      adamT: adam.t,
      ...(cursor === undefined ? {} : { cursor }),
      rng: rng.state(),
      tokensSeen,
      batchSize: B,
      dataSeed,
      lr: lrBase,
      train: { ...config, checkpoint: undefined },
      crosscoderConfigFile: CONFIG_FILE
    })
    yield* removeDir(final)
    yield* Effect.tryPromise({
      try: () => rename(tmp, final),
      catch: ioError(final, "cannot move checkpoint into place")
    })
    yield* writeJsonAtomic(path.join(ck.dir, "latest.json"), { step, dir: path.relative(ck.dir, final) })
    lastCheckpoint = final
    const all = yield* latestCheckpoint(ck.dir)
    for (const old of all.slice(ck.keep ?? 3)) yield* removeDir(old.dir)
  })

  if (step >= stopAt) return result()

  const batches = source.batches({
    batchSize: B,
    seed: dataSeed,
    epochs: Number.POSITIVE_INFINITY,
    shuffle: true,
    dropLast: true,
    normalize: "none",
    ...(cursor === undefined ? {} : { from: cursor })
  })
  const t0 = performance.now()
  const startStep = step
  const bar = (yield* Progress).start(options.progressLabel ?? "train", config.steps, "steps", step)
  let barDetail: { readonly detail: string } | undefined
  const groupIdx = cc.partition.groups.map((g) => ({ name: g.name, indices: g.indices }))

  /** `options.periodic` after `at` steps, when due. */
  const runPeriodic = (at: number) => {
    const hook = options.periodic
    if (hook === undefined || !(at % hook.every === 0 || at === stopAt)) return Effect.void
    return hook
      .run(cc, at)
      .pipe(
        Effect.mapError(
          (e) => new TrainError({ step: at, message: `periodic hook at step ${at} failed: ${e.message}` })
        )
      )
  }

  // A kill between a checkpoint and its periodic hook loses the hook's output (a curve point): run
  // it again for the checkpoint resumed from (hooks must be idempotent, as the study's measure is).
  if (resumedFrom !== undefined) yield* runPeriodic(step)

  const onBatch = (batch: {
    readonly rows: number
    readonly numSources: number
    readonly dim: number
    readonly data: Float32Array
    readonly cursor: ReaderCursor
  }) =>
    Effect.gen(function* () {
      if (batch.rows !== B || batch.numSources !== S || batch.dim !== d) {
        return yield* new TrainError({
          step,
          message: `batch of shape [${batch.rows}, ${batch.numSources}, ${batch.dim}], expected [${B}, ${S}, ${d}]`
        })
      }
      const x =
        cc.normalization.mode === "none"
          ? batch.data.slice()
          : normalizeRowsInPlace(batch.data.slice(), cc.normalization.mean, cc.normalization.divisor)
      if (
        step === 0 &&
        config.decoderBiasInit !== undefined &&
        config.decoderBiasInit !== "zeros" &&
        options.initial === undefined
      ) {
        const bd =
          config.decoderBiasInit === "mean"
            ? (() => {
                const m = new Float64Array(S * d)
                for (let b = 0; b < B; b++) for (let i = 0; i < S * d; i++) m[i] = m[i]! + x[b * S * d + i]! / B
                return Float32Array.from(m)
              })()
            : geometricMedian(x, B, S, d)
        cc.b_dec.data.set(bd)
        cc.b_dec.changed()
      }
      let dead: Uint8Array | undefined
      if (loss.auxK !== undefined) {
        dead = new Uint8Array(F)
        let any = false
        for (let j = 0; j < F; j++)
          if (tokensSinceFired[j]! >= deadAfter) {
            dead[j] = 1
            any = true
          }
        if (!any) dead = undefined
      }
      const coefficients: Record<string, number> = {}
      for (const [name, c] of Object.entries(loss.coefficients))
        coefficients[name] = coefficientAt(c, step, defaultWarm)
      const lr = lrBase * lrFactor(config.lrSchedule ?? {}, step, config.steps)
      const r = yield* Effect.tryPromise({
        try: () =>
          runStepAsync(
            stepFn.success.step,
            { crosscoder: cc, batch: x, batchSize: B, step, loss, coefficients, dead },
            { optimizer: adam, lr, clipGradNorm: clip }
          ),
        catch: (e) =>
          new TrainError({ step, message: `step ${step} failed: ${e instanceof Error ? e.message : String(e)}` })
      })
      if (!Number.isFinite(r.loss)) {
        return yield* new TrainError({
          step,
          message: `non-finite loss ${r.loss} (terms ${JSON.stringify(r.terms)}); lower the learning rate or check the data`
        })
      }
      cc.sparsity.update?.(r.stats, step)
      for (let j = 0; j < F; j++) tokensSinceFired[j] = r.firedCounts[j]! > 0 ? 0 : tokensSinceFired[j]! + B
      tokensSeen += B
      cursor = batch.cursor
      step += 1
      cc.trainedSteps = step
      if (step % logEvery === 0 || step === stopAt) {
        let deadCount = 0
        for (let j = 0; j < F; j++) if (tokensSinceFired[j]! >= deadAfter) deadCount++
        let active = 0
        for (let j = 0; j < F; j++) active += r.firedCounts[j]!
        const l0PerGroup: Record<string, number> = {}
        for (const g of groupIdx) {
          let a = 0
          for (const j of g.indices) a += r.firedCounts[j]!
          l0PerGroup[g.name] = a / B
        }
        const elapsed = (performance.now() - t0) / 1000
        const tps = ((step - startStep) * B) / Math.max(elapsed, 1e-9)
        const progress: TrainProgress = {
          step,
          steps: config.steps,
          loss: r.loss,
          terms: r.terms,
          lr,
          gradNorm: r.gradNorm,
          l0: active / B,
          l0PerGroup,
          deadFraction: deadCount / F,
          tokensPerSecond: tps,
          etaSeconds: ((config.steps - step) * B) / Math.max(tps, 1e-9),
          integrity: cc.integrity()
        }
        history.push(progress)
        options.onProgress?.(progress)
        barDetail = { detail: `loss=${r.loss.toPrecision(3)} L0=${progress.l0.toFixed(1)}` }
        const termStr = Object.entries(r.terms)
          .map(([k, v]) => `${k}=${v.toPrecision(4)}`)
          .join(" ")
        const groupStr = Object.entries(l0PerGroup)
          .map(([k, v]) => `${k}=${v.toFixed(2)}`)
          .join(" ")
        yield* Effect.logInfo(
          `step ${step}/${config.steps} loss=${r.loss.toPrecision(5)} ${termStr} L0=${progress.l0.toFixed(2)} [${groupStr}] dead=${(progress.deadFraction * 100).toFixed(1)}% lr=${lr.toExponential(2)} |g|=${r.gradNorm.toPrecision(3)} ${tps.toFixed(0)} tok/s ETA ${progress.etaSeconds.toFixed(0)}s integrity=${Math.max(progress.integrity.encoderMaxForbidden, progress.integrity.decoderMaxForbidden)}`
        )
        if (ck !== undefined) {
          yield* appendJsonLine(path.join(ck.dir, "metrics.jsonl"), progress).pipe(
            Effect.mapError((e) => new CheckpointError({ path: e.path, message: e.message }))
          )
        }
      }
      if (ck !== undefined && ((ck.every !== undefined && step % ck.every === 0) || step === stopAt))
        yield* saveCheckpoint()
      bar.update(step, barDetail)
      yield* runPeriodic(step)
    })

  yield* batches.pipe(
    Stream.take(stopAt - step),
    Stream.mapError(
      (e: ActivationStoreError) => new TrainError({ step, message: `activation source failed: ${e.message}` })
    ),
    // A step is synchronous tensor work: yield between steps so Ctrl-C, SIGTERM or a timeout lands promptly.
    Stream.runForEach((batch) => Effect.andThen(Effect.yieldNow, onBatch(batch))),
    Effect.ensuring(Effect.sync(() => bar.finish(barDetail)))
  )
  if (step < stopAt) {
    return yield* new TrainError({
      step,
      message: `the activation source ended after ${step} steps (wanted ${stopAt})`
    })
  }
  return result()
})
