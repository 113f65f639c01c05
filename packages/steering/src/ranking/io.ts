/**
 * Ranking tables: CSV (one row per feature, sorted by Cohen's d descending, as the paper's ranking
 * CSVs) and JSON (the whole `FeatureRanking`, readable back with {@link readRanking}).
 */
import { platformErrorMessage, readTextFile, writeTextFileAtomic } from "@crosscode/core"
import { Effect, type FileSystem, type Path, Schema } from "effect"
import { SteeringIOError } from "../errors.js"
import { type FeatureRanking, sortByD } from "./rank.js"

export const RANKING_CSV_COLUMNS = [
  "feature",
  "partition",
  "cohen_d",
  "auroc",
  "mean_tool",
  "mean_general",
  "sd_tool",
  "sd_general",
  "fire_rate_tool",
  "fire_rate_general",
  "sign",
  "passes_filter"
] as const

/** CSV text with a header; rows sorted by d descending (ties by feature id). */
export const rankingToCsv = (ranking: FeatureRanking): string => {
  const lines = [RANKING_CSV_COLUMNS.join(",")]
  for (const f of sortByD(ranking.features)) {
    lines.push(
      [
        f.feature,
        csvField(f.partition),
        f.cohenD,
        f.auroc,
        f.meanTool,
        f.meanGeneral,
        f.sdTool,
        f.sdGeneral,
        f.fireRateTool,
        f.fireRateGeneral,
        f.sign,
        f.passesFilter
      ].join(",")
    )
  }
  return `${lines.join("\n")}\n`
}

/** Quotes a CSV field when it holds a comma, quote or newline. */
export const csvField = (s: string): string => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s)

const Stat = Schema.Struct({
  feature: Schema.Int,
  partition: Schema.String,
  cohenD: Schema.Finite,
  auroc: Schema.Finite,
  meanTool: Schema.Finite,
  meanGeneral: Schema.Finite,
  sdTool: Schema.Finite,
  sdGeneral: Schema.Finite,
  fireRateTool: Schema.Finite,
  fireRateGeneral: Schema.Finite,
  sign: Schema.Literals(["tool", "general"]),
  passesFilter: Schema.Boolean
})

/** The JSON form of a ranking (what {@link writeRanking} writes and {@link readRanking} reads). */
export const FeatureRankingSchema = Schema.Struct({
  features: Schema.Array(Stat),
  nTool: Schema.Int,
  nGeneral: Schema.Int,
  fireThreshold: Schema.Finite,
  filter: Schema.Struct({ minToolFireRate: Schema.Finite, maxGeneralFireRate: Schema.Finite }),
  groups: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      size: Schema.Int,
      range: Schema.optionalKey(Schema.Tuple([Schema.Int, Schema.Int]))
    })
  )
})

/** Writes a file atomically (temp file + rename), creating directories. */
export const writeTextFile = (
  file: string,
  text: string
): Effect.Effect<void, SteeringIOError, FileSystem.FileSystem | Path.Path> =>
  writeTextFileAtomic(file, text).pipe(
    Effect.mapError((e) => new SteeringIOError({ path: file, message: platformErrorMessage(e) }))
  )

/** Writes the ranking as CSV and/or JSON. */
export const writeRanking = Effect.fn("writeRanking")(function* (
  ranking: FeatureRanking,
  files: { readonly csv?: string; readonly json?: string }
): Effect.fn.Return<void, SteeringIOError, FileSystem.FileSystem | Path.Path> {
  if (files.csv !== undefined) yield* writeTextFile(files.csv, rankingToCsv(ranking))
  if (files.json !== undefined) yield* writeTextFile(files.json, `${JSON.stringify(ranking, null, 1)}\n`)
})

/** Reads a ranking JSON written by {@link writeRanking}. */
export const readRanking = Effect.fn("readRanking")(function* (
  file: string
): Effect.fn.Return<FeatureRanking, SteeringIOError, FileSystem.FileSystem> {
  const text = yield* readTextFile(file).pipe(
    Effect.mapError((e) => new SteeringIOError({ path: file, message: platformErrorMessage(e) }))
  )
  const json = yield* Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (e) =>
      new SteeringIOError({ path: file, message: `not JSON: ${e instanceof Error ? e.message : String(e)}` })
  })
  return yield* Schema.decodeUnknownEffect(FeatureRankingSchema)(json).pipe(
    Effect.mapError((e) => new SteeringIOError({ path: file, message: `not a feature ranking: ${e.message}` }))
  )
})
