/**
 * The stage runner: runs the selected stages of a recipe in order inside one run directory,
 * skipping completed ones, resuming partial ones, rerunning forced ones and those whose inputs
 * were rerun, and refusing to mix in outputs made with a different recipe (see runDir.ts).
 */
import { existsSync } from "node:fs"
import * as path from "node:path"
import { blockOutput, type TensorBackend, transformerLensName } from "@crosscode/core"
import type { PartitionRegistry, SparsityRegistry } from "@crosscode/crosscoder"
import { Effect, type FileSystem, Option, type Path, type Scope } from "effect"
import { makeRunContext, type RunContext, recipeModels } from "./context.js"
import { StageError, stageFs, writeStageJson } from "./errors.js"
import type { LoadedRecipe } from "./load.js"
import { StudyModels } from "./models.js"
import {
  newToken,
  readStageRecord,
  removeStage,
  type StageStatus,
  stageDir,
  stageFingerprint,
  stageStatus,
  UPSTREAM,
  writeStageRecord
} from "./runDir.js"
import { type Recipe, STAGES, type Stage } from "./schema.js"
import { runEvaluate } from "./stages/evaluate.js"
import { runHarvest } from "./stages/harvest.js"
import { runRank } from "./stages/rank.js"
import { runReport } from "./stages/report.js"
import { runSteer } from "./stages/steer.js"
import { runTrain } from "./stages/train.js"

export type RunEnv =
  | TensorBackend
  | Scope.Scope
  | SparsityRegistry
  | PartitionRegistry
  | FileSystem.FileSystem
  | Path.Path

export const STAGE_RUNNERS: Record<Stage, (ctx: RunContext) => Effect.Effect<unknown, StageError, RunEnv>> = {
  harvest: runHarvest,
  train: runTrain,
  evaluate: runEvaluate,
  rank: runRank,
  steer: runSteer,
  report: runReport
} as Record<Stage, (ctx: RunContext) => Effect.Effect<unknown, StageError, RunEnv>>

/** Stages that run the models whole (generation, or encoding prompts through the pair). */
const MODEL_STAGES: ReadonlyArray<Stage> = ["evaluate", "rank", "steer"]

export interface RunOptions {
  /** Stages to run, in recipe order (default: all). */
  readonly stages?: ReadonlyArray<Stage>
  /** Stages to rerun from scratch. */
  readonly force?: ReadonlyArray<Stage>
  /** Forcing a stage also reruns every later selected stage (default true; `run` uses it). */
  readonly cascade?: boolean
}

export type PlannedAction = "run" | "resume" | "skip" | "rerun" | "refuse"

export interface PlannedStage {
  readonly stage: Stage
  readonly action: PlannedAction
  readonly reason: string
  /** What the stage does with this recipe. */
  readonly details: ReadonlyArray<string>
}

/** `path`, flagged when it does not exist. */
const mark = (p: string) => (existsSync(p) ? p : `${p} (MISSING)`)

const pct = (x: number) => `${(x * 100).toFixed(x * 100 < 1 ? 1 : 0)}%`

/** What each stage does with this recipe (the dry run prints it). */
export const describeStage = (r: Recipe, stage: Stage): Array<string> => {
  switch (stage) {
    case "harvest": {
      const t = r.harvest.text
      const text =
        t.kind === "paper"
          ? `paper recipe: ${t.samplesPerDataset} chunks of web text (${mark(t.web.path)}) + ${t.samplesPerDataset} of ToolRL (${mark(t.tool.path)})`
          : `mix of ${t.sources.length} sources: ${t.sources.map((s) => `${s.samples ?? t.samplesPerSource} texts from ${mark(s.path)}`).join(", ")}`
      return [
        `models A = ${r.models.A}${existsSync(path.join(r.models.A, "config.json")) ? "" : " (MISSING)"}`,
        `       B = ${r.models.B}${existsSync(path.join(r.models.B, "config.json")) ? "" : " (MISSING)"}`,
        `tokenizer ${mark(r.tokenizer ?? r.models.B)}`,
        `site: block ${r.site.layer} output (${transformerLensName(blockOutput(r.site.layer))}), last token; max length ${r.harvest.maxLength ?? 512}, batch ${r.harvest.batchSize ?? "auto"}, ${r.harvest.dtype ?? "f32"}`,
        text
      ]
    }
    case "train":
      return r.crosscoders.map(
        (c) =>
          `${c.name}: D = ${c.features}, k = ${c.k}, ${
            c.partition === "none"
              ? "plain crosscoder"
              : `DFC ${Object.entries(c.partition)
                  .map(([m, s]) => `${m} ${pct(s)}`)
                  .join(" / ")} exclusive`
          }, λ_sh ${c.lambdas?.shared ?? 1e-3} λ_excl ${c.lambdas?.exclusive ?? 1e-3}, ${c.steps} steps × batch ${c.batchSize}, lr ${c.lr}`
      )
    case "evaluate":
      return [
        `${r.evaluate.n} prompts from ${mark(r.evaluate.prompts.path)} (seed ${r.evaluate.seed ?? 42}), ${r.evaluate.maxNewTokens ?? 200} new tokens, greedy`,
        `A and B: clean, and reconstruction through ${(r.evaluate.crosscoders ?? r.crosscoders.map((c) => c.name)).join(", ")}`
      ]
    case "rank":
      return [
        `crosscoders ${(r.rank.crosscoders ?? r.crosscoders.map((c) => c.name)).join(", ")}: Cohen's d on ${r.rank.n} tool prompts (${mark(r.rank.toolPrompts.path)}) vs ${r.rank.n} general texts (${mark(r.rank.generalTexts.path)})`
      ]
    case "steer":
      return [
        `crosscoder ${r.steer.crosscoder}, target ${r.steer.target ?? "A"}, partitions ${r.steer.partitions.join(", ")}`,
        `k% ${r.steer.kPercents.join(", ")} × α ${r.steer.alphas.join(", ")}, ${r.steer.n} prompts per cell`
      ]
    case "report":
      return [`report.md, report.html and SVG plots in ${stageDir(r.runDir, "report")}`]
  }
}

const forcedSet = (options: RunOptions, selected: ReadonlyArray<Stage>): Set<Stage> => {
  const forced = new Set(options.force ?? [])
  if ((options.cascade ?? true) && forced.size > 0) {
    const first = Math.min(...[...forced].map((s) => STAGES.indexOf(s)))
    for (const s of selected) if (STAGES.indexOf(s) >= first) forced.add(s)
  }
  return forced
}

const statusReason = (st: StageStatus): { action: PlannedAction; reason: string } => {
  switch (st.kind) {
    case "complete":
      return { action: "skip", reason: `complete (${st.record.completedAt})` }
    case "pending":
      return st.partial
        ? { action: "resume", reason: "partial output found: resuming" }
        : { action: "run", reason: "not run yet" }
    case "stale":
      return {
        action: "refuse",
        reason: "completed with a different recipe: pass --force to rerun it, or use another runDir"
      }
    case "outdated":
      return { action: "rerun", reason: `its input stage "${st.because}" was rerun` }
  }
}

/** The plan (no side effects): what `runStages` would do. */
export const planStages = (loaded: LoadedRecipe, options: RunOptions = {}): Array<PlannedStage> => {
  const r = loaded.recipe
  const selected = options.stages ?? STAGES
  const forced = forcedSet(options, selected)
  return STAGES.filter((s) => selected.includes(s)).map((stage) => {
    const details = describeStage(r, stage)
    if (forced.has(stage)) return { stage, action: "rerun", reason: "forced", details }
    if (stage === "report") return { stage, action: "run", reason: "always rewritten", details }
    return { stage, ...statusReason(stageStatus(r.runDir, r, stage)), details }
  })
}

export const formatPlan = (loaded: LoadedRecipe, plan: ReadonlyArray<PlannedStage>): string => {
  const lines = [`recipe ${loaded.recipe.name} (${loaded.file})`, `run directory ${loaded.recipe.runDir}`, ""]
  for (const p of plan) {
    lines.push(`${p.stage.padEnd(8)} ${p.action.toUpperCase().padEnd(6)} ${p.reason}`)
    for (const d of p.details) lines.push(`         ${d}`)
  }
  return lines.join("\n")
}

export interface StageOutcome {
  readonly stage: Stage
  readonly action: PlannedAction
  readonly seconds: number
}

/**
 * Runs the selected stages (needs the tensor backend, the crosscoder registries and a scope;
 * reports to core's `Progress`; takes the models from `StudyModels` when one is in context).
 */
export const runStages = (loaded: LoadedRecipe, options: RunOptions = {}) =>
  Effect.gen(function* () {
    const r = loaded.recipe
    const selected = options.stages ?? STAGES
    const forced = forcedSet(options, selected)
    // one model cache for the run: the StudyModels in context, else the recipe's directories,
    // loaded whole at once when a stage after harvest will run with them
    const plan = planStages(loaded, options)
    const wholeLater = () => plan.some((p) => MODEL_STAGES.includes(p.stage) && p.action !== "skip")
    const models =
      Option.getOrUndefined(yield* Effect.serviceOption(StudyModels)) ?? (yield* recipeModels(r, wholeLater))
    const ctx = makeRunContext(loaded, models)
    const first = selected[0] ?? "run"
    yield* stageFs(first, r.runDir, "create the run directory", (fs) => fs.makeDirectory(r.runDir, { recursive: true }))
    yield* writeStageJson(first, path.join(r.runDir, "recipe.json"), { file: loaded.file, recipe: r })
    const outcomes: Array<StageOutcome> = []
    for (const stage of STAGES) {
      if (!selected.includes(stage)) continue
      let action: PlannedAction
      if (forced.has(stage) || stage === "report") {
        action = forced.has(stage) ? "rerun" : "run"
        yield* stageFs(stage, stageDir(r.runDir, stage), "remove", () => removeStage(r.runDir, stage))
      } else {
        const st = stageStatus(r.runDir, r, stage)
        const sr = statusReason(st)
        action = sr.action
        if (action === "refuse") {
          return yield* new StageError({
            stage,
            kind: "input",
            path: stageDir(r.runDir, stage),
            message: `${stageDir(r.runDir, stage)} was ${sr.reason}`
          })
        }
        if (action === "skip") {
          yield* Effect.logInfo(`${stage}: ${sr.reason}, skipped`)
          outcomes.push({ stage, action, seconds: 0 })
          continue
        }
        if (action === "rerun") {
          yield* Effect.logInfo(`${stage}: ${sr.reason}; rerunning`)
          yield* stageFs(stage, stageDir(r.runDir, stage), "remove", () => removeStage(r.runDir, stage))
        }
      }
      const upstream: Record<string, string> = {}
      for (const up of UPSTREAM[stage]) {
        const u = readStageRecord(r.runDir, up)
        const st = stageStatus(r.runDir, r, up)
        if (u === undefined || st.kind !== "complete") {
          if (stage === "report") continue // the report shows what exists
          return yield* new StageError({
            stage,
            kind: "input",
            path: stageDir(r.runDir, up),
            message:
              st.kind === "stale"
                ? `reads the "${up}" stage, which was completed with a different recipe or different model files in ${r.runDir}: rerun it (\`--force ${up}\`) or use another runDir`
                : st.kind === "outdated"
                  ? `reads the "${up}" stage, whose own input "${st.because}" was rerun since: rerun it first (\`crosscode run <recipe>\`)`
                  : `needs the "${up}" stage to be complete in ${r.runDir} (run \`crosscode ${up} <recipe>\` or \`crosscode run <recipe>\`)`
          })
        }
        upstream[up] = u.token
      }
      yield* Effect.logInfo(`${stage}: ${action === "resume" ? "resuming" : "running"}`)
      yield* stageFs(stage, stageDir(r.runDir, stage), "create", (fs) =>
        fs.makeDirectory(stageDir(r.runDir, stage), { recursive: true })
      )
      const t0 = performance.now()
      const summary = yield* STAGE_RUNNERS[stage](ctx)
      const seconds = (performance.now() - t0) / 1000
      const record = {
        stage,
        fingerprint: stageFingerprint(r, stage),
        token: newToken(),
        upstream,
        completedAt: new Date().toISOString(),
        seconds,
        summary
      }
      yield* stageFs(stage, path.join(stageDir(r.runDir, stage), "stage.json"), "write", () =>
        writeStageRecord(r.runDir, record)
      )
      yield* Effect.logInfo(`${stage}: done in ${seconds.toFixed(1)} s`)
      outcomes.push({ stage, action, seconds })
    }
    return outcomes
  })
