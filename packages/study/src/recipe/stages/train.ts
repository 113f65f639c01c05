/**
 * Stage 2 — train: every crosscoder of the recipe on the harvested store (the paper's loss:
 * elementwise MSE + λ_sh·mean|f_sh| + λ_excl·(mean|f_A∪sh| + mean|f_B∪sh|)/2, TopK, Adam, clip 1).
 *
 * One trainer run per crosscoder; it checkpoints every `evalEvery` steps and resumes from its newest
 * checkpoint, so an interrupted run continues where it stopped. Right after each of those
 * checkpoints the trainer's periodic hook measures the live crosscoder's reconstruction (FVE, MSE,
 * L0 per group) on the first `evalRows` store rows and appends it to `train/<name>/curve.jsonl`
 * (the report's L0/FVE curves); training is never stopped and reloaded to evaluate. At the end:
 * `train/<name>/final/` (the crosscoder, loadable with `loadCrosscoder`) and `summary.json`
 * (final metrics, partition groups, the relative decoder norm of every feature).
 */
import * as path from "node:path"
import { ActivationSource, ActivationStore } from "@crosscode/activations"
import {
  type Crosscoder,
  type CrosscoderConfig,
  decoderMetrics,
  evaluateReconstruction,
  paperLoss,
  type ReconstructionMetrics,
  saveCrosscoder,
  type TrainConfig,
  topK,
  train,
  trimStepLog
} from "@crosscode/crosscoder"
import { Effect, FileSystem } from "effect"
import type { RunContext } from "../context.js"
import { StageError, stageFailure, stageFs } from "../errors.js"
import { byStep, readJsonIfExists, readLogLines } from "../runFiles.js"
import type { CrosscoderSpec } from "../schema.js"
import { storeDir } from "./harvest.js"

export interface CurvePoint {
  readonly step: number
  readonly fve: number
  readonly mse: number
  readonly l0: number
  readonly l0PerGroup: Readonly<Record<string, number>>
  readonly deadFraction: number
  readonly fvePerModel: Readonly<Record<string, number>>
}

export interface CrosscoderSummary {
  readonly name: string
  readonly spec: CrosscoderSpec
  readonly config: CrosscoderConfig
  readonly steps: number
  readonly final: CurvePoint
  readonly groups: ReadonlyArray<{
    readonly name: string
    readonly range?: readonly [number, number]
    readonly count: number
  }>
  readonly integrity: { readonly encoderMaxForbidden: number; readonly decoderMaxForbidden: number }
  /** ‖d_A‖ / (‖d_A‖ + ‖d_B‖) per feature (0 when both are 0), 4 decimals. */
  readonly relativeNormA: ReadonlyArray<number>
  readonly evalRows: number
  readonly seconds: number
}

export interface TrainSummary {
  readonly crosscoders: ReadonlyArray<CrosscoderSummary>
}

export const crosscoderConfig = (
  spec: CrosscoderSpec,
  store: ActivationStore.ActivationStoreShape
): CrosscoderConfig => ({
  architecture: {
    sources: store.sources.map((s) => ({ model: s.model, site: s.site })),
    dim: store.dim,
    features: spec.features
  },
  sparsity: topK(spec.k),
  partition:
    spec.partition === "none"
      ? { kind: "none" }
      : { kind: "dfc", fractions: ["A", "B"].map((m) => (spec.partition as Record<string, number>)[m] ?? 0) }
})

const point = (step: number, m: ReconstructionMetrics): CurvePoint => ({
  step,
  fve: m.fve,
  mse: m.mse,
  l0: m.l0,
  l0PerGroup: m.l0PerGroup,
  deadFraction: m.deadFraction,
  fvePerModel: Object.fromEntries(m.perSource.map((s) => [s.model, s.fve]))
})

const trainFileError = (file: string) => (message: string) =>
  new StageError({ stage: "train", kind: "failed", path: file, message })

/** The curve points in `file` (last per step, by step; a line cut by a crash is skipped). */
export const readCurve = (file: string) =>
  Effect.map(readLogLines<CurvePoint, StageError>(file, trainFileError(file)), byStep)

/** The step of the trainer's newest checkpoint in `dir` (0 when there is none or it cannot be read). */
const latestStep = (dir: string) => {
  const f = path.join(dir, "latest.json")
  return readJsonIfExists<{ step: number }, StageError>(f, trainFileError(f)).pipe(
    Effect.map((j) => (typeof j?.step === "number" ? j.step : 0)),
    Effect.catch(() => Effect.succeed(0))
  )
}

const trainOne = (ctx: RunContext, spec: CrosscoderSpec, store: ActivationStore.ActivationStoreShape) =>
  Effect.gen(function* () {
    const dir = ctx.dir("train", spec.name)
    const curveFile = path.join(dir, "curve.jsonl")
    const config = crosscoderConfig(spec, store)
    const evalEvery = spec.evalEvery ?? Math.max(1, Math.ceil(spec.steps / 10))
    const evalRows = Math.min(spec.evalRows ?? 4096, store.rows)
    const trainConfig: TrainConfig = {
      steps: spec.steps,
      batchSize: spec.batchSize,
      seed: spec.seed ?? ctx.recipe.seed,
      lr: spec.lr,
      clipGradNorm: spec.clipGradNorm ?? 1,
      loss: paperLoss(spec.lambdas?.shared ?? 1e-3, spec.lambdas?.exclusive ?? 1e-3),
      normalization: spec.normalization ?? "zscore",
      logEvery: spec.logEvery ?? Math.max(25, Math.round(spec.steps / 20)),
      step: "auto",
      checkpoint: { dir, every: evalEvery, keep: 2 }
    }
    const t0 = performance.now()
    // Curve points past the checkpoint resumed from, or a line cut by a kill, would be duplicated or
    // glue onto the next one: trim the curve to the checkpoint first.
    yield* trimStepLog(curveFile, yield* latestStep(dir))
    const curve = yield* readCurve(curveFile)
    /** The curve point at `at`: the one already in curve.jsonl (resumed run), else measured now and appended. */
    const measure = (cc: Crosscoder, at: number) =>
      Effect.gen(function* () {
        const have = curve.find((c) => c.step === at)
        if (have !== undefined) return have
        const m = yield* evaluateReconstruction(cc, store, { maxRows: evalRows, batchSize: 512 })
        const p = point(at, m)
        yield* stageFs("train", curveFile, "write", (fs) =>
          fs.writeFileString(curveFile, `${JSON.stringify(p)}\n`, { flag: "a" })
        )
        curve.push(p)
        yield* Effect.logInfo(`train ${spec.name} step ${at}: FVE ${p.fve.toFixed(3)}, L0 ${p.l0.toFixed(1)}`)
        return p
      })
    // the periodic hook runs inside the trainer, which provides no services: give it the file system
    const fs = yield* FileSystem.FileSystem
    const result = yield* train(config, trainConfig, {
      progressLabel: `train ${spec.name}`,
      periodic: {
        every: evalEvery,
        run: (cc, at) => measure(cc, at).pipe(Effect.asVoid, Effect.provideService(FileSystem.FileSystem, fs))
      }
    }).pipe(Effect.provideService(ActivationSource, store))
    const cc = result.crosscoder
    const step = result.state.step
    // a run resumed from its final checkpoint trains no step, so its final point may still be missing
    const last = { point: yield* measure(cc, step) }
    yield* saveCrosscoder(path.join(dir, "final"), cc)
    const dm = decoderMetrics(cc)
    const M = dm.models.length
    const a = dm.models.indexOf("A")
    const summary: CrosscoderSummary = {
      name: spec.name,
      spec,
      config,
      steps: step,
      final: last.point,
      groups: cc.partition.groups.map((g) => ({
        name: g.name,
        ...(g.range !== undefined ? { range: g.range } : {}),
        count: g.indices.length
      })),
      integrity: cc.integrity(),
      relativeNormA: Array.from({ length: cc.features }, (_, j) => Math.round(dm.normShare[j * M + a]! * 1e4) / 1e4),
      evalRows,
      seconds: (performance.now() - t0) / 1000
    }
    const summaryFile = path.join(dir, "summary.json")
    yield* stageFs("train", summaryFile, "write", (fs) =>
      fs.writeFileString(summaryFile, `${JSON.stringify(summary)}\n`)
    )
    cc.dispose()
    yield* Effect.logInfo(
      `train ${spec.name}: ${step} steps, FVE ${summary.final.fve.toFixed(3)}, L0 ${summary.final.l0.toFixed(1)} [${Object.entries(
        summary.final.l0PerGroup
      )
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(", ")}], dead ${(summary.final.deadFraction * 100).toFixed(1)}%`
    )
    return summary
  })

export const runTrain = Effect.fn("runTrain")(function* (ctx: RunContext) {
  const store = yield* ActivationStore.open(storeDir(ctx)).pipe(
    Effect.mapError(
      stageFailure("train", { kind: "input", context: "cannot open the activation store (has harvest run?)" })
    )
  )
  const out: Array<CrosscoderSummary> = []
  for (const spec of ctx.recipe.crosscoders) {
    out.push(yield* trainOne(ctx, spec, store).pipe(Effect.mapError(stageFailure("train", { context: spec.name }))))
  }
  const summary: TrainSummary = { crosscoders: out }
  return summary
})

export const readCrosscoderSummary = (ctx: RunContext, name: string) => {
  const f = ctx.dir("train", name, "summary.json")
  return readJsonIfExists<CrosscoderSummary, StageError>(f, trainFileError(f))
}
