/**
 * The steering sweep (method.md §5.3, §6.3), where steering meets evaluation (so it lives in the
 * study package, above both @crosscode/steering and @crosscode/eval): a grid of partitions × k% × α. Each cell steers the
 * top-k% tool-signed features of a partition (`selectTopSubset`) with `steerFeatures` and is
 * evaluated by the eval package's runner on the same prompts as one clean run. Per cell: the metric
 * (default the paper's tool correctness) clean vs steered, Δ in percentage points with a paired-t
 * CI, and the exact McNemar test on rescued vs broken prompts. The best cell is reported and
 * flagged "best-of-grid (no multiple-comparison correction)".
 *
 * Files in `outputDir`: `records.jsonl` (every eval record; the runner resumes from it),
 * `cells.jsonl` (one line per finished cell, appended as each finishes; a rerun skips them),
 * `sweep.json` and `sweep.csv` (the summary, rewritten at the end). Cells with the same features
 * and α (e.g. k = 4% and 8% both giving |S| = 1) share one eval run. Progress: a bar of cells
 * ("sweep") on core's `Progress` service, beside the eval runner's bar of items per run.
 */
import * as path from "node:path"
import {
  appendJsonLine,
  cleanIntervention,
  fnv1a64,
  type Intervention,
  type ModelInputError,
  Progress,
  readJsonLines,
  stableStringify
} from "@crosscode/core"
import {
  comparePaired,
  type EvalRecord,
  type EvalRunError,
  type EvalRunnerShape,
  type GenerationSettings,
  type PairedComparison,
  type Task
} from "@crosscode/eval"
import {
  csvField,
  type FeatureRanking,
  type InterventionError,
  type PairEncoder,
  type PairPositions,
  type PartitionChoice,
  type RankingError,
  reconstruct,
  SteeringIOError,
  selectTopSubset,
  steerFeatures,
  writeTextFile
} from "@crosscode/steering"
import { Effect, type FileSystem, type Path, Result } from "effect"
import { SweepError } from "./errors.js"

export const BEST_OF_GRID_FLAG = "best-of-grid (no multiple-comparison correction)"

/** The paper's grid (method.md §5.3). */
export const PaperGrid = {
  alphas: [1, 6, 16, 32, 64],
  kPercents: [4, 8, 16, 32, 64, 100],
  partitions: ["A-excl", "B-excl", "shared", "union"] as ReadonlyArray<PartitionChoice>
} as const

export interface SweepSpec {
  /** An eval runner over the TARGET model (`makeEvalRunner({ model, tokenizer })`). */
  readonly runner: EvalRunnerShape
  readonly task: Task
  /** The model steered (a crosscoder model label, e.g. "A"). */
  readonly target: string
  readonly ranking: FeatureRanking
  readonly partitions: ReadonlyArray<PartitionChoice>
  readonly kPercents: ReadonlyArray<number>
  readonly alphas: ReadonlyArray<number>
  /** Default "lastPrompt" (the paper). */
  readonly positions?: PairPositions
  /** The metric compared (default "paper.tool_correctness"). */
  readonly metric?: string
  readonly outputDir: string
  readonly settings?: Partial<GenerationSettings>
  /** Evaluate only the first `limit` items. */
  readonly limit?: number
  /** Labels "A"/"B" stand for in partition choices (default ["A", "B"]). */
  readonly models?: readonly [string, string]
  /** Select only features passing the firing-rate filter (default false). */
  readonly useFilter?: boolean
  /** Also evaluate full reconstruction of the target as a reference row (default false). */
  readonly reconstruction?: boolean
  /** Prefix of eval run labels (default ""). */
  readonly runPrefix?: string
}

export interface CellStats {
  readonly n: number
  /** Clean and steered value (percent for binary metrics). */
  readonly clean: number
  readonly steered: number
  /** steered − clean (percentage points for binary metrics). */
  readonly delta: number
  /** Paired-t 95% CI of Δ (undefined when n < 2). */
  readonly ci?: { readonly lo: number; readonly hi: number; readonly level: number; readonly p: number }
  /** Exact McNemar on rescued (clean ✗ → steered ✓) vs broken prompts (binary metrics). */
  readonly mcnemar?: { readonly rescued: number; readonly broken: number; readonly p: number }
}

export interface SweepCell {
  /** `${partition}|k${k}|a${alpha}`. */
  readonly id: string
  readonly partition: PartitionChoice
  readonly kPercent: number
  readonly alpha: number
  readonly features: ReadonlyArray<number>
  readonly parts: ReadonlyArray<{ readonly group: string; readonly nTool: number; readonly size: number }>
  /** "done", or "empty" when the partition has no tool-signed feature (nothing to steer). */
  readonly status: "done" | "empty"
  /** Eval run label (shared by cells with the same features and α). */
  readonly run?: string
  readonly stats?: CellStats
  readonly configHash: string
}

export interface BestCell {
  readonly flag: typeof BEST_OF_GRID_FLAG
  readonly cell: SweepCell
}

export interface SweepResult {
  readonly metric: string
  readonly target: string
  readonly positions: PairPositions
  readonly configHash: string
  /** The clean run's value (percent for binary metrics) and item count. */
  readonly clean: { readonly n: number; readonly value: number; readonly run: string }
  readonly reconstruction?: { readonly run: string; readonly stats: CellStats }
  readonly cells: ReadonlyArray<SweepCell>
  /** Highest Δ over the grid (ties: smaller |S|, then smaller α); undefined when no cell ran. */
  readonly best?: BestCell
  /** Highest Δ per partition. */
  readonly bestByPartition: Readonly<Record<string, BestCell>>
  /** Cells taken from an earlier run's `cells.jsonl`. */
  readonly resumedCells: number
  readonly files: { readonly records: string; readonly cells: string; readonly json: string; readonly csv: string }
}

export type SweepRunError =
  | SweepError
  | SteeringIOError
  | RankingError
  | EvalRunError
  | InterventionError
  | ModelInputError

const statsOf = (cmp: PairedComparison): CellStats => ({
  n: cmp.n,
  clean: cmp.baseline,
  steered: cmp.treatment,
  delta: cmp.delta,
  ...(cmp.pairedT !== undefined
    ? { ci: { lo: cmp.pairedT.lo, hi: cmp.pairedT.hi, level: cmp.pairedT.level, p: cmp.pairedT.p } }
    : {}),
  ...(cmp.mcnemar !== undefined ? { mcnemar: cmp.mcnemar } : {})
})

const steeringIO =
  (file: string) =>
  (e: { readonly message: string }): SteeringIOError =>
    new SteeringIOError({ path: file, message: e.message })

/** Reads `cells.jsonl` (missing = empty; a cut-off last line is dropped and truncated away). */
const readCells = (file: string): Effect.Effect<Array<SweepCell>, SteeringIOError, FileSystem.FileSystem> =>
  Effect.mapError(readJsonLines<SweepCell>(file), steeringIO(file))

const appendCell = (
  file: string,
  cell: SweepCell
): Effect.Effect<void, SteeringIOError, FileSystem.FileSystem | Path.Path> =>
  Effect.mapError(appendJsonLine(file, cell), steeringIO(file))

const better = (a: SweepCell, b: SweepCell): boolean => {
  const da = a.stats!.delta
  const db = b.stats!.delta
  if (da !== db) return da > db
  if (a.features.length !== b.features.length) return a.features.length < b.features.length
  return a.alpha < b.alpha
}

const bestOf = (cells: ReadonlyArray<SweepCell>): BestCell | undefined => {
  let best: SweepCell | undefined
  for (const c of cells)
    if (c.status === "done" && c.stats !== undefined && (best === undefined || better(c, best))) best = c
  return best === undefined ? undefined : { flag: BEST_OF_GRID_FLAG, cell: best }
}

const fmt = (x: number | undefined) => (x === undefined ? "" : String(x))

export const SWEEP_CSV_COLUMNS = [
  "partition",
  "k_percent",
  "alpha",
  "size",
  "features",
  "status",
  "n",
  "clean",
  "steered",
  "delta",
  "ci_lo",
  "ci_hi",
  "t_p",
  "mcnemar_rescued",
  "mcnemar_broken",
  "mcnemar_p",
  "run"
] as const

/** One CSV row per cell (the reconstruction reference, if any, as partition "reconstruction"). */
export const sweepToCsv = (result: Pick<SweepResult, "cells" | "reconstruction">): string => {
  const rows: Array<string> = [SWEEP_CSV_COLUMNS.join(",")]
  const line = (
    partition: string,
    k: string,
    alpha: string,
    size: string,
    features: string,
    status: string,
    run: string,
    s?: CellStats
  ) =>
    [
      csvField(partition),
      k,
      alpha,
      size,
      features,
      status,
      fmt(s?.n),
      fmt(s?.clean),
      fmt(s?.steered),
      fmt(s?.delta),
      fmt(s?.ci?.lo),
      fmt(s?.ci?.hi),
      fmt(s?.ci?.p),
      fmt(s?.mcnemar?.rescued),
      fmt(s?.mcnemar?.broken),
      fmt(s?.mcnemar?.p),
      csvField(run)
    ].join(",")
  if (result.reconstruction !== undefined) {
    rows.push(line("reconstruction", "", "", "", "", "done", result.reconstruction.run, result.reconstruction.stats))
  }
  for (const c of result.cells) {
    rows.push(
      line(
        c.partition,
        String(c.kPercent),
        String(c.alpha),
        String(c.features.length),
        c.features.join(" "),
        c.status,
        c.run ?? "",
        c.stats
      )
    )
  }
  return `${rows.join("\n")}\n`
}

const checkGrid = (spec: SweepSpec): SweepError | undefined => {
  if (spec.partitions.length === 0 || spec.kPercents.length === 0 || spec.alphas.length === 0) {
    return new SweepError({ message: "the grid is empty: give at least one partition, k% and α" })
  }
  for (const k of spec.kPercents)
    if (!(k > 0 && k <= 100)) return new SweepError({ message: `k% ${k} is outside (0, 100]` })
  for (const a of spec.alphas) if (!Number.isFinite(a)) return new SweepError({ message: `α ${a} is not finite` })
  if (new Set(spec.partitions).size !== spec.partitions.length)
    return new SweepError({ message: "a partition is listed twice" })
  return undefined
}

/** Runs (or resumes) the sweep. Needs the `PairEncoder` of the crosscoder and its models. */
/** Run label of the sweep's reconstruction run. */
export const sweepReconLabel = (prefix: string, target: string, positions: string) =>
  `${prefix}recon|${target}|${positions}`

/** Run label of one steering run: features and α (long feature lists hashed). */
export const sweepSteerLabel = (
  prefix: string,
  target: string,
  positions: string,
  alpha: number,
  features: ReadonlyArray<number>
) =>
  `${prefix}steer|${target}|${positions}|a${alpha}|f${features.length <= 16 ? features.join(".") : fnv1a64(features.join(","))}`

export const runSweep = Effect.fn("runSweep")(function* (
  spec: SweepSpec
): Effect.fn.Return<SweepResult, SweepRunError, PairEncoder | FileSystem.FileSystem | Path.Path> {
  const bad = checkGrid(spec)
  if (bad !== undefined) return yield* bad
  const metric = spec.metric ?? "paper.tool_correctness"
  const positions = spec.positions ?? "lastPrompt"
  const prefix = spec.runPrefix ?? ""
  const files = {
    records: path.join(spec.outputDir, "records.jsonl"),
    cells: path.join(spec.outputDir, "cells.jsonl"),
    json: path.join(spec.outputDir, "sweep.json"),
    csv: path.join(spec.outputDir, "sweep.csv")
  }
  const configHash = fnv1a64(
    stableStringify({
      task: spec.task.name,
      items: spec.task.items.map((i) => i.id),
      metric,
      target: spec.target,
      positions,
      settings: spec.settings ?? {},
      limit: spec.limit ?? null,
      models: spec.models ?? ["A", "B"],
      useFilter: spec.useFilter ?? false,
      runPrefix: prefix
    })
  )
  const evaluate = <E, R>(run: string, intervention: Intervention<E, R>) =>
    spec.runner.run({
      run,
      task: spec.task,
      intervention,
      output: files.records,
      ...(spec.settings !== undefined ? { settings: spec.settings } : {}),
      ...(spec.limit !== undefined ? { limit: spec.limit } : {})
    })
  const compare = (base: ReadonlyArray<EvalRecord>, treated: ReadonlyArray<EvalRecord>, what: string) =>
    Effect.gen(function* () {
      const cmp = comparePaired(base, treated, metric)
      if (cmp === undefined)
        return yield* new SweepError({
          message: `${what}: metric "${metric}" has no paired values (is it a metric of the task's scorers?)`
        })
      return statsOf(cmp)
    })

  const previous = new Map<string, SweepCell>()
  for (const c of yield* readCells(files.cells)) {
    if (c.configHash !== configHash) {
      return yield* new SweepError({
        file: files.cells,
        message: `${files.cells} holds cell ${c.id} from a sweep with another configuration (hash ${c.configHash}, now ${configHash}); use another outputDir`
      })
    }
    previous.set(c.id, c)
  }

  const cleanRun = `${prefix}clean`
  const cleanResult = yield* evaluate(cleanRun, cleanIntervention)
  const cleanRecords = cleanResult.records
  const cleanStats = yield* compare(cleanRecords, cleanRecords, "clean")

  let reconstruction: SweepResult["reconstruction"]
  if (spec.reconstruction === true) {
    const run = sweepReconLabel(prefix, spec.target, positions)
    const r = yield* evaluate(run, reconstruct({ target: spec.target, positions }))
    reconstruction = { run, stats: yield* compare(cleanRecords, r.records, "reconstruction") }
  }

  const cells: Array<SweepCell> = []
  let resumedCells = 0
  const total = spec.partitions.length * spec.kPercents.length * spec.alphas.length
  const bar = (yield* Progress).start("sweep", total, "cells", Math.min(previous.size, total))
  const cellDone = () => bar.update(cells.length, { detail: `${resumedCells} resumed` })
  yield* Effect.gen(function* () {
    for (const partition of spec.partitions) {
      for (const kPercent of spec.kPercents) {
        const subset = selectTopSubset(spec.ranking, partition, kPercent, {
          ...(spec.models !== undefined ? { models: spec.models } : {}),
          ...(spec.useFilter !== undefined ? { useFilter: spec.useFilter } : {})
        })
        if (Result.isFailure(subset)) return yield* subset.failure
        const { features, parts } = subset.success
        for (const alpha of spec.alphas) {
          const id = `${partition}|k${kPercent}|a${alpha}`
          const prior = previous.get(id)
          if (prior !== undefined) {
            if (prior.features.join(",") !== features.join(",")) {
              return yield* new SweepError({
                file: files.cells,
                message: `${files.cells}: cell ${id} steered features [${prior.features.join(", ")}], the ranking now selects [${features.join(", ")}]; use another outputDir`
              })
            }
            cells.push(prior)
            resumedCells++
            cellDone()
            continue
          }
          const base = {
            id,
            partition,
            kPercent,
            alpha,
            features,
            parts: parts.map((p) => ({ group: p.group, nTool: p.nTool, size: p.features.length })),
            configHash
          }
          let cell: SweepCell
          if (features.length === 0) {
            cell = { ...base, status: "empty" }
          } else {
            const run = sweepSteerLabel(prefix, spec.target, positions, alpha, features)
            const r = yield* evaluate(run, steerFeatures({ target: spec.target, features, alpha, positions }))
            cell = { ...base, status: "done", run, stats: yield* compare(cleanRecords, r.records, id) }
          }
          yield* appendCell(files.cells, cell)
          yield* Effect.logInfo(
            cell.stats === undefined
              ? `sweep ${id}: no tool-signed features, skipped`
              : `sweep ${id}: |S| = ${features.length}, ${metric} ${cell.stats.clean.toFixed(1)} → ${cell.stats.steered.toFixed(1)} (Δ ${cell.stats.delta.toFixed(1)})`
          )
          cells.push(cell)
          cellDone()
        }
      }
    }
  }).pipe(Effect.ensuring(Effect.sync(() => bar.finish())))

  const bestByPartition: Record<string, BestCell> = {}
  for (const p of spec.partitions) {
    const b = bestOf(cells.filter((c) => c.partition === p))
    if (b !== undefined) bestByPartition[p] = b
  }
  const best = bestOf(cells)
  const result: SweepResult = {
    metric,
    target: spec.target,
    positions,
    configHash,
    clean: { n: cleanStats.n, value: cleanStats.clean, run: cleanRun },
    ...(reconstruction !== undefined ? { reconstruction } : {}),
    cells,
    ...(best !== undefined ? { best } : {}),
    bestByPartition,
    resumedCells,
    files
  }
  yield* writeTextFile(files.json, `${JSON.stringify(result, null, 1)}\n`)
  yield* writeTextFile(files.csv, sweepToCsv(result))
  return result
})
