/**
 * Crosscoder checkpoints: a directory with
 *   model.safetensors  W_enc [S,d,F], b_enc [F], W_dec [F,S,d], b_dec [S,d], sparsity.<param>,
 *                      normalization.mean [S,d], normalization.divisor [S,d]   (float32)
 *   config.json        format, architecture, sparsity spec + state, partition spec (+ resolved
 *                      groups for readers), normalization mode, trained steps, versions.
 * Plugins are named by `kind` and resolved through the registries when loading.
 */

import { mkdir } from "node:fs/promises"
import * as path from "node:path"
import { describeNonFinite, firstNonFinite, TensorBackend } from "@crosscode/core"
import { Effect, Result, Schema } from "effect"
import { CheckpointError, CrosscoderConfigError } from "../errors.js"
import {
  Crosscoder,
  type CrosscoderConfig,
  CrosscoderConfigSchema,
  modelsOf,
  resolvePlugins
} from "../model/Crosscoder.js"
import type { Normalization } from "../model/Normalization.js"
import { ForbiddenSet } from "../model/Param.js"
import type { Partition } from "../partition/Partition.js"
import { readJson, writeJsonAtomic } from "../util/fs.js"
import { readSafetensors, type StTensorToWrite, writeSafetensors } from "./safetensors.js"

export const CHECKPOINT_FORMAT = "crosscode-crosscoder"
export const CHECKPOINT_FORMAT_VERSION = 1
/** Keep in step with package.json (a test checks). */
export const CROSSCODER_VERSION = "0.1.0"

export const MODEL_FILE = "model.safetensors"
export const CONFIG_FILE = "config.json"

const NormalizationMeta = Schema.Struct({
  mode: Schema.Literals(["none", "zscore", "scale"]),
  count: Schema.Finite,
  foldedFrom: Schema.optionalKey(Schema.Literals(["none", "zscore", "scale"]))
})

export const CheckpointConfigSchema = Schema.Struct({
  ...CrosscoderConfigSchema.fields,
  format: Schema.Literal(CHECKPOINT_FORMAT),
  formatVersion: Schema.Int,
  normalization: NormalizationMeta,
  sparsityState: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)),
  trainedSteps: Schema.optionalKey(Schema.Int),
  partitionGroups: Schema.optionalKey(
    Schema.Array(
      Schema.Struct({
        name: Schema.String,
        range: Schema.optionalKey(Schema.Tuple([Schema.Int, Schema.Int])),
        count: Schema.Int
      })
    )
  )
})

export interface SavedCrosscoderConfig extends CrosscoderConfig {
  readonly format: typeof CHECKPOINT_FORMAT
  readonly formatVersion: number
  readonly normalization: { readonly mode: string; readonly count: number; readonly foldedFrom?: string }
  readonly sparsityState: Readonly<Record<string, unknown>>
  readonly trainedSteps: number
  /** Resolved feature groups (informational; the partition spec is authoritative). */
  readonly partitionGroups: ReadonlyArray<{
    readonly name: string
    readonly range?: readonly [number, number]
    readonly count: number
  }>
  readonly versions: Readonly<Record<string, string>>
}

const ioError = (p: string, what: string) => (e: unknown) =>
  new CheckpointError({ path: p, message: `${what}: ${e instanceof Error ? e.message : String(e)}` })

/** The JSON config that `saveCrosscoder` writes. */
export const checkpointConfig = (cc: Crosscoder): SavedCrosscoderConfig => {
  const n = cc.normalization
  return {
    format: CHECKPOINT_FORMAT,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    architecture: cc.config.architecture,
    sparsity: cc.config.sparsity,
    partition: cc.config.partition,
    ...(cc.config.init === undefined ? {} : { init: cc.config.init }),
    normalization: {
      mode: n.mode,
      count: n.count,
      ...(n.foldedFrom === undefined ? {} : { foldedFrom: n.foldedFrom })
    },
    sparsityState: cc.sparsity.getState(),
    trainedSteps: cc.trainedSteps,
    partitionGroups: cc.partition.groups.map((g) => ({
      name: g.name,
      ...(g.range === undefined ? {} : { range: g.range }),
      count: g.indices.length
    })),
    versions: { "@crosscode/crosscoder": CROSSCODER_VERSION, tfjs: cc.tf.version_core, node: process.version }
  }
}

/** The tensors that `saveCrosscoder` writes (float32, masked weights exactly as held). */
export const checkpointTensors = (cc: Crosscoder): Array<StTensorToWrite> => {
  const { numSources: S, dim: d } = cc
  const out: Array<StTensorToWrite> = cc
    .allParams()
    .map((p) => ({ name: p.name, dtype: "F32" as const, shape: p.shape, data: p.data }))
  out.push({ name: "normalization.mean", dtype: "F32", shape: [S, d], data: cc.normalization.mean })
  out.push({ name: "normalization.divisor", dtype: "F32", shape: [S, d], data: cc.normalization.divisor })
  return out
}

/** Writes `dir/model.safetensors` and `dir/config.json` (creating `dir`). */
export const saveCrosscoder = Effect.fn("saveCrosscoder")(function* (dir: string, cc: Crosscoder) {
  yield* Effect.tryPromise({
    try: () => mkdir(dir, { recursive: true }),
    catch: ioError(dir, "cannot create directory")
  })
  yield* writeSafetensors(path.join(dir, MODEL_FILE), checkpointTensors(cc), { format: CHECKPOINT_FORMAT })
  yield* writeJsonAtomic(path.join(dir, CONFIG_FILE), checkpointConfig(cc))
})

/**
 * Why the tensors of a checkpoint do not fit its config, or undefined. Checked on load because
 * config.json is plain text that can be edited or mixed up with another run's weights:
 * - every weight and normalization value is finite, and every normalization divisor is > 0;
 * - the partition resolved from the spec has the groups recorded at save time (`partitionGroups`);
 * - every weight the partition forbids is exactly 0 (training keeps them so; a partition that
 *   differs from the one trained with forbids weights that are not).
 */
const integrityProblem = (
  cfg: typeof CheckpointConfigSchema.Type,
  partition: Partition,
  arrays: Readonly<Record<string, Float32Array>>,
  normalization: Normalization
): string | undefined => {
  for (const [name, data] of [
    ...Object.entries(arrays),
    ["normalization.mean", normalization.mean] as const,
    ["normalization.divisor", normalization.divisor] as const
  ]) {
    const bad = firstNonFinite(data)
    if (bad >= 0)
      return `${MODEL_FILE}: tensor ${name} holds non-finite values (${describeNonFinite(data)}; the first at flat index ${bad})`
  }
  const zero = normalization.divisor.findIndex((v) => !(v > 0))
  if (zero >= 0) {
    return `${MODEL_FILE}: normalization.divisor[${zero}] is ${normalization.divisor[zero]}; every divisor must be > 0`
  }
  if (cfg.partitionGroups !== undefined) {
    const saved = cfg.partitionGroups.map((g) => `${g.name}:${g.count}`).join(", ")
    const resolved = partition.groups.map((g) => `${g.name}:${g.indices.length}`).join(", ")
    if (saved !== resolved) {
      return `${CONFIG_FILE}: the partition spec ${JSON.stringify(cfg.partition)} resolves to groups [${resolved}] but the checkpoint was saved with [${saved}]`
    }
  }
  const { sources, dim, features } = cfg.architecture
  const { sourceModel } = modelsOf(sources)
  for (const [layout, mask, name] of [
    ["encoder", partition.encoderMask, "W_enc"],
    ["decoder", partition.decoderMask, "W_dec"]
  ] as const) {
    const data = arrays[name]!
    let nonZero = 0
    ForbiddenSet.fromMask(layout, mask, sourceModel, dim, features)?.forEachSpan((a, b) => {
      for (let i = a; i < b; i++) if (data[i] !== 0) nonZero++
    })
    if (nonZero > 0) {
      return `${CONFIG_FILE}: the partition spec ${JSON.stringify(cfg.partition)} forbids ${nonZero} weights of ${name} that are not 0 in ${MODEL_FILE}; the weights were trained with another partition`
    }
  }
  return undefined
}

/**
 * Loads a crosscoder saved by `saveCrosscoder` (or a trainer checkpoint directory). Sparsity and
 * partition kinds are resolved through the registries, so custom plugins must be registered.
 * Weights that do not fit the config (non-finite values, a divisor ≤ 0, a partition other than
 * the one trained with) are a `CheckpointError`; see `integrityProblem`.
 */
export const loadCrosscoder = Effect.fn("loadCrosscoder")(function* (dir: string) {
  const backend = yield* TensorBackend
  const cfgPath = path.join(dir, CONFIG_FILE)
  const raw = yield* readJson(cfgPath)
  const cfg = yield* Schema.decodeUnknownEffect(CheckpointConfigSchema)(raw).pipe(
    Effect.mapError((e) => new CheckpointError({ path: cfgPath, message: `not a crosscoder config: ${e.message}` }))
  )
  if (cfg.formatVersion > CHECKPOINT_FORMAT_VERSION) {
    return yield* new CheckpointError({
      path: cfgPath,
      message: `format version ${cfg.formatVersion} is newer than this package supports (${CHECKPOINT_FORMAT_VERSION})`
    })
  }
  const config: CrosscoderConfig = {
    architecture: cfg.architecture,
    sparsity: cfg.sparsity as CrosscoderConfig["sparsity"],
    partition: cfg.partition as CrosscoderConfig["partition"],
    ...(cfg.init === undefined ? {} : { init: cfg.init })
  }
  const { sparsity, partition } = yield* resolvePlugins(config)
  const modelPath = path.join(dir, MODEL_FILE)
  const { tensors } = yield* readSafetensors(modelPath)
  const { sources, dim: d, features: F } = cfg.architecture
  const S = sources.length
  const need = (name: string, shape: ReadonlyArray<number>) =>
    Effect.gen(function* () {
      const t = tensors.get(name)
      if (t === undefined) return yield* new CheckpointError({ path: modelPath, message: `missing tensor ${name}` })
      if (t.shape.join(",") !== shape.join(",")) {
        return yield* new CheckpointError({
          path: modelPath,
          message: `tensor ${name} has shape [${t.shape.join(", ")}], expected [${shape.join(", ")}]`
        })
      }
      if (!(t.data instanceof Float32Array))
        return yield* new CheckpointError({
          path: modelPath,
          message: `tensor ${name} is ${t.dtype}, expected a float type`
        })
      return t.data
    })
  const arrays: Record<string, Float32Array> = {
    W_enc: yield* need("W_enc", [S, d, F]),
    b_enc: yield* need("b_enc", [F]),
    W_dec: yield* need("W_dec", [F, S, d]),
    b_dec: yield* need("b_dec", [S, d])
  }
  for (const p of sparsity.params) {
    const name = `sparsity.${p.name}`
    if (tensors.has(name)) arrays[name] = yield* need(name, p.shape)
  }
  const normalization: Normalization = {
    mode: cfg.normalization.mode,
    count: cfg.normalization.count,
    mean: yield* need("normalization.mean", [S, d]),
    divisor: yield* need("normalization.divisor", [S, d]),
    ...(cfg.normalization.foldedFrom === undefined ? {} : { foldedFrom: cfg.normalization.foldedFrom })
  }
  const problem = integrityProblem(cfg, partition, arrays, normalization)
  if (problem !== undefined) return yield* new CheckpointError({ path: dir, message: problem })
  const made = Crosscoder.fromParts({
    tf: backend.tf,
    config,
    sparsity,
    partition,
    normalization,
    arrays,
    trainedSteps: cfg.trainedSteps ?? 0
  })
  if (Result.isFailure(made)) return yield* new CrosscoderConfigError({ message: `${dir}: ${made.failure}` })
  if (cfg.sparsityState !== undefined) made.success.sparsity.setState(cfg.sparsityState as Record<string, number>)
  return made.success
})
