/**
 * The recipe file: one JSON document describing a whole study (harvest → train → evaluate → rank
 * → steer → report), validated with Effect Schema. Decoding errors name the offending field
 * (`at ["crosscoders"][0]["k"]`), unknown keys are rejected (typos do not pass silently).
 *
 * Paths are resolved against the recipe file's directory, except `runDir` (against the current
 * directory); every string may use `${VAR}` / `${VAR:-default}` environment references
 * (see `load.ts` and docs/recipes.md).
 */
import { BackendNames } from "@crosscode/core"
import { Schema } from "effect"

const Positive = Schema.Int.check(Schema.isGreaterThan(0))
const NonNegative = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const PositiveNumber = Schema.Finite.check(Schema.isGreaterThan(0))
const Fraction = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))
const Path = Schema.NonEmptyString

// ---------------------------------------------------------------------------------------------
// text sources (harvest and the "general" side of ranking)

/** A JSONL file with one text per line (`field` is a dot path, default "text"). */
export const JsonlTextSource = Schema.Struct({
  kind: Schema.Literal("jsonl"),
  path: Path,
  field: Schema.optionalKey(Schema.String),
  dataset: Schema.optionalKey(Schema.String)
})

/** Plain text, split by line (default), paragraph or whole file. */
export const PlainTextSource = Schema.Struct({
  kind: Schema.Literal("text"),
  path: Path,
  split: Schema.optionalKey(Schema.Literals(["line", "paragraph", "file"])),
  dataset: Schema.optionalKey(Schema.String)
})

/** A parquet file (e.g. FineWeb sample-10BT), `column` default "text". */
export const ParquetTextSource = Schema.Struct({
  kind: Schema.Literal("parquet"),
  path: Path,
  column: Schema.optionalKey(Schema.String),
  dataset: Schema.optionalKey(Schema.String)
})

/** ToolRL rows (`rlla_sft.json`, `.jsonl` or `.parquet`), text = instruction\n\ninput\n\noutput. */
export const ToolRlTextSource = Schema.Struct({
  kind: Schema.Literal("toolrl"),
  path: Path,
  dataset: Schema.optionalKey(Schema.String)
})

export const TextSourceSpec = Schema.Union([JsonlTextSource, PlainTextSource, ParquetTextSource, ToolRlTextSource])
export type TextSourceSpec = typeof TextSourceSpec.Type

// ---------------------------------------------------------------------------------------------
// prompt sets (evaluation, steering, the "tool" side of ranking)

/** JSONL prompts: `{ id, prompt, tools? }` per line (the embedded prompt sets). */
export const JsonlPromptSet = Schema.Struct({
  kind: Schema.Literal("jsonl"),
  path: Path,
  promptField: Schema.optionalKey(Schema.String),
  idField: Schema.optionalKey(Schema.String)
})

/** ToolRL's processed `test.parquet` (the paper's held-out prompts). */
export const ToolRlParquetPromptSet = Schema.Struct({
  kind: Schema.Literal("toolrl-parquet"),
  path: Path,
  split: Schema.optionalKey(Schema.String)
})

/** ToolRL's `rlla_sft.json`. */
export const ToolRlJsonPromptSet = Schema.Struct({
  kind: Schema.Literal("toolrl-json"),
  path: Path
})

export const PromptSetSpec = Schema.Union([JsonlPromptSet, ToolRlParquetPromptSet, ToolRlJsonPromptSet])
export type PromptSetSpec = typeof PromptSetSpec.Type

// ---------------------------------------------------------------------------------------------
// stages

/** A text source in a harvest mix, optionally with its own sample count. */
const withSamples = <F extends Schema.Struct.Fields>(fields: F) =>
  Schema.Struct({
    ...fields,
    /** Texts taken from this source (cycled if it is shorter); default the mix's `samplesPerSource`. */
    samples: Schema.optionalKey(Positive)
  })

export const MixSourceSpec = Schema.Union([
  withSamples(JsonlTextSource.fields),
  withSamples(PlainTextSource.fields),
  withSamples(ParquetTextSource.fields),
  withSamples(ToolRlTextSource.fields)
])
export type MixSourceSpec = typeof MixSourceSpec.Type

export const HarvestText = Schema.Union([
  /** The paper's recipe: chunked web text and cycled ToolRL rows, n chunks each, 50/50. */
  Schema.Struct({
    kind: Schema.Literal("paper"),
    web: TextSourceSpec,
    tool: TextSourceSpec,
    samplesPerDataset: Positive,
    targetWords: Schema.optionalKey(Positive),
    minChunkChars: Schema.optionalKey(NonNegative)
  }),
  /**
   * Already-chunked sources, interleaved with the recipe seed: `samplesPerSource` texts from each
   * (cycled if short), or each source's own `samples`.
   */
  Schema.Struct({
    kind: Schema.Literal("mix"),
    sources: Schema.NonEmptyArray(MixSourceSpec),
    samplesPerSource: Schema.optionalKey(Positive),
    /**
     * "interleave" (default): seeded random interleaving. "concat": one source after the other —
     * batches then hold texts of similar length, much faster when one source has long texts
     * (training shuffles, so the store's order does not matter).
     */
    order: Schema.optionalKey(Schema.Literals(["interleave", "concat"]))
  })
])
export type HarvestText = typeof HarvestText.Type

export const HarvestSpec = Schema.Struct({
  text: HarvestText,
  /** Tokens kept per text (default 512, the paper). */
  maxLength: Schema.optionalKey(Positive),
  /** Texts per forward pass (default 1 on the wasm / cpu backends, else 8). */
  batchSize: Schema.optionalKey(Positive),
  /** Storage dtype (default "f32"; the paper stored f16). */
  dtype: Schema.optionalKey(Schema.Literals(["f32", "f16", "bf16"])),
  shardRows: Schema.optionalKey(Positive)
})

/** Per-model exclusive share `{ A: 0.1, B: 0.1 }`, or "none" for a plain crosscoder. */
export const PartitionShares = Schema.Union([Schema.Literal("none"), Schema.Record(Schema.String, Fraction)])

export const CrosscoderSpec = Schema.Struct({
  /** Names the crosscoder's directory (`train/<name>/`) and its rows in the report. */
  name: Schema.String.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)),
  /** Dictionary size D. */
  features: Positive,
  /** TopK k. */
  k: Positive,
  partition: PartitionShares,
  /** λ_sh and λ_excl of the paper's L1 terms (default 1e-3 and 1e-3). */
  lambdas: Schema.optionalKey(Schema.Struct({ shared: Schema.Finite, exclusive: Schema.Finite })),
  steps: Positive,
  batchSize: Positive,
  lr: PositiveNumber,
  /** Seed of the weights and data order (default: the recipe seed). */
  seed: Schema.optionalKey(Schema.Int),
  /** Gradient-norm clip (default 1.0). */
  clipGradNorm: Schema.optionalKey(PositiveNumber),
  normalization: Schema.optionalKey(Schema.Literals(["zscore", "scale", "none"])),
  /** Checkpoint and evaluate FVE / L0 on `evalRows` store rows every this many steps (default steps/10). */
  evalEvery: Schema.optionalKey(Positive),
  /** Rows for the periodic and final reconstruction metrics (default 4096). */
  evalRows: Schema.optionalKey(Positive),
  /** Trainer log interval (default max(25, steps / 20)). */
  logEvery: Schema.optionalKey(Positive)
})
export type CrosscoderSpec = typeof CrosscoderSpec.Type

export const EvaluateSpec = Schema.Struct({
  prompts: PromptSetSpec,
  /** Prompts drawn with Python's `random.sample(items, n)` under `seed` (the paper: 100, seed 42). */
  n: Positive,
  seed: Schema.optionalKey(Schema.Int),
  /** Crosscoders evaluated (default: all). */
  crosscoders: Schema.optionalKey(Schema.Array(Schema.String)),
  maxNewTokens: Schema.optionalKey(Positive),
  maxPromptTokens: Schema.optionalKey(Positive),
  batchSize: Schema.optionalKey(Positive)
})

export const RankSpec = Schema.Struct({
  /** Crosscoders ranked (default: all). */
  crosscoders: Schema.optionalKey(Schema.Array(Schema.String)),
  toolPrompts: PromptSetSpec,
  generalTexts: TextSourceSpec,
  /** Prompts per side (first n of each set; the paper: 1000). */
  n: Positive,
  /** Tokens kept per prompt (default 2048). */
  maxLength: Schema.optionalKey(Positive),
  /** A code "fires" above this (default 0.1). */
  fireThreshold: Schema.optionalKey(Schema.Finite),
  /** Features per partition group with their top-activating texts (default 5). */
  topFeatures: Schema.optionalKey(NonNegative),
  /** Top-activating store texts per feature (default 5). */
  topTexts: Schema.optionalKey(NonNegative),
  /** Store rows scanned for top-activating texts (default: all). */
  scanRows: Schema.optionalKey(Positive),
  /** Prompts per forward pass when encoding (default 1 on the wasm / cpu backends, else 8). */
  batchSize: Schema.optionalKey(Positive)
})

export const SteerSpec = Schema.Struct({
  crosscoder: Schema.String,
  /** The steered model (default "A"). */
  target: Schema.optionalKey(Schema.String),
  partitions: Schema.NonEmptyArray(Schema.String),
  kPercents: Schema.NonEmptyArray(Schema.Finite.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(100))),
  alphas: Schema.NonEmptyArray(Schema.Finite),
  /** Default: the evaluation prompt set. */
  prompts: Schema.optionalKey(PromptSetSpec),
  /** Prompts per cell (the paper: 40). */
  n: Positive,
  seed: Schema.optionalKey(Schema.Int),
  useFilter: Schema.optionalKey(Schema.Boolean),
  /** Also evaluate full reconstruction on the same prompts (default true). */
  reconstruction: Schema.optionalKey(Schema.Boolean),
  maxNewTokens: Schema.optionalKey(Positive),
  maxPromptTokens: Schema.optionalKey(Positive),
  /**
   * Also steer the top `top` tool-signed features of each listed partition one at a time
   * (|S| = 1 α curves per feature, as the paper's per-feature curves), at `alphas` (default the
   * grid's).
   */
  singleFeatures: Schema.optionalKey(
    Schema.Struct({
      partitions: Schema.NonEmptyArray(Schema.String),
      top: Positive,
      alphas: Schema.optionalKey(Schema.NonEmptyArray(Schema.Finite))
    })
  )
})

export const ReportSpec = Schema.Struct({
  title: Schema.optionalKey(Schema.String),
  /** Also write report.html (default true). */
  html: Schema.optionalKey(Schema.Boolean)
})

export const Recipe = Schema.Struct({
  name: Schema.NonEmptyString,
  description: Schema.optionalKey(Schema.String),
  /** Output directory (relative to the current directory). */
  runDir: Path,
  seed: Schema.Int,
  /** TensorFlow.js backend (default "auto"). */
  backend: Schema.optionalKey(Schema.Literals(["auto", ...BackendNames])),
  /** Model directories: A (the fine-tuned / RL model) and B (the base model). */
  models: Schema.Struct({ A: Path, B: Path }),
  /** Tokenizer directory shared by both models (default: models.B). */
  tokenizer: Schema.optionalKey(Path),
  /** Activation site: the residual stream after decoder block `layer` (0-indexed). */
  site: Schema.Struct({ layer: NonNegative }),
  harvest: HarvestSpec,
  crosscoders: Schema.NonEmptyArray(CrosscoderSpec),
  evaluate: EvaluateSpec,
  rank: RankSpec,
  steer: SteerSpec,
  report: Schema.optionalKey(ReportSpec)
})
export type Recipe = typeof Recipe.Type

/** The stages, in order. */
export const STAGES = ["harvest", "train", "evaluate", "rank", "steer", "report"] as const
export type Stage = (typeof STAGES)[number]
export const StageSchema = Schema.Literals(STAGES)
