/**
 * Built-in interventions.
 *
 * Pair-dependent (need the `PairEncoder` service; the codes f come from encoding the clean
 * activations of ALL the crosscoder's models at the prompt position, e.g. `[h_A, h_B]`):
 * - {@link reconstruct}: replace the target model's activation by its crosscoder reconstruction
 *   x̂_target = decode(encode([h_A, h_B]))[target] (method.md §5.1).
 * - {@link steerFeatures}: h' = h + Σ_{i∈S} (α − 1) · f_i · W_dec[i, target] added to the CLEAN
 *   activation (method.md §5.3). α = 1 adds exactly 0; α = 0 removes the features.
 * - {@link clampFeatures} / {@link ablateFeatures}: set features to values (0 for ablation) while
 *   keeping the reconstruction error: h' = x̂(f') + (h − x̂(f)) = h + Σ_i (v_i − f_i) W_dec[i, target].
 *
 * Decoder rows are in RAW units (`Crosscoder.decoderDirection(i, s, "raw")`: the normalization
 * divisor folded in), so a delta lives in the residual stream's own units (normalized units when the
 * `PairEncoder` ignores normalization, as the paper's code did). Forbidden decoder rows
 * (e.g. a B-exclusive feature's row for model A) are exactly zero, so their delta is exactly zero.
 *
 * Positions: "lastPrompt" (default, the paper) and "prompt". "all" (generated tokens too) is
 * rejected with an `InterventionError`: during a single-model generation the partner model's
 * activation at a generated position does not exist (hooks do not see the sampled ids and cannot
 * run the other model), so a pair encoding cannot be formed there. For every-token pair steering
 * build the intervention with "prompt" and generate with `generateLockstep` / `lockstepModel`
 * (the whole growing sequence is re-encoded at each step). Single-model interventions work at every
 * position with ordinary generation:
 * - {@link addDirection}: h' = h + c · v for a fixed vector (e.g. a decoder row: {@link featureDirection});
 *   {@link addFeatureDirection} takes the row and the site from the `PairEncoder`.
 * - {@link projectOut}: h' = h − (h·û) û, removing the component along a direction.
 */
import {
  addVectorHook,
  type Hook,
  type HookSite,
  type Intervention,
  type ModelInputError,
  Positions,
  siteKey,
  TensorBackend
} from "@crosscode/core"
import type { Crosscoder } from "@crosscode/crosscoder"
import { Effect } from "effect"
import { InterventionError } from "../errors.js"
import { type PositionMode, realColumns, rowMask, whenFor } from "../positions.js"
import type { TF } from "../tf.js"
import type { SparseCodes } from "./codes.js"
import { PairEncoder, type PairEncoderShape, type PromptEncoding } from "./PairEncoder.js"

// ---------------------------------------------------------------------------------------------
// pure pieces (exported for tests and custom interventions)

/** Units of decoder rows: "raw" (normalization divisor folded in) or "normalized" (the stored weights). */
export type DirectionSpace = "raw" | "normalized"

/** Decoder row of `feature` for `source`, cached per call site. */
const directionCache = (crosscoder: Crosscoder, source: number, space: DirectionSpace) => {
  const cache = new Map<number, Float32Array>()
  return (feature: number): Float32Array => {
    let v = cache.get(feature)
    if (v === undefined) {
      v = crosscoder.decoderDirection(feature, source, space)
      cache.set(feature, v)
    }
    return v
  }
}

const checkFeature = (crosscoder: Crosscoder, feature: number, who: string): string | undefined =>
  Number.isInteger(feature) && feature >= 0 && feature < crosscoder.features
    ? undefined
    : `${who}: feature ${feature} is not an integer in [0, ${crosscoder.features})`

/**
 * Σ_{i∈S} (α − 1) · f[r, i] · W_dec[i, source] (raw units by default) for every code row r:
 * `[rows * d]` (float32). Features absent from a row (not in its top-k) contribute nothing.
 */
export const steeringDelta = (
  crosscoder: Crosscoder,
  codes: SparseCodes,
  source: number,
  features: ReadonlyArray<number>,
  alpha: number,
  space: DirectionSpace = "raw"
): Float32Array => {
  const d = crosscoder.dim
  const dir = directionCache(crosscoder, source, space)
  const wanted = new Set(features)
  const acc = new Float64Array(codes.rows * d)
  for (let r = 0; r < codes.rows; r++) {
    for (let k = codes.rowPtr[r]!; k < codes.rowPtr[r + 1]!; k++) {
      const i = codes.index[k]!
      if (!wanted.has(i)) continue
      const scale = (alpha - 1) * codes.value[k]!
      const v = dir(i)
      for (let j = 0; j < d; j++) acc[r * d + j] = acc[r * d + j]! + scale * v[j]!
    }
  }
  return Float32Array.from(acc)
}

/** Σ_i (v_i − f[r, i]) · W_dec_raw[i, source]: `[rows * d]`, the error-preserving clamp delta. */
export const clampDelta = (
  crosscoder: Crosscoder,
  codes: SparseCodes,
  source: number,
  clamps: ReadonlyArray<{ readonly feature: number; readonly value: number }>,
  space: DirectionSpace = "raw"
): Float32Array => {
  const d = crosscoder.dim
  const dir = directionCache(crosscoder, source, space)
  const acc = new Float64Array(codes.rows * d)
  const current = new Float64Array(clamps.length)
  for (let r = 0; r < codes.rows; r++) {
    current.fill(0)
    for (let k = codes.rowPtr[r]!; k < codes.rowPtr[r + 1]!; k++) {
      const at = clamps.findIndex((c) => c.feature === codes.index[k])
      if (at >= 0) current[at] = codes.value[k]!
    }
    clamps.forEach((c, ci) => {
      const scale = c.value - current[ci]!
      if (scale === 0) return
      const v = dir(c.feature)
      for (let j = 0; j < d; j++) acc[r * d + j] = acc[r * d + j]! + scale * v[j]!
    })
  }
  return Float32Array.from(acc)
}

/**
 * The decoder row of `feature` for a model (its first source unless `source` is given), in raw
 * units by default; `unit: true` scales it to norm 1. Throws a RangeError for a bad feature/model.
 */
export const featureDirection = (
  crosscoder: Crosscoder,
  feature: number,
  model: string,
  options: { readonly source?: number; readonly space?: "raw" | "normalized"; readonly unit?: boolean } = {}
): Float32Array => {
  const sources = crosscoder.config.architecture.sources.flatMap((s, i) => (s.model === model ? [i] : []))
  const source = options.source ?? sources[0]
  if (source === undefined || !sources.includes(source)) {
    throw new RangeError(
      `featureDirection: model "${model}" has no source ${options.source ?? ""} (models: ${crosscoder.models.join(", ")})`
    )
  }
  const bad = checkFeature(crosscoder, feature, "featureDirection")
  if (bad !== undefined) throw new RangeError(bad)
  const v = crosscoder.decoderDirection(feature, source, options.space ?? "raw")
  if (options.unit === true) {
    let n = 0
    for (const x of v) n += x * x
    n = Math.sqrt(n)
    if (n > 0) for (let i = 0; i < v.length; i++) v[i] = v[i]! / n
  }
  return v
}

// ---------------------------------------------------------------------------------------------
// hooks

/**
 * A prefill hook that adds (or writes) `values` (`[n, d]`) at the prompt tokens `tokenIndex` of batch
 * row `row`. Throws (→ ModelInputError) when the row does not hold a prompt of `promptLength` tokens.
 */
export const tokenPatchHook = (
  tf: TF,
  site: HookSite,
  spec: {
    readonly row: number
    readonly promptLength: number
    readonly tokenIndex: Int32Array
    readonly values: Float32Array
    readonly mode: "add" | "replace"
    readonly label: string
  }
): Hook => ({
  site,
  when: "prefill",
  run: (h, ctx) => {
    const [B, T, H] = h.shape
    const cols = realColumns(ctx, spec.row)
    if (cols.length !== spec.promptLength) {
      throw new Error(
        `${spec.label}: built for a prompt of ${spec.promptLength} tokens, but batch row ${spec.row} has ${cols.length} real tokens in this pass`
      )
    }
    const n = spec.tokenIndex.length
    if (spec.values.length !== n * H)
      throw new Error(`${spec.label}: ${spec.values.length} values for ${n} positions of width ${H}`)
    const idx = new Int32Array(2 * n)
    for (let k = 0; k < n; k++) {
      idx[2 * k] = spec.row
      idx[2 * k + 1] = cols[spec.tokenIndex[k]!]!
    }
    const scattered = tf.scatterND(tf.tensor2d(idx, [n, 2], "int32"), tf.tensor2d(spec.values, [n, H]), [B, T, H])
    if (spec.mode === "add") return tf.add(h, scattered) as typeof h
    const keep = new Float32Array(B * T).fill(1)
    for (let k = 0; k < n; k++) keep[idx[2 * k]! * T + idx[2 * k + 1]!] = 0
    return tf.add(tf.mul(h, tf.tensor3d(keep, [B, T, 1])), scattered) as typeof h
  }
})

// ---------------------------------------------------------------------------------------------
// pair-dependent interventions

export type PairPositions = "lastPrompt" | "prompt"

export interface PairOptions {
  /** The model generated from (a crosscoder model label, e.g. "A"). */
  readonly target: string
  /** Default "lastPrompt" (the paper). "all" is rejected (see the module doc). */
  readonly positions?: PositionMode
  /** Record name (default derived from the settings). */
  readonly name?: string
}

type PairValues = { readonly mode: "add" | "replace"; readonly values: Float32Array }

const pairIntervention = (
  kind: string,
  name: string,
  options: PairOptions,
  settings: Readonly<Record<string, unknown>>,
  compute: (pe: PairEncoderShape, enc: PromptEncoding, source: number) => Effect.Effect<PairValues, InterventionError>,
  check: (pe: PairEncoderShape) => string | undefined
): Intervention<InterventionError | ModelInputError, PairEncoder> => {
  const positions = options.positions ?? "lastPrompt"
  return {
    name,
    settings: { kind, target: options.target, positions, ...settings },
    hooks: (request) =>
      Effect.gen(function* () {
        const fail = (message: string) => new InterventionError({ intervention: name, message })
        if (positions === "all") {
          return yield* fail(
            `positions "all" (every token including generated ones) is not supported by ${kind}: it needs the partner model's activation at each generated position, which a single-model generation does not have. Use "lastPrompt" or "prompt", or a single-model intervention (addDirection, projectOut).`
          )
        }
        if (positions !== "lastPrompt" && positions !== "prompt")
          return yield* fail(`unknown positions "${String(positions)}"`)
        const pe = yield* PairEncoder
        const sources = pe.sourcesOf(options.target)
        if (sources.length === 0)
          return yield* fail(`target "${options.target}" is not a crosscoder model (models: ${pe.models.join(", ")})`)
        const bad = check(pe)
        if (bad !== undefined) return yield* fail(bad)
        const row = request.row ?? 0
        const enc = yield* pe.encodePrompt(request.promptIds, positions === "lastPrompt" ? "last" : "prompt")
        const hooks: Array<Hook> = []
        for (const s of sources) {
          const { mode, values } = yield* compute(pe, enc, s)
          hooks.push(
            tokenPatchHook(pe.crosscoder.tf, pe.sites[s]!, {
              row,
              promptLength: enc.promptLength,
              tokenIndex: enc.tokenIndex,
              values,
              mode,
              label: name
            })
          )
        }
        return hooks
      })
  }
}

const suffix = (positions: PositionMode | undefined) =>
  positions === undefined || positions === "lastPrompt" ? "" : `@${positions}`

const featureList = (features: ReadonlyArray<number>): string =>
  features.length <= 8 ? features.join(".") : `${features.slice(0, 4).join(".")}…(${features.length})`

/** Encode–decode reconstruction of the target model's activation, patched in place of it. */
export const reconstruct = (options: PairOptions): Intervention<InterventionError | ModelInputError, PairEncoder> =>
  pairIntervention(
    "reconstruct",
    options.name ?? `recon-${options.target}${suffix(options.positions)}`,
    options,
    {},
    (pe, enc, source) =>
      Effect.map(pe.decodeSource(enc.codes, source), (values) => ({ mode: "replace" as const, values })),
    () => undefined
  )

const checkFeatures = (features: ReadonlyArray<number>, who: string) => (pe: PairEncoderShape) => {
  const seen = new Set<number>()
  for (const f of features) {
    const bad = checkFeature(pe.crosscoder, f, who)
    if (bad !== undefined) return bad
    if (seen.has(f)) return `${who}: feature ${f} is listed twice`
    seen.add(f)
  }
  return undefined
}

/**
 * Targeted feature steering: h' = h + Σ_{i∈S} (α − 1) · f_i · W_dec[i, target], with f the codes of
 * the pair at the position, added to the clean activation.
 */
export const steerFeatures = (
  options: PairOptions & { readonly features: ReadonlyArray<number>; readonly alpha: number }
): Intervention<InterventionError | ModelInputError, PairEncoder> => {
  const name =
    options.name ??
    `steer-${options.target}-a${options.alpha}-f${featureList(options.features)}${suffix(options.positions)}`
  return pairIntervention(
    "steerFeatures",
    name,
    options,
    { features: [...options.features], alpha: options.alpha },
    (pe, enc, source) =>
      Effect.sync(() => ({
        mode: "add" as const,
        values: steeringDelta(pe.crosscoder, enc.codes, source, options.features, options.alpha, pe.space)
      })),
    (pe) =>
      Number.isFinite(options.alpha)
        ? checkFeatures(options.features, name)(pe)
        : `${name}: alpha ${options.alpha} is not finite`
  )
}

/** Sets features to fixed code values, keeping the reconstruction error (h + Σ (v_i − f_i) W_dec[i, target]). */
export const clampFeatures = (
  options: PairOptions & { readonly clamps: ReadonlyArray<{ readonly feature: number; readonly value: number }> }
): Intervention<InterventionError | ModelInputError, PairEncoder> => {
  const name =
    options.name ??
    `clamp-${options.target}-${options.clamps.map((c) => `f${c.feature}=${c.value}`).join(",")}${suffix(options.positions)}`
  return pairIntervention(
    "clampFeatures",
    name,
    options,
    { clamps: options.clamps.map((c) => ({ feature: c.feature, value: c.value })) },
    (pe, enc, source) =>
      Effect.sync(() => ({
        mode: "add" as const,
        values: clampDelta(pe.crosscoder, enc.codes, source, options.clamps, pe.space)
      })),
    (pe) => {
      for (const c of options.clamps)
        if (!Number.isFinite(c.value)) return `${name}: clamp value ${c.value} for feature ${c.feature} is not finite`
      return checkFeatures(
        options.clamps.map((c) => c.feature),
        name
      )(pe)
    }
  )
}

/** One feature clamped to `value`. */
export const clampFeature = (options: PairOptions & { readonly feature: number; readonly value: number }) =>
  clampFeatures({ ...options, clamps: [{ feature: options.feature, value: options.value }] })

/** Features set to 0, keeping the reconstruction error. */
export const ablateFeatures = (options: PairOptions & { readonly features: ReadonlyArray<number> }) =>
  clampFeatures({
    ...options,
    name: options.name ?? `ablate-${options.target}-f${featureList(options.features)}${suffix(options.positions)}`,
    clamps: options.features.map((feature) => ({ feature, value: 0 }))
  })

/** One feature set to 0. */
export const ablateFeature = (options: PairOptions & { readonly feature: number }) =>
  ablateFeatures({ ...options, features: [options.feature] })

// ---------------------------------------------------------------------------------------------
// single-model interventions

const vectorNorm = (v: ArrayLike<number>) => {
  let n = 0
  for (let i = 0; i < v.length; i++) n += v[i]! * v[i]!
  return Math.sqrt(n)
}

/**
 * Adds `coefficient · vector` at the site (default every position including generated ones, the
 * golden steering convention). Works on any model; no crosscoder needed.
 */
export const addDirection = (options: {
  readonly site: HookSite
  readonly vector: ArrayLike<number>
  readonly coefficient?: number
  readonly positions?: PositionMode
  readonly name?: string
}): Intervention<InterventionError> => {
  const positions = options.positions ?? "all"
  const coefficient = options.coefficient ?? 1
  const vector = Float32Array.from(options.vector)
  const name =
    options.name ?? `add-${siteKey(options.site)}-c${coefficient}${positions === "all" ? "" : `@${positions}`}`
  return {
    name,
    settings: {
      kind: "addDirection",
      site: siteKey(options.site),
      coefficient,
      positions,
      dim: vector.length,
      vectorNorm: vectorNorm(vector)
    },
    hooks: (request) => {
      if (!Number.isFinite(coefficient))
        return Effect.fail(
          new InterventionError({ intervention: name, message: `coefficient ${coefficient} is not finite` })
        )
      if (!vector.every(Number.isFinite))
        return Effect.fail(new InterventionError({ intervention: name, message: "vector has a non-finite entry" }))
      const row = request.row ?? 0
      return Effect.succeed([
        addVectorHook(
          options.site,
          vector,
          Positions.mask((ctx) => rowMask(positions, ctx, row)),
          whenFor(positions),
          coefficient
        )
      ])
    }
  }
}

/**
 * Adds `coefficient · W_dec[feature, target]` (raw units; `unit: true` for the unit-norm row) at the
 * target's site from the `PairEncoder` — a fixed decoder direction, independent of the prompt's
 * codes, so it works at every position (default "all").
 */
export const addFeatureDirection = (options: {
  readonly target: string
  readonly feature: number
  readonly coefficient: number
  readonly unit?: boolean
  readonly positions?: PositionMode
  readonly name?: string
}): Intervention<InterventionError, PairEncoder> => {
  const positions = options.positions ?? "all"
  const name =
    options.name ??
    `add-f${options.feature}-${options.target}-c${options.coefficient}${options.unit === true ? "-unit" : ""}${positions === "all" ? "" : `@${positions}`}`
  return {
    name,
    settings: {
      kind: "addFeatureDirection",
      target: options.target,
      feature: options.feature,
      coefficient: options.coefficient,
      unit: options.unit === true,
      positions
    },
    hooks: (request) =>
      Effect.gen(function* () {
        const pe = yield* PairEncoder
        const sources = pe.sourcesOf(options.target)
        const fail = (message: string) => new InterventionError({ intervention: name, message })
        if (sources.length === 0)
          return yield* fail(`target "${options.target}" is not a crosscoder model (models: ${pe.models.join(", ")})`)
        const bad = checkFeature(pe.crosscoder, options.feature, name)
        if (bad !== undefined) return yield* fail(bad)
        const hooks: Array<Hook> = []
        for (const source of sources) {
          const vector = featureDirection(pe.crosscoder, options.feature, options.target, {
            source,
            space: pe.space,
            ...(options.unit === true ? { unit: true } : {})
          })
          hooks.push(
            ...(yield* addDirection({
              site: pe.sites[source]!,
              vector,
              coefficient: options.coefficient,
              positions,
              name
            }).hooks(request))
          )
        }
        return hooks
      })
  }
}

/** Removes the component along `direction`: h' = h − (h·û) û at the selected positions (default all). */
export const projectOut = (options: {
  readonly site: HookSite
  readonly direction: ArrayLike<number>
  readonly positions?: PositionMode
  readonly name?: string
}): Intervention<InterventionError, TensorBackend> => {
  const positions = options.positions ?? "all"
  const norm = vectorNorm(options.direction)
  const unit = Float32Array.from(options.direction, (x) => x / norm)
  const name = options.name ?? `project-out-${siteKey(options.site)}${positions === "all" ? "" : `@${positions}`}`
  return {
    name,
    settings: { kind: "projectOut", site: siteKey(options.site), positions, dim: unit.length },
    hooks: (request) =>
      Effect.gen(function* () {
        if (!(norm > 0) || !Number.isFinite(norm)) {
          return yield* new InterventionError({
            intervention: name,
            message: `direction has norm ${norm}; it must be finite and non-zero`
          })
        }
        const { tf } = yield* TensorBackend
        const row = request.row ?? 0
        const hook: Hook = {
          site: options.site,
          when: whenFor(positions),
          run: (h, ctx) => {
            const [B, T, H] = h.shape
            if (H !== unit.length)
              throw new Error(`${name}: direction has length ${unit.length}, activation width is ${H}`)
            const mask = rowMask(positions, ctx, row)
            if (!mask.some((m) => m !== 0)) return undefined
            const u = tf.tensor1d(unit)
            const coef = tf.mul(tf.sum(tf.mul(h, u), -1, true), tf.tensor3d(mask, [B, T, 1]))
            return tf.sub(h, tf.mul(coef, u)) as typeof h
          }
        }
        return [hook]
      })
  }
}
