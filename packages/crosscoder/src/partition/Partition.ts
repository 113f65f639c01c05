/**
 * Latent partitions: which features may read from (encoder) and write to (decoder) which model.
 *
 * A partition is a plugin. Its JSON spec (`{ kind, ...fields }`) is what configs and checkpoints
 * store; a `PartitionKind` registered in the `PartitionRegistry` turns the spec into a resolved
 * `Partition` for a given feature count and model list. Built-in kinds: `none` (every feature
 * may use every model) and `dfc` (Dedicated Feature Crosscoder: one exclusive block per model,
 * then a shared block).
 *
 * Enforcement (done by the crosscoder and the trainer, not by the plugin): forbidden weights are
 * zero at init, the forward pass uses masked weights, gradients of forbidden weights are zeroed
 * before clipping, and Adam moments of forbidden weights stay zero, so forbidden weights stay
 * exactly 0 through every loss term (reconstruction, penalties, aux-k).
 */
import { Result, Schema } from "effect"

/** The JSON form of a partition: a kind plus kind-specific fields. */
export interface PartitionSpec {
  readonly kind: string
  readonly [field: string]: unknown
}

/** A named set of feature ids (sorted), e.g. `exclusive:A` or `shared`. */
export interface FeatureGroup {
  readonly name: string
  readonly indices: Int32Array
  /** `[start, end)` when the group is one contiguous range. */
  readonly range?: readonly [number, number]
}

export interface Partition {
  readonly spec: PartitionSpec
  readonly features: number
  /** Model labels in order; mask row m belongs to `models[m]`. */
  readonly models: ReadonlyArray<string>
  /** Disjoint groups covering `[0, features)`, used for L0 per group and for reports. */
  readonly groups: ReadonlyArray<FeatureGroup>
  /**
   * `[models, features]` row-major: 1 where feature j may read model m (encoder weights
   * `W_enc[s, :, j]` for every source s of model m). `undefined` means everything is allowed.
   */
  readonly encoderMask: Uint8Array | undefined
  /** `[models, features]`: 1 where feature j may write model m (decoder rows `W_dec[j, s, :]`). */
  readonly decoderMask: Uint8Array | undefined
}

export interface PartitionDims {
  readonly features: number
  readonly models: ReadonlyArray<string>
}

/** A partition plugin: decodes its spec and resolves it for given dimensions. */
export interface PartitionKind<S extends PartitionSpec = PartitionSpec> {
  readonly kind: string
  /** Validates the JSON spec (including `kind`). */
  readonly schema: Schema.Codec<S, unknown>
  /** Resolve for a dictionary size and model list; `Result.fail(message)` on impossible specs. */
  readonly make: (spec: S, dims: PartitionDims) => Result.Result<Partition, string>
}

/** Define a partition kind (identity function that fixes the type parameter). */
export const definePartitionKind = <S extends PartitionSpec>(kind: PartitionKind<S>): PartitionKind<S> => kind

// ---------------------------------------------------------------------------------------------
// helpers for plugin authors

export const rangeIndices = (start: number, end: number): Int32Array => {
  const out = new Int32Array(Math.max(0, end - start))
  for (let i = 0; i < out.length; i++) out[i] = start + i
  return out
}

/** A contiguous group. */
export const rangeGroup = (name: string, start: number, end: number): FeatureGroup => ({
  name,
  indices: rangeIndices(start, end),
  range: [start, end]
})

/** Build a `[models, features]` mask from "which models may feature j use". */
export const maskFromGroups = (
  features: number,
  models: ReadonlyArray<string>,
  allowed: ReadonlyArray<{ readonly group: FeatureGroup; readonly models: ReadonlyArray<string> }>
): Result.Result<Uint8Array, string> => {
  const M = models.length
  const mask = new Uint8Array(M * features)
  for (const { group, models: ms } of allowed) {
    for (const label of ms) {
      const m = models.indexOf(label)
      if (m < 0)
        return Result.fail(`group ${group.name} names model "${label}", which is not one of [${models.join(", ")}]`)
      for (const j of group.indices) mask[m * features + j] = 1
    }
  }
  return Result.succeed(mask)
}

/** Checks that groups are disjoint and cover `[0, features)` and that mask sizes match. */
export const validatePartition = (p: Partition): Result.Result<Partition, string> => {
  const seen = new Uint8Array(p.features)
  for (const g of p.groups) {
    for (const j of g.indices) {
      if (j < 0 || j >= p.features) return Result.fail(`group ${g.name} holds feature ${j}, outside [0, ${p.features})`)
      if (seen[j]) return Result.fail(`feature ${j} is in more than one group`)
      seen[j] = 1
    }
  }
  const missing = seen.indexOf(0)
  if (missing >= 0) return Result.fail(`feature ${missing} is in no group`)
  for (const [name, mask] of [
    ["encoderMask", p.encoderMask],
    ["decoderMask", p.decoderMask]
  ] as const) {
    if (mask !== undefined && mask.length !== p.models.length * p.features) {
      return Result.fail(
        `${name} has ${mask.length} entries, expected models × features = ${p.models.length * p.features}`
      )
    }
    if (mask !== undefined) {
      for (let j = 0; j < p.features; j++) {
        let any = 0
        for (let m = 0; m < p.models.length; m++) any |= mask[m * p.features + j]!
        if (!any) return Result.fail(`${name}: feature ${j} may use no model`)
      }
    }
  }
  return Result.succeed(p)
}

/** Features that every model may use in both encoder and decoder (the "shared" set). */
export const sharedFeatures = (p: Partition): Int32Array => {
  const out: Array<number> = []
  for (let j = 0; j < p.features; j++) {
    let ok = true
    for (let m = 0; m < p.models.length && ok; m++) {
      if (p.encoderMask !== undefined && !p.encoderMask[m * p.features + j]) ok = false
      if (p.decoderMask !== undefined && !p.decoderMask[m * p.features + j]) ok = false
    }
    if (ok) out.push(j)
  }
  return Int32Array.from(out)
}

/** Features model m may use (encoder or decoder allowed), the "A ∪ shared" set of the paper for A. */
export const modelFeatures = (p: Partition, m: number): Int32Array => {
  const out: Array<number> = []
  for (let j = 0; j < p.features; j++) {
    const e = p.encoderMask === undefined || p.encoderMask[m * p.features + j] === 1
    const d = p.decoderMask === undefined || p.decoderMask[m * p.features + j] === 1
    if (e || d) out.push(j)
  }
  return Int32Array.from(out)
}

// ---------------------------------------------------------------------------------------------
// built-in kinds

export interface NonePartitionSpec extends PartitionSpec {
  readonly kind: "none"
}

/** No partition: a plain crosscoder (every feature reads and writes every model). */
export const NonePartition = definePartitionKind<NonePartitionSpec>({
  kind: "none",
  schema: Schema.Struct({ kind: Schema.Literal("none") }),
  make: (spec, dims) =>
    Result.succeed({
      spec,
      features: dims.features,
      models: dims.models,
      groups: [rangeGroup("shared", 0, dims.features)],
      encoderMask: undefined,
      decoderMask: undefined
    })
})

export interface DfcPartitionSpec extends PartitionSpec {
  readonly kind: "dfc"
  /** Exclusive share per model, in model order (`n_m = floor(F · fraction)`). */
  readonly fractions?: ReadonlyArray<number>
  /** Exclusive count per model, in model order (alternative to `fractions`). */
  readonly counts?: ReadonlyArray<number>
}

/**
 * Dedicated Feature Crosscoder partition for M ≥ 1 models. Feature ids are contiguous:
 * model 0's exclusive block `[0, n_0)`, model 1's `[n_0, n_0 + n_1)`, …, then shared
 * `[Σ n_m, F)`. With two models A, B this is the paper's A `[0, nA)`, B `[nA, nA+nB)`, shared
 * rest. An exclusive feature of model m reads only model m and decodes only into model m.
 * All counts 0 (p = 0) gives the plain crosscoder, with no masks.
 */
export const DfcPartition = definePartitionKind<DfcPartitionSpec>({
  kind: "dfc",
  schema: Schema.Struct({
    kind: Schema.Literal("dfc"),
    fractions: Schema.optionalKey(Schema.Array(Schema.Finite)),
    counts: Schema.optionalKey(Schema.Array(Schema.Int))
  }),
  make: (spec, dims) => {
    const { features: F, models } = dims
    const M = models.length
    if ((spec.fractions === undefined) === (spec.counts === undefined)) {
      return Result.fail("dfc partition: give exactly one of `fractions` or `counts`")
    }
    let counts: Array<number>
    if (spec.fractions !== undefined) {
      if (spec.fractions.length !== M)
        return Result.fail(`dfc partition: ${spec.fractions.length} fractions for ${M} models`)
      for (const p of spec.fractions)
        if (!(p >= 0 && p <= 1)) return Result.fail(`dfc partition: fraction ${p} outside [0, 1]`)
      counts = spec.fractions.map((p) => Math.floor(F * p))
    } else {
      const cs = spec.counts!
      if (cs.length !== M) return Result.fail(`dfc partition: ${cs.length} counts for ${M} models`)
      for (const c of cs) if (!(c >= 0)) return Result.fail(`dfc partition: negative count ${c}`)
      counts = [...cs]
    }
    const total = counts.reduce((a, b) => a + b, 0)
    if (total > F) return Result.fail(`dfc partition: exclusive counts sum to ${total} > features ${F}`)
    if (M === 1 && counts[0]! > 0) return Result.fail("dfc partition: one model cannot have exclusive features")
    const groups: Array<FeatureGroup> = []
    let off = 0
    for (let m = 0; m < M; m++) {
      groups.push(rangeGroup(`exclusive:${models[m]}`, off, off + counts[m]!))
      off += counts[m]!
    }
    groups.push(rangeGroup("shared", off, F))
    let mask: Uint8Array | undefined
    if (total > 0) {
      mask = new Uint8Array(M * F)
      for (let m = 0; m < M; m++) {
        const g = groups[m]!
        for (let j = g.range![0]; j < g.range![1]; j++) mask[m * F + j] = 1
        for (let j = off; j < F; j++) mask[m * F + j] = 1
      }
    }
    return validatePartition({ spec, features: F, models, groups, encoderMask: mask, decoderMask: mask })
  }
})

/** `{ kind: "dfc", fractions }` for the common symmetric case (e.g. `dfc(0.1, 2)` → 10 % per model). */
export const dfcSpec = (fraction: number, models = 2): DfcPartitionSpec => ({
  kind: "dfc",
  fractions: Array.from({ length: models }, () => fraction)
})

export const BuiltinPartitionKinds: ReadonlyArray<PartitionKind<any>> = [NonePartition, DfcPartition]
