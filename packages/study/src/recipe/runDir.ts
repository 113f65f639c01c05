/**
 * The run directory: one folder per stage (`<runDir>/<stage>/`), each with a `stage.json` written
 * when the stage completes:
 *
 *   { stage, fingerprint, token, upstream: { <stage>: token }, completedAt, seconds, summary }
 *
 * - `fingerprint` hashes the recipe sections the stage depends on (cumulatively, so a change to
 *   the harvest settings also changes train's fingerprint). A completed stage whose fingerprint no
 *   longer matches is *stale*: the CLI refuses to mix outputs of two recipes and asks for
 *   `--force <stage>` (or another runDir).
 * - `token` is unique per completion; a stage records its inputs' tokens, so when an upstream
 *   stage is rerun (forced), the stages that read it are rerun too (make-like).
 * - A stage without `stage.json` is pending or partial; rerunning it resumes through each
 *   package's own resume (activation store manifest, trainer checkpoints, eval JSONL, sweep cells).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import * as path from "node:path"
import { fingerprint, fnv1a64, writeTextFileAtomic } from "@crosscode/core"
import { Effect, FileSystem, type Path, type PlatformError } from "effect"
import type { Recipe, Stage } from "./schema.js"

export interface StageRecord {
  readonly stage: Stage
  readonly fingerprint: string
  readonly token: string
  readonly upstream: Readonly<Record<string, string>>
  readonly completedAt: string
  readonly seconds: number
  readonly summary?: unknown
}

/** Stages whose outputs a stage reads. */
export const UPSTREAM: Readonly<Record<Stage, ReadonlyArray<Stage>>> = {
  harvest: [],
  train: ["harvest"],
  evaluate: ["train"],
  rank: ["harvest", "train"],
  steer: ["train", "rank"],
  report: ["harvest", "train", "evaluate", "rank", "steer"]
}

/**
 * A cheap identity of a model directory's contents: name, size and modification time of its
 * weight, config and tokenizer files (hashing gigabytes of weights would be too slow). Replacing
 * a model makes the stages that used it stale.
 */
export const modelStamp = (dir: string | undefined): string => {
  if (dir === undefined || !existsSync(dir)) return "missing"
  try {
    const files = readdirSync(dir)
      .filter((f) => /\.(safetensors|json|bin|model|txt)$/.test(f))
      .sort()
      .map((f) => {
        const st = statSync(path.join(dir, f))
        return `${f}:${st.size}:${Math.round(st.mtimeMs)}`
      })
    return fnv1a64(files.join("|"))
  } catch {
    return "unreadable"
  }
}

/** The recipe sections a stage depends on (cumulative), with the model directories' stamps. */
export const stageInputs = (recipe: Recipe, stage: Stage): unknown => {
  const harvest = {
    models: recipe.models,
    tokenizer: recipe.tokenizer,
    stamps: [modelStamp(recipe.models.A), modelStamp(recipe.models.B), modelStamp(recipe.tokenizer ?? recipe.models.B)],
    site: recipe.site,
    seed: recipe.seed,
    harvest: recipe.harvest
  }
  const train = { ...harvest, crosscoders: recipe.crosscoders }
  switch (stage) {
    case "harvest":
      return harvest
    case "train":
      return train
    case "evaluate":
      return { ...train, evaluate: recipe.evaluate }
    case "rank":
      return { ...train, rank: recipe.rank }
    case "steer":
      return {
        ...train,
        rank: recipe.rank,
        steer: recipe.steer,
        prompts: recipe.steer.prompts ?? recipe.evaluate.prompts
      }
    case "report":
      return { recipe }
  }
}

export const stageFingerprint = (recipe: Recipe, stage: Stage): string => fingerprint(stageInputs(recipe, stage))

export const stageDir = (runDir: string, stage: Stage) => path.join(runDir, stage)
const recordFile = (runDir: string, stage: Stage) => path.join(stageDir(runDir, stage), "stage.json")

export const readStageRecord = (runDir: string, stage: Stage): StageRecord | undefined => {
  const f = recordFile(runDir, stage)
  if (!existsSync(f)) return undefined
  try {
    return JSON.parse(readFileSync(f, "utf8")) as StageRecord
  } catch {
    return undefined
  }
}

/** Writes `stage.json` atomically (temp file + rename), marking the stage complete. */
export const writeStageRecord = (
  runDir: string,
  record: StageRecord
): Effect.Effect<void, PlatformError.PlatformError, FileSystem.FileSystem | Path.Path> =>
  writeTextFileAtomic(recordFile(runDir, record.stage), `${JSON.stringify(record, null, 2)}\n`)

export const removeStage = (
  runDir: string,
  stage: Stage
): Effect.Effect<void, PlatformError.PlatformError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.remove(stageDir(runDir, stage), { recursive: true, force: true }))

export const newToken = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`

export type StageStatus =
  | { readonly kind: "complete"; readonly record: StageRecord }
  | { readonly kind: "pending"; readonly partial: boolean }
  /** Completed with another recipe: refuse unless forced. */
  | { readonly kind: "stale"; readonly record: StageRecord }
  /** Completed, but an input stage was rerun since: rerun. */
  | { readonly kind: "outdated"; readonly record: StageRecord; readonly because: Stage }

export const stageStatus = (runDir: string, recipe: Recipe, stage: Stage): StageStatus => {
  const record = readStageRecord(runDir, stage)
  if (record === undefined) return { kind: "pending", partial: existsSync(stageDir(runDir, stage)) }
  if (record.fingerprint !== stageFingerprint(recipe, stage)) return { kind: "stale", record }
  for (const up of UPSTREAM[stage]) {
    const u = readStageRecord(runDir, up)
    if (u === undefined || record.upstream[up] !== u.token) return { kind: "outdated", record, because: up }
  }
  return { kind: "complete", record }
}
