/**
 * Stage 4 — rank: for every ranked crosscoder, the codes of tool prompts vs general texts at the
 * last token (pair encoding [h_A, h_B]) → per-feature Cohen's d, AUROC and firing rates
 * (`rank/<name>/ranking.{csv,json}`); then the top tool-signed features of each partition group
 * with their top-activating texts from the activation store (`rank/<name>/top-features.json`).
 */
import { ActivationStore } from "@crosscode/activations"
import type { TokenizerShape } from "@crosscode/core"
import { Progress } from "@crosscode/core"
import type { Crosscoder } from "@crosscode/crosscoder"
import { itemToolRlSystem, truncateIds } from "@crosscode/eval"
import {
  codeMatrix,
  type FeatureRanking,
  type FeatureStat,
  type PairEncoderShape,
  rankFeatures,
  sortByD,
  writeRanking
} from "@crosscode/steering"
import { Effect, Stream } from "effect"
import type { RunContext } from "../context.js"
import { stageFailure, writeStageJson } from "../errors.js"
import { loadPromptSet, readTexts } from "../sources.js"
import { storeDir } from "./harvest.js"
import { readCrosscoderSummary } from "./train.js"

/**
 * The tokens around the position whose activation was read (for a last-token harvest, the last
 * token: nothing follows it), each decoded on its own, as feature dashboards show them.
 */
export interface TokenContext {
  /** Decoded tokens of the window; `tokens[firing]` is the firing token. */
  readonly tokens: ReadonlyArray<string>
  readonly firing: number
  /** The firing token's position in the harvested sequence, and that sequence's length. */
  readonly position: number
  readonly length: number
}

export interface TopText {
  readonly row: number
  readonly activation: number
  readonly dataset: string
  readonly id?: string
  readonly text: string
  readonly context?: TokenContext
}

/** Tokens shown before / after the firing token. */
const CONTEXT_BEFORE = 24
const CONTEXT_AFTER = 8

export const tokenContext = (
  tokenizer: Pick<TokenizerShape, "decode">,
  ids: ReadonlyArray<number>,
  position: number
): TokenContext | undefined => {
  if (position < 0 || position >= ids.length) return undefined
  const from = Math.max(0, position - CONTEXT_BEFORE)
  const to = Math.min(ids.length, position + 1 + CONTEXT_AFTER)
  return {
    tokens: ids.slice(from, to).map((id) => tokenizer.decode([id])),
    firing: position - from,
    position,
    length: ids.length
  }
}

export interface TopFeature {
  readonly feature: number
  readonly group: string
  readonly cohenD: number
  readonly auroc: number
  readonly fireRateTool: number
  readonly fireRateGeneral: number
  readonly meanTool: number
  readonly meanGeneral: number
  readonly passesFilter: boolean
  /** ‖d_A‖ / (‖d_A‖ + ‖d_B‖). */
  readonly relativeNormA?: number
  readonly topTexts: ReadonlyArray<TopText>
}

export interface GroupRankSummary {
  readonly group: string
  readonly size: number
  /** Features with d > 0. */
  readonly nTool: number
  /** Features passing the firing-rate filter. */
  readonly nFilter: number
}

export interface RankSummary {
  readonly crosscoder: string
  readonly nTool: number
  readonly nGeneral: number
  readonly groups: ReadonlyArray<GroupRankSummary>
  readonly topFeatures: ReadonlyArray<TopFeature>
}

/** Raw last-token activations `[n, S, d]` of the pair (the models run once per prompt set, shared by all crosscoders). */
const pairActivations = (
  pe: PairEncoderShape,
  prompts: ReadonlyArray<ReadonlyArray<number>>,
  tick: (n: number) => void
) =>
  Effect.gen(function* () {
    const width = pe.crosscoder.numSources * pe.crosscoder.dim
    const out = new Float32Array(prompts.length * width)
    const chunk = 16
    for (let i = 0; i < prompts.length; i += chunk) {
      const part = yield* pe.encodeLastTokens(prompts.slice(i, i + chunk))
      out.set(part.activations, i * width)
      tick(part.rows)
    }
    return out
  })

/** `cc.encode` of raw rows `[n, width]`, read asynchronously (every backend, webgpu included). */
const encodeChunk = (cc: Crosscoder, data: Float32Array, n: number) =>
  Effect.suspend(() => {
    const tf = cc.tf
    const t = tf.tidy(() => cc.encode(tf.tensor2d(data, [n, cc.numSources * cc.dim])))
    return Effect.promise(() => t.data() as Promise<Float32Array>).pipe(Effect.ensuring(Effect.sync(() => t.dispose())))
  })

/** Codes `[rows, F]` of raw activations. */
const encodeRows = (cc: Crosscoder, activations: Float32Array) =>
  Effect.gen(function* () {
    const width = cc.numSources * cc.dim
    const rows = activations.length / width
    const out = new Float32Array(rows * cc.features)
    for (let i = 0; i < rows; i += 256) {
      const n = Math.min(256, rows - i)
      out.set(yield* encodeChunk(cc, activations.subarray(i * width, (i + n) * width), n), i * cc.features)
    }
    return codeMatrix(out, rows, cc.features)
  })

/** Scans the store and keeps the `m` highest activations of each wanted feature. */
const topActivations = (
  cc: Crosscoder,
  store: ActivationStore.ActivationStoreShape,
  features: ReadonlyArray<number>,
  m: number,
  maxRows: number,
  tick: (rows: number) => void
) =>
  Effect.gen(function* () {
    const F = cc.features
    const tops = new Map<number, Array<{ row: number; v: number }>>(features.map((f) => [f, []]))
    let seen = 0
    yield* store.batches({ batchSize: 512, seed: 0, shuffle: false, dropLast: false, normalize: "none" }).pipe(
      Stream.takeWhile(() => seen < maxRows),
      Stream.runForEach((b) =>
        Effect.gen(function* () {
          const rows = Math.min(b.rows, maxRows - seen)
          const codes = yield* encodeChunk(cc, b.data.subarray(0, rows * b.numSources * b.dim), rows)
          for (let r = 0; r < rows; r++) {
            for (const f of features) {
              const v = codes[r * F + f]!
              if (!(v > 0)) continue
              const list = tops.get(f)!
              if (list.length < m || v > list[list.length - 1]!.v) {
                list.push({ row: b.rowIds[r]!, v })
                list.sort((x, y) => y.v - x.v)
                if (list.length > m) list.pop()
              }
            }
          }
          seen += rows
          tick(rows)
        })
      )
    )
    return tops
  })

const tokenizeAll = (tokenizer: TokenizerShape, texts: ReadonlyArray<string>, maxLength: number) =>
  texts.map((t) => truncateIds(tokenizer.encode(t), maxLength, "right")).filter((ids) => ids.length > 0)

interface PromptActivations {
  tool?: Float32Array
  general?: Float32Array
}

const rankOne = (
  ctx: RunContext,
  name: string,
  store: ActivationStore.ActivationStoreShape,
  cache: PromptActivations
) =>
  Effect.gen(function* () {
    const progress = yield* Progress
    const spec = ctx.recipe.rank
    const tokenizer = yield* ctx.tokenizer
    const maxLength = spec.maxLength ?? 2048
    const items = (yield* loadPromptSet(spec.toolPrompts, "rank")).slice(0, spec.n)
    const tool = tokenizeAll(tokenizer, items.map(itemToolRlSystem), maxLength)
    const general = tokenizeAll(tokenizer, yield* readTexts(spec.generalTexts, spec.n, "rank"), maxLength)
    const pe = yield* ctx.pairEncoder(name)
    const cc = pe.crosscoder
    const topFeatures = spec.topFeatures ?? 5
    const topTexts = spec.topTexts ?? 5
    const scanRows = Math.min(spec.scanRows ?? store.rows, store.rows)
    const toRun = (cache.tool === undefined ? tool.length : 0) + (cache.general === undefined ? general.length : 0)
    const bar = progress.start(`rank ${name}`, toRun + (topFeatures > 0 && topTexts > 0 ? scanRows : 0), "rows")
    let done = 0
    const tick = (n: number) => bar.update((done += n))
    cache.tool ??= yield* pairActivations(pe, tool, tick)
    cache.general ??= yield* pairActivations(pe, general, tick)
    const codesTool = yield* encodeRows(cc, cache.tool)
    const codesGeneral = yield* encodeRows(cc, cache.general)
    const ranking: FeatureRanking = yield* rankFeatures(codesTool, codesGeneral, {
      partition: cc.partition,
      ...(spec.fireThreshold !== undefined ? { fireThreshold: spec.fireThreshold } : {})
    })
    yield* writeRanking(ranking, {
      csv: ctx.dir("rank", name, "ranking.csv"),
      json: ctx.dir("rank", name, "ranking.json")
    })
    const relNorm = (yield* readCrosscoderSummary(ctx, name))?.relativeNormA
    const chosen: Array<FeatureStat> = []
    for (const g of ranking.groups) {
      chosen.push(
        ...sortByD(ranking.features.filter((f) => f.partition === g.name && f.sign === "tool")).slice(0, topFeatures)
      )
    }
    // 4× candidates, so that repeated texts (a corpus may hold duplicates) can be dropped
    const tops =
      topTexts > 0 && chosen.length > 0
        ? yield* topActivations(
            cc,
            store,
            chosen.map((f) => f.feature),
            4 * topTexts,
            scanRows,
            tick
          )
        : new Map()
    bar.finish()
    const features: Array<TopFeature> = []
    for (const f of chosen) {
      const texts: Array<TopText> = []
      const seenTexts = new Set<string>()
      for (const t of tops.get(f.feature) ?? []) {
        if (texts.length >= topTexts) break
        const info = yield* store.rowText(t.row)
        const text = info.text ?? (info.tokenIds !== undefined ? tokenizer.decode(info.tokenIds) : "")
        if (seenTexts.has(text)) continue
        seenTexts.add(text)
        const context =
          info.tokenIds !== undefined && info.position !== undefined
            ? tokenContext(tokenizer, info.tokenIds, info.position)
            : undefined
        texts.push({
          row: t.row,
          activation: t.v,
          dataset: info.dataset,
          ...(info.id !== undefined ? { id: info.id } : {}),
          text,
          ...(context !== undefined ? { context } : {})
        })
      }
      features.push({
        feature: f.feature,
        group: f.partition,
        cohenD: f.cohenD,
        auroc: f.auroc,
        fireRateTool: f.fireRateTool,
        fireRateGeneral: f.fireRateGeneral,
        meanTool: f.meanTool,
        meanGeneral: f.meanGeneral,
        passesFilter: f.passesFilter,
        ...(relNorm !== undefined ? { relativeNormA: relNorm[f.feature]! } : {}),
        topTexts: texts
      })
    }
    const summary: RankSummary = {
      crosscoder: name,
      nTool: ranking.nTool,
      nGeneral: ranking.nGeneral,
      groups: ranking.groups.map((g) => {
        const inG = ranking.features.filter((f) => f.partition === g.name)
        return {
          group: g.name,
          size: g.size,
          nTool: inG.filter((f) => f.sign === "tool").length,
          nFilter: inG.filter((f) => f.passesFilter).length
        }
      }),
      topFeatures: features
    }
    yield* writeStageJson("rank", ctx.dir("rank", name, "top-features.json"), summary)
    const best = features[0]
    yield* Effect.logInfo(
      `rank ${name}: ${summary.groups.map((g) => `${g.group} ${g.nTool}/${g.size} tool-signed`).join(", ")}${best !== undefined ? `; top ${best.group} feature #${best.feature} d=${best.cohenD.toFixed(2)}` : ""}`
    )
    return summary
  })

export const runRank = Effect.fn("runRank")(
  function* (ctx: RunContext) {
    const store = yield* ActivationStore.open(storeDir(ctx)).pipe(
      Effect.mapError(stageFailure("rank", { kind: "input", context: "cannot open the activation store" }))
    )
    const names = ctx.recipe.rank.crosscoders ?? ctx.recipe.crosscoders.map((c) => c.name)
    const out: Array<RankSummary> = []
    const cache: PromptActivations = {}
    for (const name of names) out.push(yield* rankOne(ctx, name, store, cache))
    return { crosscoders: out }
  },
  Effect.mapError(stageFailure("rank"))
)
