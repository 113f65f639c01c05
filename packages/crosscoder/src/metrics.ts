/**
 * Metrics: reconstruction (MSE and fraction of variance explained per source), sparsity (L0 per
 * partition group, dead fraction), decoder geometry (per-model norms, relative decoder norm,
 * decoder cosine) and partition integrity.
 */
import type { ActivationSourceShape, ActivationStoreError } from "@crosscode/activations"
import { Effect, Stream } from "effect"
import type { Crosscoder } from "./model/Crosscoder.js"
import type { Tensor2D } from "./tf.js"

export interface SourceReconstruction {
  readonly model: string
  readonly site: string
  /** Mean over rows and dims of (x̂ − x)². */
  readonly mse: number
  /** 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖². */
  readonly fve: number
}

export interface ReconstructionMetrics {
  readonly rows: number
  /** "normalized" (the training space; default) or "raw". */
  readonly space: "normalized" | "raw"
  readonly mse: number
  readonly fve: number
  readonly perSource: ReadonlyArray<SourceReconstruction>
  /** Mean active features per row, and per partition group. */
  readonly l0: number
  readonly l0PerGroup: Readonly<Record<string, number>>
  /** `[F]`: fraction of rows in which each feature fired. */
  readonly firingRate: Float32Array
  /** Fraction of features that never fired on the evaluated rows. */
  readonly deadFraction: number
}

/** Streaming accumulator of reconstruction metrics over batches of raw rows. */
export class ReconstructionAccumulator {
  private rows = 0
  private readonly sse: Float64Array
  private readonly sum: Float64Array
  private readonly sumSq: Float64Array
  private readonly fired: Float64Array

  constructor(
    readonly crosscoder: Crosscoder,
    readonly space: "normalized" | "raw" = "normalized"
  ) {
    const S = crosscoder.numSources
    this.sse = new Float64Array(S)
    this.sum = new Float64Array(crosscoder.width)
    this.sumSq = new Float64Array(S)
    this.fired = new Float64Array(crosscoder.features)
  }

  /** Add `[rows, S·d]` raw activations (read back asynchronously, so every backend runs it). */
  add(raw: Float32Array, rows: number): Effect.Effect<void> {
    const cc = this.crosscoder
    const tf = cc.tf
    const W = cc.width
    return Effect.suspend(() => {
      const out = tf.tidy(() => {
        const r = tf.tensor2d(raw, [rows, W])
        const xn = cc.normalize(r)
        const c = cc.encodeNormalized(xn)
        const h = cc.decodeNormalized(c)
        const [xs, hs] = this.space === "raw" ? [r, cc.denormalize(h)] : [xn, h]
        return [xs as Tensor2D, hs as Tensor2D, c]
      })
      return Effect.promise(() => Promise.all(out.map((t) => t.data() as Promise<Float32Array>))).pipe(
        Effect.ensuring(Effect.sync(() => tf.dispose(out))),
        Effect.map(([x, xhat, codes]) => this.accumulate(rows, x!, xhat!, codes!))
      )
    })
  }

  private accumulate(rows: number, x: Float32Array, xhat: Float32Array, codes: Float32Array): void {
    const { width: W, dim: d, numSources: S, features: F } = this.crosscoder
    for (let b = 0; b < rows; b++) {
      for (let s = 0; s < S; s++) {
        let e = 0
        let q = 0
        const o = b * W + s * d
        for (let i = 0; i < d; i++) {
          const v = x[o + i]!
          const diff = xhat[o + i]! - v
          e += diff * diff
          q += v * v
          this.sum[s * d + i] = this.sum[s * d + i]! + v
        }
        this.sse[s] = this.sse[s]! + e
        this.sumSq[s] = this.sumSq[s]! + q
      }
      for (let j = 0; j < F; j++) if (codes[b * F + j] !== 0) this.fired[j] = this.fired[j]! + 1
    }
    this.rows += rows
  }

  result(): ReconstructionMetrics {
    const cc = this.crosscoder
    const { dim: d, numSources: S, features: F } = cc
    const n = Math.max(this.rows, 1)
    const perSource: Array<SourceReconstruction> = []
    let sseAll = 0
    let varAll = 0
    for (let s = 0; s < S; s++) {
      let meanSq = 0
      for (let i = 0; i < d; i++) meanSq += (this.sum[s * d + i]! / n) ** 2
      const variance = this.sumSq[s]! - n * meanSq
      sseAll += this.sse[s]!
      varAll += variance
      const src = cc.config.architecture.sources[s]!
      perSource.push({
        model: src.model,
        site: src.site,
        mse: this.sse[s]! / (n * d),
        fve: variance > 0 ? 1 - this.sse[s]! / variance : Number.NaN
      })
    }
    const firingRate = new Float32Array(F)
    let active = 0
    let dead = 0
    for (let j = 0; j < F; j++) {
      firingRate[j] = this.fired[j]! / n
      active += this.fired[j]!
      if (this.fired[j] === 0) dead++
    }
    const l0PerGroup: Record<string, number> = {}
    for (const g of cc.partition.groups) {
      let a = 0
      for (const j of g.indices) a += this.fired[j]!
      l0PerGroup[g.name] = a / n
    }
    return {
      rows: this.rows,
      space: this.space,
      mse: sseAll / (n * S * d),
      fve: varAll > 0 ? 1 - sseAll / varAll : Number.NaN,
      perSource,
      l0: active / n,
      l0PerGroup,
      firingRate,
      deadFraction: dead / F
    }
  }
}

/** Reconstruction metrics over (up to `maxRows` of) an activation source, read in order. */
export const evaluateReconstruction = (
  crosscoder: Crosscoder,
  source: ActivationSourceShape,
  options: { readonly batchSize?: number; readonly maxRows?: number; readonly space?: "normalized" | "raw" } = {}
): Effect.Effect<ReconstructionMetrics, ActivationStoreError> =>
  Effect.gen(function* () {
    const acc = new ReconstructionAccumulator(crosscoder, options.space ?? "normalized")
    const max = options.maxRows ?? source.rows
    let seen = 0
    yield* source
      .batches({ batchSize: options.batchSize ?? 1024, seed: 0, shuffle: false, dropLast: false, normalize: "none" })
      .pipe(
        Stream.takeWhile(() => seen < max),
        Stream.runForEach((b) =>
          Effect.suspend(() => {
            const rows = Math.min(b.rows, max - seen)
            seen += rows
            return acc.add(b.data.subarray(0, rows * b.numSources * b.dim), rows)
          })
        )
      )
    return acc.result()
  })

export interface DecoderMetrics {
  readonly models: ReadonlyArray<string>
  /** `[F, M]`: ‖W_dec[j, model m]‖ (sites of one model concatenated). */
  readonly norms: Float32Array
  /** `[F, M]`: each model's share of the feature's decoder norm, ‖d_j^m‖ / Σ_m' ‖d_j^m'‖ (0 when all are 0). */
  readonly normShare: Float32Array
  /**
   * `[F]`: for two models, the relative decoder norm ‖d_B‖ / (‖d_A‖ + ‖d_B‖) (1 = B only, 0 = A only,
   * as in the crosscoder diffing literature); for other M, the share of the last model.
   */
  readonly relativeNorm: Float32Array
  /** Model pairs `[m1, m2]` in the order of `cosine`. */
  readonly pairs: ReadonlyArray<readonly [number, number]>
  /** `[F, pairs]`: cosine between the two models' decoder vectors (0 when either is 0; needs equal widths). */
  readonly cosine: Float32Array
}

/** Decoder geometry per feature, in normalized (default) or raw units. */
export const decoderMetrics = (crosscoder: Crosscoder, space: "normalized" | "raw" = "normalized"): DecoderMetrics => {
  const { features: F, numSources: S, dim: d } = crosscoder
  const M = crosscoder.models.length
  const srcOf: Array<Array<number>> = Array.from({ length: M }, () => [])
  for (let s = 0; s < S; s++) srcOf[crosscoder.sourceModel[s]!]!.push(s)
  const norms = new Float32Array(F * M)
  const normShare = new Float32Array(F * M)
  const relativeNorm = new Float32Array(F)
  const pairs: Array<readonly [number, number]> = []
  for (let a = 0; a < M; a++) for (let b = a + 1; b < M; b++) pairs.push([a, b])
  const cosine = new Float32Array(F * pairs.length)
  const sameWidth = srcOf.every((l) => l.length === srcOf[0]!.length)
  const vecs: Array<Float64Array> = srcOf.map((l) => new Float64Array(l.length * d))
  for (let j = 0; j < F; j++) {
    for (let m = 0; m < M; m++) {
      const v = vecs[m]!
      srcOf[m]!.forEach((s, k) => {
        const row = crosscoder.decoderDirection(j, s, space)
        for (let i = 0; i < d; i++) v[k * d + i] = row[i]!
      })
      let q = 0
      for (let i = 0; i < v.length; i++) q += v[i]! * v[i]!
      norms[j * M + m] = Math.sqrt(q)
    }
    let tot = 0
    for (let m = 0; m < M; m++) tot += norms[j * M + m]!
    for (let m = 0; m < M; m++) normShare[j * M + m] = tot > 0 ? norms[j * M + m]! / tot : 0
    relativeNorm[j] = normShare[j * M + (M - 1)]!
    pairs.forEach(([a, b], p) => {
      if (!sameWidth) return
      const va = vecs[a]!
      const vb = vecs[b]!
      let dot = 0
      for (let i = 0; i < va.length; i++) dot += va[i]! * vb[i]!
      const den = norms[j * M + a]! * norms[j * M + b]!
      cosine[j * pairs.length + p] = den > 0 ? dot / den : 0
    })
  }
  return { models: crosscoder.models, norms, normShare, relativeNorm, pairs, cosine }
}

/** Largest |forbidden weight| (encoder, decoder): 0 when the partition holds. */
export const partitionIntegrity = (crosscoder: Crosscoder) => crosscoder.integrity()
