/**
 * Stage 1 — harvest: paired last-token activations of A and B at the recipe's site, from the
 * recipe's text, into `harvest/store/` (the activation store, resumable shard by shard).
 */
import { ActivationStore, harvest, Policy, type TextSourceShape } from "@crosscode/activations"
import { TensorBackend } from "@crosscode/core"
import { Effect } from "effect"
import { defaultBatchSize, type RunContext } from "../context.js"
import { stageFailure, writeStageJson } from "../errors.js"
import { expectedHarvestRows, harvestSource } from "../sources.js"

export interface HarvestSummary {
  readonly rows: number
  readonly shards: number
  readonly datasets: ReadonlyArray<string>
  readonly dim: number
  readonly sources: ReadonlyArray<{ readonly model: string; readonly site: string }>
  readonly seconds: number
  readonly rowsPerSecond: number
}

export const storeDir = (ctx: RunContext) => ctx.dir("harvest", "store")

/** Texts per forward pass: the recipe's, else the backend's default. */
export const harvestBatchSize = (ctx: RunContext) =>
  Effect.gen(function* () {
    return ctx.recipe.harvest.batchSize ?? defaultBatchSize((yield* TensorBackend).name)
  })

/**
 * The recipe's harvest of `source` into the store `dir`: the whole text (`runHarvest`), or a range of
 * it on a cluster runner (the same settings, so the ranges concatenate to the same store).
 */
export const harvestInto = (
  ctx: RunContext,
  o: { readonly dir: string; readonly source: TextSourceShape; readonly expectedRows: number }
) =>
  Effect.gen(function* () {
    const r = ctx.recipe
    const models = yield* ctx.harvestModels
    const tokenizer = yield* ctx.tokenizer
    return yield* harvest({
      models: [
        { label: "A", model: models.A },
        { label: "B", model: models.B }
      ],
      tokenizer,
      sites: [ctx.site],
      source: o.source,
      policy: Policy.lastToken,
      store: {
        dir: o.dir,
        dtype: r.harvest.dtype ?? "f32",
        ...(r.harvest.shardRows !== undefined ? { shardRows: r.harvest.shardRows } : {}),
        storeText: "both"
      },
      batchSize: yield* harvestBatchSize(ctx),
      maxLength: r.harvest.maxLength ?? 512,
      progress: { log: false, label: "harvest", expectedRows: o.expectedRows }
    }).pipe(Effect.mapError(stageFailure("harvest")))
  })

export const runHarvest = Effect.fn("runHarvest")(function* (ctx: RunContext) {
  const r = ctx.recipe
  const dir = storeDir(ctx)
  const result = yield* harvestInto(ctx, {
    dir,
    source: harvestSource(r.harvest.text, r.seed),
    expectedRows: expectedHarvestRows(r.harvest.text)
  })
  const store = yield* ActivationStore.open(dir).pipe(Effect.mapError(stageFailure("harvest")))
  const summary: HarvestSummary = {
    rows: result.rows,
    shards: result.shards,
    datasets: store.datasets,
    dim: store.dim,
    sources: store.sources.map((s) => ({ model: s.model, site: s.site })),
    seconds: result.seconds,
    rowsPerSecond: result.rowsPerSecond
  }
  yield* writeStageJson("harvest", ctx.dir("harvest", "summary.json"), summary)
  yield* Effect.logInfo(
    `harvest: ${result.rows} rows (${store.datasets.join(", ")}) × ${store.sources.length} sources × ${store.dim} in ${dir}`
  )
  return summary
})
