/**
 * What the coordinator and the runners say to each other: the `StudyWorker` entity (effect/cluster)
 * with two persisted messages, and what they carry.
 *
 * - `EvalBatch` — one batch of prompts of one eval cell (a run label + intervention on one model):
 *   the runner generates and scores them and stores the records, keyed, in PostgreSQL.
 * - `HarvestRange` — harvest texts [from, to) of the recipe's harvest text into the range's own store
 *   (`<runDir>/harvest/ranges/<from>-<to>/`) and key it in PostgreSQL; the coordinator concatenates
 *   the ranges' stores, in text order, into the harvest store once every range is in.
 * - `RunStage` — run one stage of the recipe in the ordinary single-process way (its own resume
 *   included): the stages that are not fanned out, and each fanned-out stage's final pass, which
 *   finds every record already made and only summarises.
 *
 * Messages are persisted (`ClusterSchema.Persisted`) with a primary key, so a message is stored once
 * however often it is sent (a restarted coordinator re-sends and joins the stored one), survives the
 * runner that was processing it (the shard's next owner reads it back from storage), and its reply
 * is stored too.
 */
import { type Option, Schema } from "effect"
import { ClusterSchema, Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import { StageError } from "../recipe/errors.js"
import type { Stage } from "../recipe/schema.js"

/** How a runner loads the same recipe as the coordinator (paths are absolute: a shared filesystem). */
export const RecipeRef = Schema.Struct({
  file: Schema.String,
  runDir: Schema.String,
  set: Schema.Array(Schema.String),
  modelA: Schema.optionalKey(Schema.String),
  modelB: Schema.optionalKey(Schema.String),
  tokenizer: Schema.optionalKey(Schema.String),
  backend: Schema.optionalKey(Schema.String)
})
export type RecipeRef = typeof RecipeRef.Type

/** The intervention of an eval cell, as data (the runner builds the `Intervention` from it). */
export const CellIntervention = Schema.Union([
  /** eval's `noIntervention` (the evaluate stage's clean runs) or steering's `cleanIntervention` (the sweep's). */
  Schema.Struct({ kind: Schema.Literals(["none", "clean"]) }),
  Schema.Struct({
    kind: Schema.Literal("recon"),
    crosscoder: Schema.String,
    target: Schema.String
  }),
  Schema.Struct({
    kind: Schema.Literal("steer"),
    crosscoder: Schema.String,
    target: Schema.String,
    features: Schema.Array(Schema.Number),
    alpha: Schema.Number
  })
])
export type CellIntervention = typeof CellIntervention.Type

/** One eval run of a fanned-out stage: `run` label on `model`, written to `<stage>/<output>`. */
export const EvalCell = Schema.Struct({
  stage: Schema.Literals(["evaluate", "steer"]),
  /** Which prompt set and generation settings: the stage's own. */
  model: Schema.Literals(["A", "B"]),
  run: Schema.String,
  output: Schema.String,
  intervention: CellIntervention
})
export type EvalCell = typeof EvalCell.Type

export const BatchDone = Schema.Struct({
  records: Schema.Number,
  generated: Schema.Number,
  runner: Schema.String
})

export const EvalBatch = Rpc.make("EvalBatch", {
  payload: {
    /** Identity of the run (run directory + stage fingerprint): the records' key. */
    runKey: Schema.String,
    /** The workflow execution sending it: a failed reply is final, a new attempt sends anew. */
    attempt: Schema.String,
    recipe: RecipeRef,
    cell: EvalCell,
    batch: Schema.Number,
    /** Positions of the batch's prompts in the stage's prompt list. */
    from: Schema.Number,
    to: Schema.Number
  },
  success: BatchDone,
  error: StageError,
  primaryKey: (p) => `${p.attempt}|${p.runKey}|${p.cell.run}|${p.cell.output}|${p.batch}`
}).annotate(ClusterSchema.Persisted, true)

export const HarvestRange = Rpc.make("HarvestRange", {
  payload: {
    runKey: Schema.String,
    attempt: Schema.String,
    recipe: RecipeRef,
    /** Texts [from, to) of the harvest's text, by position; `from` is a multiple of the batch size. */
    from: Schema.Number,
    to: Schema.Number
  },
  success: Schema.Struct({
    rows: Schema.Number,
    /** Texts per forward pass the range was harvested with (the concatenation appends by batch). */
    batchSize: Schema.Number,
    seconds: Schema.Number,
    runner: Schema.String
  }),
  error: StageError,
  primaryKey: (p) => `${p.attempt}|${p.runKey}|harvest|${p.from}-${p.to}`
}).annotate(ClusterSchema.Persisted, true)

export const RunStage = Rpc.make("RunStage", {
  payload: { runKey: Schema.String, attempt: Schema.String, recipe: RecipeRef, stage: Schema.String },
  success: Schema.Struct({ action: Schema.String, seconds: Schema.Number, runner: Schema.String }),
  error: StageError,
  primaryKey: (p) => `${p.attempt}|${p.runKey}|stage|${p.stage}`
}).annotate(ClusterSchema.Persisted, true)

/** The entity every runner hosts (shard group "default"); the entity id spreads work over shards. */
export const StudyWorker = Entity.make("StudyWorker", [EvalBatch, HarvestRange, RunStage])

/** Shard group of the workflow (the coordinator's); runners take the default group. */
export const COORDINATOR_GROUP = "coordinator"

/** Options of a distributed run (the coordinator's side of `crosscode run --cluster`). */
export interface DistributedRunOptions {
  readonly url: string
  readonly stages: ReadonlyArray<Stage>
  readonly batchPrompts: number
  /** Texts per `HarvestRange` message (rounded up to a multiple of every possible batch size). */
  readonly harvestRangeTexts: number
  readonly host: string
  readonly port: Option.Option<number>
}
