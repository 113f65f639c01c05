/**
 * The generic crosscoder over S sources (M models, optionally several sites each):
 *
 *   W_enc [S, d, F], b_enc [F], W_dec [F, S, d], b_dec [S, d]
 *   pre   = Σ_s x̃_s W_enc[s] + b_enc                 (one matmul on the [B, S·d] concatenation)
 *   f     = sparsity(pre)                            (a SparsityScheme plugin)
 *   x̂_s  = f W_dec[:, s, :] + b_dec[s]               (per source)
 *
 * A plain SAE is S = 1. A partition plugin (e.g. DFC) decides which features may read/write which
 * model; forbidden weights are exactly zero and the forward pass uses masked weights.
 *
 * Raw vs normalized space: see `Normalization.ts`. `encode`, `decode`, `reconstruct` work on raw
 * activations; the `*Normalized` variants on the space the weights were trained in.
 */
import { Rng, TensorBackend } from "@crosscode/core"
import { Effect, Result, Schema } from "effect"
import { CrosscoderConfigError, CrosscoderInputError } from "../errors.js"
import type { Partition, PartitionSpec } from "../partition/Partition.js"
import { PartitionRegistry, SparsityRegistry } from "../registry.js"
import type { SparsityContext, SparsityDims, SparsityScheme, SparsitySpec } from "../sparsity/SparsityScheme.js"
import type { Tensor, Tensor2D, Tensor3D, TF } from "../tf.js"
import { identityNormalization, type Normalization } from "./Normalization.js"
import { ForbiddenSet, Param } from "./Param.js"

export interface SourceLabel {
  readonly model: string
  readonly site: string
}

export interface CrosscoderArchitecture {
  /** One entry per source, in the order of the activation rows (`[numSources, dim]`). */
  readonly sources: ReadonlyArray<SourceLabel>
  readonly dim: number
  /** Dictionary size F. */
  readonly features: number
}

/**
 * `paper`: W_enc ~ N(0, 1/d), W_dec ~ N(0, 1/F), independent, biases 0 (2606.26474 `dfc.py`).
 * `tied`: random unit directions per (source, feature) scaled to `columnNorm` (default 1) for the
 * encoder, decoder = encoder transpose (reference dictionary_learning crosscoder).
 */
export type InitSpec = { readonly kind: "paper" } | { readonly kind: "tied"; readonly columnNorm?: number }

export interface CrosscoderConfig {
  readonly architecture: CrosscoderArchitecture
  readonly sparsity: SparsitySpec
  readonly partition: PartitionSpec
  /** Default `{ kind: "paper" }`. */
  readonly init?: InitSpec
}

const Spec = Schema.StructWithRest(Schema.Struct({ kind: Schema.String }), [
  Schema.Record(Schema.String, Schema.Unknown)
])

/** Decodes a JSON crosscoder config (plugin specs are checked later by their kinds). */
export const CrosscoderConfigSchema = Schema.Struct({
  architecture: Schema.Struct({
    sources: Schema.Array(Schema.Struct({ model: Schema.String, site: Schema.String })),
    dim: Schema.Int,
    features: Schema.Int
  }),
  sparsity: Spec,
  partition: Spec,
  init: Schema.optionalKey(
    Schema.Union([
      Schema.Struct({ kind: Schema.Literal("paper") }),
      Schema.Struct({ kind: Schema.Literal("tied"), columnNorm: Schema.optionalKey(Schema.Finite) })
    ])
  )
})

/** Distinct model labels in order of first appearance, and each source's model index. */
export const modelsOf = (sources: ReadonlyArray<SourceLabel>): { models: Array<string>; sourceModel: Int32Array } => {
  const models: Array<string> = []
  const sourceModel = new Int32Array(sources.length)
  sources.forEach((s, i) => {
    let m = models.indexOf(s.model)
    if (m < 0) {
      m = models.length
      models.push(s.model)
    }
    sourceModel[i] = m
  })
  return { models, sourceModel }
}

/** Sources for M models at one site: `[{ model: "A", site }, { model: "B", site }]` etc. */
export const sourcesFor = (models: ReadonlyArray<string>, site = "x"): Array<SourceLabel> =>
  models.map((model) => ({ model, site }))

const shapeError = (message: string) => new CrosscoderInputError({ message })

export interface CrosscoderParts {
  readonly tf: TF
  readonly config: CrosscoderConfig
  readonly sparsity: SparsityScheme
  readonly partition: Partition
  readonly normalization: Normalization
  /** `W_enc`, `b_enc`, `W_dec`, `b_dec` and `sparsity.<name>` for each scheme parameter. */
  readonly arrays: Readonly<Record<string, Float32Array>>
  readonly trainedSteps?: number
}

export class Crosscoder {
  readonly tf: TF
  readonly config: CrosscoderConfig
  readonly sparsity: SparsityScheme
  readonly partition: Partition
  readonly normalization: Normalization
  readonly models: ReadonlyArray<string>
  /** Model index of each source. */
  readonly sourceModel: Int32Array
  readonly W_enc: Param
  readonly b_enc: Param
  readonly W_dec: Param
  readonly b_dec: Param
  /** Scheme parameters, keyed by the scheme's own names. */
  readonly schemeParams: ReadonlyMap<string, Param>
  /** Steps this crosscoder was trained for (saved in checkpoints). */
  trainedSteps: number

  private normsCache: { version: number; host: Float32Array; tensor: Tensor2D | undefined } | undefined = undefined
  private normTensors: { mean: Tensor; divisor: Tensor } | undefined = undefined

  private constructor(parts: CrosscoderParts) {
    const { tf, config } = parts
    const { sources, dim: d, features: F } = config.architecture
    const S = sources.length
    this.tf = tf
    this.config = config
    this.sparsity = parts.sparsity
    this.partition = parts.partition
    this.normalization = parts.normalization
    const { models, sourceModel } = modelsOf(sources)
    this.models = models
    this.sourceModel = sourceModel
    const encF = ForbiddenSet.fromMask("encoder", parts.partition.encoderMask, sourceModel, d, F)
    const decF = ForbiddenSet.fromMask("decoder", parts.partition.decoderMask, sourceModel, d, F)
    const a = parts.arrays
    this.W_enc = new Param(tf, "W_enc", [S, d, F], a.W_enc!, true, encF)
    this.b_enc = new Param(tf, "b_enc", [F], a.b_enc!)
    this.W_dec = new Param(tf, "W_dec", [F, S, d], a.W_dec!, true, decF)
    this.b_dec = new Param(tf, "b_dec", [S, d], a.b_dec!)
    const sp = new Map<string, Param>()
    for (const p of parts.sparsity.params) {
      sp.set(p.name, new Param(tf, `sparsity.${p.name}`, p.shape, a[`sparsity.${p.name}`]!, p.trainable ?? true))
    }
    this.schemeParams = sp
    this.trainedSteps = parts.trainedSteps ?? 0
  }

  /**
   * Assemble from resolved plugins and arrays (checkpoint loading, converters). Arrays are used
   * as is (not copied); missing scheme parameters are initialised by the scheme.
   */
  static fromParts(parts: CrosscoderParts): Result.Result<Crosscoder, string> {
    const { sources, dim: d, features: F } = parts.config.architecture
    const S = sources.length
    if (S < 1 || !Number.isInteger(d) || d < 1 || !Number.isInteger(F) || F < 1) {
      return Result.fail(`architecture needs ≥ 1 source and positive integer dim/features (got S=${S}, d=${d}, F=${F})`)
    }
    const { models } = modelsOf(sources)
    if (parts.partition.features !== F || parts.partition.models.join("\u0000") !== models.join("\u0000")) {
      return Result.fail(
        `partition was resolved for ${parts.partition.features} features and models [${parts.partition.models.join(", ")}], the architecture has ${F} and [${models.join(", ")}]`
      )
    }
    const expected: Record<string, number> = { W_enc: S * d * F, b_enc: F, W_dec: F * S * d, b_dec: S * d }
    const arrays: Record<string, Float32Array> = { ...parts.arrays }
    const dims: SparsityDims = { features: F, sources: S, dim: d }
    for (const p of parts.sparsity.params) {
      const key = `sparsity.${p.name}`
      if (arrays[key] === undefined) arrays[key] = p.init(dims)
      expected[key] = p.shape.reduce((x, y) => x * y, 1)
    }
    for (const [k, n] of Object.entries(expected)) {
      const v = arrays[k]
      if (v === undefined) return Result.fail(`missing parameter ${k}`)
      if (v.length !== n) return Result.fail(`parameter ${k} has ${v.length} values, expected ${n}`)
    }
    const nd = parts.normalization
    if (nd.mean.length !== S * d || nd.divisor.length !== S * d) {
      return Result.fail(`normalization has ${nd.mean.length}/${nd.divisor.length} values, expected S·d = ${S * d}`)
    }
    return Result.succeed(new Crosscoder({ ...parts, arrays }))
  }

  get numSources(): number {
    return this.config.architecture.sources.length
  }
  get dim(): number {
    return this.config.architecture.dim
  }
  get features(): number {
    return this.config.architecture.features
  }
  /** S·d, the width of a flattened row. */
  get width(): number {
    return this.numSources * this.dim
  }

  /** W_enc, b_enc, W_dec, b_dec, then scheme parameters (the optimizer's order). */
  allParams(): Array<Param> {
    return [this.W_enc, this.b_enc, this.W_dec, this.b_dec, ...this.schemeParams.values()]
  }

  /** `[F * S]` decoder row norms ‖W_dec[j, s, :]‖ (masked weights; cached until W_dec changes). */
  decoderNorms(): Float32Array {
    return this.normsEntry().host
  }

  /** `[F, S]` tensor of `decoderNorms()` (owned by the crosscoder; do not dispose). */
  decoderNormsTensor(): Tensor2D {
    const e = this.normsEntry()
    if (e.tensor === undefined) e.tensor = this.tf.keep(this.tf.tensor2d(e.host, [this.features, this.numSources]))
    return e.tensor
  }

  private normsEntry() {
    if (this.normsCache === undefined || this.normsCache.version !== this.W_dec.version) {
      this.normsCache?.tensor?.dispose()
      const { features: F, numSources: S, dim: d } = this
      const w = this.W_dec.data
      const host = new Float32Array(F * S)
      const allowed = this.partition.decoderMask
      for (let j = 0; j < F; j++) {
        for (let s = 0; s < S; s++) {
          if (allowed !== undefined && allowed[this.sourceModel[s]! * F + j] === 0) continue
          let acc = 0
          const base = (j * S + s) * d
          for (let i = 0; i < d; i++) acc += w[base + i]! * w[base + i]!
          host[j * S + s] = Math.sqrt(acc)
        }
      }
      this.normsCache = { version: this.W_dec.version, host, tensor: undefined }
    }
    return this.normsCache
  }

  /** The sparsity context for `step` (inference: `trainedSteps`). */
  sparsityContext(step = this.trainedSteps): SparsityContext {
    const params: Record<string, Tensor> = {}
    for (const [name, p] of this.schemeParams) params[name] = p.tensor()
    return {
      tf: this.tf,
      decoderNorms: this.sparsity.usesDecoderNorms ? this.decoderNormsTensor() : undefined,
      params,
      step
    }
  }

  // ---------------------------------------------------------------- normalized space

  /** `[B, S·d]` normalized → `[B, F]` pre-activations Σ_s x̃_s W_enc[s] + b_enc. */
  preActivations(x: Tensor2D): Tensor2D {
    const tf = this.tf
    return tf.tidy(
      () =>
        tf.add(
          tf.matMul(x, this.W_enc.tensor([this.width, this.features]) as Tensor2D),
          this.b_enc.tensor()
        ) as Tensor2D
    )
  }

  /** `[B, S·d]` normalized → `[B, F]` codes (inference rule of the sparsity scheme). */
  encodeNormalized(x: Tensor2D): Tensor2D {
    this.checkRows(x, "encodeNormalized")
    return this.tf.tidy(() => this.sparsity.infer(this.preActivations(x), this.sparsityContext()))
  }

  /** `[B, F]` codes → `[B, S·d]` normalized reconstruction. */
  decodeNormalized(codes: Tensor2D): Tensor2D {
    this.checkCodes(codes, "decodeNormalized")
    const tf = this.tf
    return tf.tidy(
      () =>
        tf.add(
          tf.matMul(codes, this.W_dec.tensor([this.features, this.width]) as Tensor2D),
          this.b_dec.tensor([this.width])
        ) as Tensor2D
    )
  }

  // ---------------------------------------------------------------- raw space

  private normalizationTensors() {
    if (this.normTensors === undefined) {
      this.normTensors = {
        mean: this.tf.keep(this.tf.tensor1d(this.normalization.mean)),
        divisor: this.tf.keep(this.tf.tensor1d(this.normalization.divisor))
      }
    }
    return this.normTensors
  }

  /** Raw `[B, S, d]` or `[B, S·d]` → normalized `[B, S·d]`. */
  normalize(x: Tensor): Tensor2D {
    const flat = this.flatRows(x, "normalize")
    if (this.normalization.mode === "none") return flat
    const t = this.normalizationTensors()
    return this.tf.tidy(() => this.tf.div(this.tf.sub(flat, t.mean), t.divisor) as Tensor2D)
  }

  /** Normalized `[B, S·d]` → raw `[B, S·d]`. */
  denormalize(x: Tensor2D): Tensor2D {
    if (this.normalization.mode === "none") return this.tf.clone(x)
    const t = this.normalizationTensors()
    return this.tf.tidy(() => this.tf.add(this.tf.mul(x, t.divisor), t.mean) as Tensor2D)
  }

  /** Raw activations `[B, S, d]` (or `[B, S·d]`) → codes `[B, F]`. Throws `CrosscoderInputError` on bad shapes. */
  encode(x: Tensor): Tensor2D {
    return this.tf.tidy(() => this.encodeNormalized(this.normalize(x)))
  }

  /** Codes `[B, F]` → raw reconstruction `[B, S, d]`. */
  decode(codes: Tensor2D): Tensor3D {
    return this.tf.tidy(
      () =>
        this.tf.reshape(this.denormalize(this.decodeNormalized(codes)), [
          codes.shape[0],
          this.numSources,
          this.dim
        ]) as Tensor3D
    )
  }

  /** Raw `[B, S, d]` → raw reconstruction `[B, S, d]`. */
  reconstruct(x: Tensor): Tensor3D {
    return this.tf.tidy(() => this.decode(this.encode(x)))
  }

  /**
   * The decoder row of `feature` for `source` (`[d]`): in normalized units, or in raw units
   * (multiplied by the divisor; the mean is not added since a direction is a difference).
   */
  decoderDirection(feature: number, source: number, space: "raw" | "normalized" = "raw"): Float32Array {
    if (!(feature >= 0 && feature < this.features && source >= 0 && source < this.numSources)) {
      throw shapeError(
        `decoderDirection: feature ${feature} / source ${source} out of range (F=${this.features}, S=${this.numSources})`
      )
    }
    const { dim: d, numSources: S } = this
    const out = this.W_dec.data.slice((feature * S + source) * d, (feature * S + source + 1) * d)
    const allowed = this.partition.decoderMask
    if (allowed !== undefined && allowed[this.sourceModel[source]! * this.features + feature] === 0) out.fill(0)
    if (space === "raw") for (let i = 0; i < d; i++) out[i] = out[i]! * this.normalization.divisor[source * d + i]!
    return out
  }

  /** Largest |forbidden weight| in the encoder and decoder (0 when the partition holds). */
  integrity(): { readonly encoderMaxForbidden: number; readonly decoderMaxForbidden: number } {
    return {
      encoderMaxForbidden: this.W_enc.forbidden?.maxAbs(this.W_enc.data) ?? 0,
      decoderMaxForbidden: this.W_dec.forbidden?.maxAbs(this.W_dec.data) ?? 0
    }
  }

  /**
   * A crosscoder with the normalization folded into the weights: it takes and returns raw
   * activations with mode "none" and gives the same codes and reconstructions as this one.
   * Folding a crosscoder without normalization (or an already folded one) returns it unchanged.
   */
  foldNormalization(): Result.Result<Crosscoder, string> {
    const norm = this.normalization
    if (norm.mode === "none") return Result.succeed(this)
    const { numSources: S, dim: d, features: F } = this
    const We = this.W_enc.data
    const Wd = this.W_dec.data
    const We2 = new Float32Array(We.length)
    const be2 = new Float64Array(this.b_enc.data)
    for (let r = 0; r < S * d; r++) {
      const inv = 1 / norm.divisor[r]!
      const shift = norm.mean[r]! * inv
      const base = r * F
      for (let j = 0; j < F; j++) {
        const w = We[base + j]! * inv
        We2[base + j] = w
        be2[j] = be2[j]! - shift * We[base + j]!
      }
    }
    const Wd2 = new Float32Array(Wd.length)
    for (let j = 0; j < F; j++) {
      const base = j * S * d
      for (let r = 0; r < S * d; r++) Wd2[base + r] = Wd[base + r]! * norm.divisor[r]!
    }
    const bd2 = new Float32Array(S * d)
    for (let r = 0; r < S * d; r++) bd2[r] = this.b_dec.data[r]! * norm.divisor[r]! + norm.mean[r]!
    const arrays: Record<string, Float32Array> = {
      W_enc: We2,
      b_enc: Float32Array.from(be2),
      W_dec: Wd2,
      b_dec: bd2
    }
    let sparsity = this.sparsity
    let sparsitySpec = this.config.sparsity
    const current: Record<string, Float32Array> = {}
    for (const [name, p] of this.schemeParams) current[name] = p.data.slice()
    if (this.sparsity.fold !== undefined) {
      const folded = this.sparsity.fold(this.decoderNorms(), current)
      if (Result.isFailure(folded)) return Result.fail(folded.failure)
      sparsity = folded.success.scheme
      sparsitySpec = sparsity.spec
      for (const [name, v] of Object.entries(folded.success.params)) arrays[`sparsity.${name}`] = v
    } else {
      for (const [name, v] of Object.entries(current)) arrays[`sparsity.${name}`] = v
    }
    return Crosscoder.fromParts({
      tf: this.tf,
      config: { ...this.config, sparsity: sparsitySpec },
      sparsity,
      partition: this.partition,
      normalization: { ...identityNormalization(S, d), foldedFrom: norm.mode, count: norm.count },
      arrays,
      trainedSteps: this.trainedSteps
    })
  }

  /** Free the backend tensors (host arrays stay usable). */
  dispose(): void {
    for (const p of this.allParams()) p.dispose()
    this.normsCache?.tensor?.dispose()
    this.normsCache = undefined
    if (this.normTensors !== undefined) {
      this.normTensors.mean.dispose()
      this.normTensors.divisor.dispose()
      this.normTensors = undefined
    }
  }

  // ---------------------------------------------------------------- checks

  private flatRows(x: Tensor, who: string): Tensor2D {
    const { numSources: S, dim: d } = this
    if (x.rank === 3 && x.shape[1] === S && x.shape[2] === d)
      return this.tf.reshape(x, [x.shape[0]!, S * d]) as Tensor2D
    if (x.rank === 2 && x.shape[1] === S * d) return x as Tensor2D
    throw shapeError(`${who}: expected [batch, ${S}, ${d}] or [batch, ${S * d}], got [${x.shape.join(", ")}]`)
  }

  private checkRows(x: Tensor, who: string): void {
    if (x.rank !== 2 || x.shape[1] !== this.width) {
      throw shapeError(`${who}: expected [batch, ${this.width}] (normalized, flattened), got [${x.shape.join(", ")}]`)
    }
  }

  private checkCodes(c: Tensor, who: string): void {
    if (c.rank !== 2 || c.shape[1] !== this.features) {
      throw shapeError(`${who}: expected codes [batch, ${this.features}], got [${c.shape.join(", ")}]`)
    }
  }
}

/** Random initial parameters for `config` (deterministic in `seed`), with forbidden weights zeroed. */
export const initialArrays = (
  config: CrosscoderConfig,
  partition: Partition,
  seed: number
): { W_enc: Float32Array; b_enc: Float32Array; W_dec: Float32Array; b_dec: Float32Array } => {
  const { sources, dim: d, features: F } = config.architecture
  const S = sources.length
  const rng = Rng.seeded(seed)
  const W_enc = new Float32Array(S * d * F)
  const W_dec = new Float32Array(F * S * d)
  const init = config.init ?? { kind: "paper" }
  if (init.kind === "paper") {
    rng.fillNormal(W_enc, 1 / Math.sqrt(d))
    rng.fillNormal(W_dec, 1 / Math.sqrt(F))
  } else {
    const norm = init.columnNorm ?? 1
    const col = new Float64Array(d)
    for (let s = 0; s < S; s++) {
      for (let j = 0; j < F; j++) {
        let acc = 0
        for (let i = 0; i < d; i++) {
          col[i] = rng.normal()
          acc += col[i]! * col[i]!
        }
        const scale = norm / Math.sqrt(acc)
        for (let i = 0; i < d; i++) {
          const v = col[i]! * scale
          W_enc[(s * d + i) * F + j] = v
          W_dec[(j * S + s) * d + i] = v
        }
      }
    }
  }
  const { sourceModel } = modelsOf(sources)
  ForbiddenSet.fromMask("encoder", partition.encoderMask, sourceModel, d, F)?.zero(W_enc)
  ForbiddenSet.fromMask("decoder", partition.decoderMask, sourceModel, d, F)?.zero(W_dec)
  return { W_enc, b_enc: new Float32Array(F), W_dec, b_dec: new Float32Array(S * d) }
}

/** Resolve the plugins of a config through the registries. */
export const resolvePlugins = Effect.fnUntraced(function* (config: CrosscoderConfig) {
  const { sources, dim, features } = config.architecture
  if (sources.length < 1) return yield* new CrosscoderConfigError({ message: "architecture.sources is empty" })
  if (!Number.isInteger(dim) || dim < 1)
    return yield* new CrosscoderConfigError({ message: `architecture.dim ${dim} must be a positive integer` })
  if (!Number.isInteger(features) || features < 1) {
    return yield* new CrosscoderConfigError({ message: `architecture.features ${features} must be a positive integer` })
  }
  const sreg = yield* SparsityRegistry
  const preg = yield* PartitionRegistry
  const sparsity = yield* sreg.resolve(config.sparsity, { features, sources: sources.length, dim })
  const partition = yield* preg.resolve(config.partition, { features, models: modelsOf(sources).models })
  return { sparsity, partition }
})

/**
 * A freshly initialised crosscoder. Normalization defaults to none; the trainer sets it from the
 * activation store's statistics.
 */
export const makeCrosscoder = Effect.fn("makeCrosscoder")(function* (
  config: CrosscoderConfig,
  options: { readonly seed?: number; readonly normalization?: Normalization } = {}
) {
  const backend = yield* TensorBackend
  const { sparsity, partition } = yield* resolvePlugins(config)
  const { sources, dim } = config.architecture
  const arrays = initialArrays(config, partition, options.seed ?? 0)
  const made = Crosscoder.fromParts({
    tf: backend.tf,
    config,
    sparsity,
    partition,
    normalization: options.normalization ?? identityNormalization(sources.length, dim),
    arrays
  })
  if (Result.isFailure(made)) return yield* new CrosscoderConfigError({ message: made.failure })
  return made.success
})
