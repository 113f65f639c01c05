/**
 * The harvest split by text range: the coordinator splits the harvest's text into ranges
 * [from, to) (a multiple of every possible batch size long, so each range's forward passes are
 * the whole harvest's), sends one `HarvestRange` per range, and once every range is keyed in
 * PostgreSQL concatenates the ranges' stores, in text order, into `harvest/store/`
 * (`ActivationStore.concatStores`): byte for byte the store a single-process harvest writes.
 *
 * Each range is an ordinary, resumable store in `harvest/ranges/<from>-<to>/`: a message delivered
 * twice finds it complete and writes nothing; a runner killed mid-range leaves committed shards
 * (verified and kept) and partial files (dropped) for whichever runner takes the range next.
 */
import * as path from "node:path"
import { ActivationStore, type TextSourceShape } from "@crosscode/activations"
import { Effect, Ref, Stream } from "effect"
import type { RunContext } from "../recipe/context.js"
import { StageError, stageFailure, stageFs } from "../recipe/errors.js"
import { harvestSource } from "../recipe/sources.js"
import { harvestBatchSize, harvestInto, storeDir } from "../recipe/stages/harvest.js"
import { batchRanges } from "./cells.js"
import { type RecipeRef, StudyWorker } from "./protocol.js"
import { insertHarvestRange, readHarvestRanges } from "./records.js"

/** Where range [from, to) keeps its store. */
export const rangeDir = (ctx: RunContext, from: number, to: number) =>
  ctx.dir("harvest", "ranges", `${String(from).padStart(8, "0")}-${String(to).padStart(8, "0")}`)

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b))

/**
 * Texts per range: `wanted` rounded up to a multiple of the recipe's batch size, or, when the
 * recipe leaves it to the backend, of every backend default (1 and 8): ranges then start on a batch
 * boundary whatever backend each runner has.
 */
export const rangeTexts = (wanted: number, recipeBatchSize: number | undefined) => {
  const b = recipeBatchSize ?? 8
  const unit = (b * 8) / gcd(b, 8)
  return Math.max(unit, Math.ceil(Math.max(1, wanted) / unit) * unit)
}

/** Texts [from, to) of `source`, named so a resumed range store refuses any other range. */
export const textRange = (source: TextSourceShape, from: number, to: number): TextSourceShape => ({
  name: `${source.name} texts [${from}, ${to})`,
  stream: source.stream.pipe(Stream.drop(from), Stream.take(to - from))
})

/** A runner's side: harvest the range into its own store and key it in PostgreSQL. */
export const harvestRange = (ctx: RunContext, runKey: string, runner: string, from: number, to: number) =>
  Effect.gen(function* () {
    const r = ctx.recipe
    const dir = rangeDir(ctx, from, to)
    yield* Effect.logInfo(`harvest range ${from}-${to}: start (${dir})`)
    const batchSize = yield* harvestBatchSize(ctx)
    if (from % batchSize !== 0) {
      return yield* new StageError({
        stage: "harvest",
        message: `range ${from}-${to} does not start on a batch boundary (batch size ${batchSize})`
      })
    }
    const result = yield* harvestInto(ctx, {
      dir,
      source: textRange(harvestSource(r.harvest.text, r.seed), from, to),
      expectedRows: to - from
    })
    yield* insertHarvestRange(runKey, runner, { from, to, rows: result.rows, batchSize }).pipe(
      Effect.mapError(stageFailure("harvest"))
    )
    yield* Effect.logInfo(`harvest range ${from}-${to}: ${result.rows} rows in ${result.seconds.toFixed(1)} s`)
    return { rows: result.rows, batchSize, seconds: result.seconds, runner }
  })

/** Progress totals: how many ranges the harvest has (see coordinator.ts). */
export type HarvestTotals = Ref.Ref<Readonly<Record<string, { readonly runKey: string; readonly total: number }>>>

/**
 * The coordinator's side: one `HarvestRange` per range, then the store from the ranges keyed in
 * PostgreSQL. Skipped when the store is already complete (a re-run activity, a new attempt).
 */
export const fanOutHarvest = (
  ctx: RunContext,
  attempt: string,
  ref: RecipeRef,
  runKey: string,
  wantedTexts: number,
  totals: HarvestTotals
) =>
  Effect.gen(function* () {
    const r = ctx.recipe
    const dir = storeDir(ctx)
    const fail = stageFailure("harvest")
    const have = yield* ActivationStore.readManifest(dir).pipe(Effect.mapError(fail))
    if (have?.complete === true && have.stopReason === "sourceExhausted") return 0
    const source = harvestSource(r.harvest.text, r.seed)
    const n = yield* Stream.runCount(source.stream).pipe(Effect.mapError(fail))
    const ranges = batchRanges(n, rangeTexts(wantedTexts, r.harvest.batchSize))
    // no text: nothing to fan out; the harvest's RunStage writes the (empty) store itself
    if (ranges.length === 0) return 0
    yield* Ref.update(totals, (t) => ({ ...t, harvest: { runKey, total: ranges.length } }))
    yield* Effect.logInfo(`harvest: ${n} texts in ${ranges.length} ranges of ≤ ${ranges[0]?.[1] ?? 0} texts`)
    const client = yield* StudyWorker.client
    yield* Effect.forEach(
      ranges,
      ([from, to]) =>
        client(`harvest/${from}-${to}`)
          .HarvestRange({ runKey, attempt, recipe: ref, from, to })
          .pipe(Effect.tap((d) => Effect.logInfo(`harvest range ${from}-${to}: ${d.rows} rows on runner ${d.runner}`))),
      { concurrency: "unbounded", discard: true }
    )
    // what is done comes from PostgreSQL, not from listing the run directory
    const keyed = yield* readHarvestRanges(runKey).pipe(Effect.mapError(fail))
    const byFrom = new Map(keyed.map((k) => [k.text_from, k]))
    const parts = []
    for (const [from, to] of ranges) {
      const k = byFrom.get(from)
      if (k === undefined || k.text_to !== to) {
        return yield* new StageError({ stage: "harvest", message: `range ${from}-${to} replied but is not keyed` })
      }
      parts.push({ dir: rangeDir(ctx, from, to), textOffset: from, batchSize: k.batch_size })
    }
    const joined = yield* ActivationStore.concatStores({
      dir,
      parts,
      shardRows: r.harvest.shardRows ?? 2048,
      textSource: source.name
    }).pipe(Effect.mapError(fail))
    yield* Effect.logInfo(`harvest: ${joined.rows} rows from ${ranges.length} ranges committed to ${dir}`)
    const rangesDir = path.join(ctx.dir("harvest"), "ranges")
    yield* stageFs("harvest", rangesDir, "remove", (fs) => fs.remove(rangesDir, { recursive: true, force: true }))
    return ranges.length
  })
