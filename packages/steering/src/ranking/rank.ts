/**
 * Feature ranking between two prompt sets (the paper's tool prompts vs general text, method.md §5.3)
 * and the paper's subset selection (`select_top_subset`).
 *
 * Codes are matrices with one row per prompt and one column per feature (post-sparsity codes at the
 * prompt's last token, from encoding the model pair). For every feature: means, sample SDs,
 * Cohen's d (pooled SD, ddof = 1, 0 when the SD is 0), AUROC (ties = ½), firing rates above a
 * threshold (default 0.1), the sign ("tool" when d > 0, else "general"), the partition group the
 * feature belongs to, and whether it passes the optional firing-rate filter
 * (ρ_tool ≥ 0.3 and ρ_general ≤ 0.1 by default).
 */
import type { FeatureGroup } from "@crosscode/crosscoder"
import { Effect, Result } from "effect"
import { RankingError } from "../errors.js"
import { PairEncoder } from "../intervention/PairEncoder.js"
import { auroc, cohensDFromMoments, moments } from "./stats.js"

/** Row-major `[rows, features]` codes. */
export interface CodeMatrix {
  readonly rows: number
  readonly features: number
  readonly data: Float32Array
}

/** A checked code matrix. */
export const codeMatrix = (data: Float32Array, rows: number, features: number): CodeMatrix => {
  if (
    !Number.isInteger(rows) ||
    rows < 0 ||
    !Number.isInteger(features) ||
    features < 1 ||
    data.length !== rows * features
  ) {
    throw new RankingError({ message: `code matrix of ${data.length} values is not [${rows}, ${features}]` })
  }
  return { rows, features, data }
}

export type FeatureSign = "tool" | "general"

export interface FeatureStat {
  readonly feature: number
  /** Name of the partition group holding the feature ("exclusive:A", "shared", …; "all" without groups). */
  readonly partition: string
  readonly cohenD: number
  readonly auroc: number
  readonly meanTool: number
  readonly meanGeneral: number
  readonly sdTool: number
  readonly sdGeneral: number
  readonly fireRateTool: number
  readonly fireRateGeneral: number
  /** "tool" when d > 0, else "general". */
  readonly sign: FeatureSign
  /** fireRateTool ≥ filter.minToolFireRate and fireRateGeneral ≤ filter.maxGeneralFireRate. */
  readonly passesFilter: boolean
}

export interface FiringFilter {
  readonly minToolFireRate: number
  readonly maxGeneralFireRate: number
}

export interface GroupInfo {
  readonly name: string
  readonly size: number
  /** `[start, end)` for contiguous groups. */
  readonly range?: readonly [number, number]
}

export interface FeatureRanking {
  /** One entry per feature, in feature order. */
  readonly features: ReadonlyArray<FeatureStat>
  readonly nTool: number
  readonly nGeneral: number
  readonly fireThreshold: number
  readonly filter: FiringFilter
  /** Partition groups, in order. */
  readonly groups: ReadonlyArray<GroupInfo>
}

export interface RankOptions {
  /** A code counts as firing when it is > this (default 0.1, the paper's FIRE_THRESHOLD). */
  readonly fireThreshold?: number
  /** Default { minToolFireRate: 0.3, maxGeneralFireRate: 0.1 } (the paper's candidate filter). */
  readonly filter?: FiringFilter
  /** Partition groups labelling each feature (a crosscoder's `partition` fits). Default: one group "all". */
  readonly partition?: { readonly groups: ReadonlyArray<FeatureGroup> }
}

export const defaultFiringFilter: FiringFilter = { minToolFireRate: 0.3, maxGeneralFireRate: 0.1 }

/** Feature statistics of `tool` vs `general` codes. */
export const rankFeatures = (
  tool: CodeMatrix,
  general: CodeMatrix,
  options: RankOptions = {}
): Effect.Effect<FeatureRanking, RankingError> =>
  Effect.try({
    try: () => rankFeaturesSync(tool, general, options),
    catch: (e) =>
      e instanceof RankingError ? e : new RankingError({ message: e instanceof Error ? e.message : String(e) })
  })

/** {@link rankFeatures} as a plain function (throws RankingError). */
export const rankFeaturesSync = (tool: CodeMatrix, general: CodeMatrix, options: RankOptions = {}): FeatureRanking => {
  const fail = (message: string): never => {
    throw new RankingError({ message })
  }
  const F = tool.features
  if (general.features !== F) fail(`tool codes have ${F} features, general codes ${general.features}`)
  if (tool.rows < 2 || general.rows < 2)
    fail(`need at least 2 prompts per set (got ${tool.rows} tool, ${general.rows} general)`)
  if (tool.data.length !== tool.rows * F || general.data.length !== general.rows * F)
    fail("code matrix data does not match its shape")
  const threshold = options.fireThreshold ?? 0.1
  if (!Number.isFinite(threshold)) fail(`fireThreshold ${threshold} is not finite`)
  const filter = options.filter ?? defaultFiringFilter
  const label = new Array<string>(F).fill("all")
  let groups: Array<GroupInfo> = [{ name: "all", size: F, range: [0, F] }]
  if (options.partition !== undefined) {
    const seen = new Uint8Array(F)
    groups = []
    for (const g of options.partition.groups) {
      for (const j of g.indices) {
        if (j < 0 || j >= F) fail(`partition group ${g.name} holds feature ${j}, outside [0, ${F})`)
        if (seen[j]) fail(`feature ${j} is in two partition groups`)
        seen[j] = 1
        label[j] = g.name
      }
      groups.push({ name: g.name, size: g.indices.length, ...(g.range !== undefined ? { range: g.range } : {}) })
    }
    const missing = seen.indexOf(0)
    if (missing >= 0) fail(`feature ${missing} is in no partition group`)
  }
  const column = (m: CodeMatrix, j: number) => {
    const out = new Float64Array(m.rows)
    for (let r = 0; r < m.rows; r++) out[r] = m.data[r * F + j]!
    return out
  }
  const fired = (xs: Float64Array) => {
    let k = 0
    for (const x of xs) if (x > threshold) k++
    return k / xs.length
  }
  const features: Array<FeatureStat> = []
  for (let j = 0; j < F; j++) {
    const a = column(tool, j)
    const b = column(general, j)
    let ma: ReturnType<typeof moments>
    let mb: ReturnType<typeof moments>
    try {
      ma = moments(a)
      mb = moments(b)
    } catch (e) {
      return fail(`feature ${j}: ${e instanceof RankingError ? e.message : String(e)}`)
    }
    const d = cohensDFromMoments(ma, mb)
    const rt = fired(a)
    const rg = fired(b)
    features.push({
      feature: j,
      partition: label[j]!,
      cohenD: d,
      auroc: auroc(a, b),
      meanTool: ma.mean,
      meanGeneral: mb.mean,
      sdTool: Math.sqrt(ma.variance),
      sdGeneral: Math.sqrt(mb.variance),
      fireRateTool: rt,
      fireRateGeneral: rg,
      sign: d > 0 ? "tool" : "general",
      passesFilter: rt >= filter.minToolFireRate && rg <= filter.maxGeneralFireRate
    })
  }
  return { features, nTool: tool.rows, nGeneral: general.rows, fireThreshold: threshold, filter, groups }
}

/** Features sorted by Cohen's d, descending (ties: lower feature id first). */
export const sortByD = (stats: ReadonlyArray<FeatureStat>): Array<FeatureStat> =>
  [...stats].sort((x, y) => y.cohenD - x.cohenD || x.feature - y.feature)

// ---------------------------------------------------------------------------------------------
// subset selection

/**
 * Which features a sweep cell draws from:
 * - "A-excl" / "B-excl": the exclusive group of the first / second model (`exclusive:<label>`);
 * - "shared": the shared group;
 * - "union": the first model's exclusive top-k% followed by the shared top-k% (the paper's
 *   "a-excl+shared");
 * - "all": every feature as one pool (the paper's choice for plain crosscoders);
 * - `excl:<label>`, `union:<label>`, or any group name, for other model labels or partitions.
 */
export type PartitionChoice = "A-excl" | "B-excl" | "shared" | "union" | "all" | (string & {})

export interface SubsetPart {
  /** Group name ("all" for the whole dictionary). */
  readonly group: string
  /** Tool-signed features in the group (after the firing filter when used). */
  readonly nTool: number
  readonly features: ReadonlyArray<number>
}

export interface FeatureSubset {
  readonly partition: PartitionChoice
  readonly kPercent: number
  /** Selected features, in selection order (by d descending within each part). */
  readonly features: ReadonlyArray<number>
  readonly parts: ReadonlyArray<SubsetPart>
}

export interface SelectOptions {
  /** Model labels that "A" and "B" stand for (default ["A", "B"]). */
  readonly models?: readonly [string, string]
  /** Keep only features passing the firing-rate filter (default false, as `run_steering_eval.py`). */
  readonly useFilter?: boolean
}

/** Group names a partition choice draws from, in order ("all" = every feature). */
export const partitionGroups = (
  choice: PartitionChoice,
  models: readonly [string, string] = ["A", "B"]
): Array<string> => {
  if (choice === "A-excl") return [`exclusive:${models[0]}`]
  if (choice === "B-excl") return [`exclusive:${models[1]}`]
  if (choice === "union") return [`exclusive:${models[0]}`, "shared"]
  if (choice === "all") return ["all"]
  if (choice.startsWith("excl:")) return [`exclusive:${choice.slice(5)}`]
  if (choice.startsWith("union:")) return [`exclusive:${choice.slice(6)}`, "shared"]
  return [choice]
}

/** |S| = max(1, ceil(k%/100 · n_tool)) capped at n_tool (0 when n_tool = 0), as `select_top_subset`. */
export const subsetSize = (kPercent: number, nTool: number): number =>
  nTool === 0 ? 0 : Math.min(nTool, Math.max(1, Math.ceil((kPercent / 100) * nTool)))

/**
 * The paper's `select_top_subset`: features with sign "tool" in the partition's groups, sorted by d
 * descending, the top |S| = max(1, ceil(k%/100 · n_tool)) of each part. Fails for an unknown group.
 */
export const selectTopSubset = (
  ranking: FeatureRanking,
  partition: PartitionChoice,
  kPercent: number,
  options: SelectOptions = {}
): Result.Result<FeatureSubset, RankingError> => {
  if (!(kPercent > 0 && kPercent <= 100))
    return Result.fail(new RankingError({ message: `k% must be in (0, 100], got ${kPercent}` }))
  const known = new Set(ranking.groups.map((g) => g.name))
  const parts: Array<SubsetPart> = []
  for (const group of partitionGroups(partition, options.models)) {
    if (group !== "all" && !known.has(group)) {
      return Result.fail(
        new RankingError({
          message: `partition "${partition}" needs group "${group}", which the ranking does not have (groups: ${[...known].join(", ")})`
        })
      )
    }
    const pool = sortByD(
      ranking.features.filter(
        (f) =>
          (group === "all" || f.partition === group) &&
          f.sign === "tool" &&
          (options.useFilter !== true || f.passesFilter)
      )
    )
    const size = subsetSize(kPercent, pool.length)
    parts.push({ group, nTool: pool.length, features: pool.slice(0, size).map((f) => f.feature) })
  }
  return Result.succeed({ partition, kPercent, features: parts.flatMap((p) => p.features), parts })
}

// ---------------------------------------------------------------------------------------------
// codes through the models

/**
 * Last-prompt-token codes of two prompt sets, by encoding the model pair (`PairEncoder`): the
 * matrices `rankFeatures` takes.
 */
export const encodePromptSets = Effect.fn("encodePromptSets")(function* (sets: {
  readonly tool: ReadonlyArray<ReadonlyArray<number>>
  readonly general: ReadonlyArray<ReadonlyArray<number>>
}) {
  const pe = yield* PairEncoder
  const F = pe.crosscoder.features
  const tool = yield* pe.encodeLastTokens(sets.tool)
  const general = yield* pe.encodeLastTokens(sets.general)
  return { tool: codeMatrix(tool.codes, tool.rows, F), general: codeMatrix(general.codes, general.rows, F) }
})

/** Encodes both prompt sets and ranks the features, labelled by the crosscoder's partition groups. */
export const rankPromptSets = Effect.fn("rankPromptSets")(function* (
  sets: { readonly tool: ReadonlyArray<ReadonlyArray<number>>; readonly general: ReadonlyArray<ReadonlyArray<number>> },
  options: Omit<RankOptions, "partition"> = {}
) {
  const pe = yield* PairEncoder
  const codes = yield* encodePromptSets(sets)
  return yield* rankFeatures(codes.tool, codes.general, { ...options, partition: pe.crosscoder.partition })
})
