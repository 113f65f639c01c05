/**
 * Built-in sparsity schemes:
 *   - `topk`       per-sample TopK on post-ReLU values (the 2606.26474 paper), same rule at inference.
 *   - `batch-topk` BatchTopK on decoder-norm-scaled values with an EMA threshold used at inference
 *                  (the reference DFC / dictionary_learning crosscoder).
 *   - `relu-l1`    ReLU with an L1 penalty weighted by decoder norms (Anthropic crosscoder).
 *   - `jumprelu`   JumpReLU with learned per-feature thresholds and an L0 penalty trained through
 *                  a straight-through estimator (Rajamanoharan et al. 2024).
 */
import { Result, Schema } from "effect"
import type { Scalar, Tensor, Tensor1D, Tensor2D, TF } from "../tf.js"
import {
  batchTopKMask,
  defineSparsityKind,
  type SchemeState,
  type SparsityContext,
  type SparsityKind,
  type SparsityScheme,
  type SparsitySpec,
  summedDecoderNorms,
  topKMask
} from "./SparsityScheme.js"

const requireNorms = (ctx: SparsityContext, who: string): Tensor2D => {
  if (ctx.decoderNorms === undefined) throw new Error(`${who}: decoder norms missing from the sparsity context`)
  return ctx.decoderNorms
}

const checkK = (k: number, features: number, who: string): string | undefined =>
  Number.isInteger(k) && k >= 1 && k <= features
    ? undefined
    : `${who}: k = ${k} must be an integer in [1, features = ${features}]`

// ---------------------------------------------------------------------------------------------
// TopK (paper)

export interface TopKSpec extends SparsitySpec {
  readonly kind: "topk"
  readonly k: number
}

const topKCodes = (tf: TF, pre: Tensor2D, k: number): Tensor2D => {
  const relu = tf.relu(pre) as Tensor2D
  return tf.mul(relu, topKMask(tf, relu, k)) as Tensor2D
}

/**
 * Per-sample TopK on post-ReLU values: keep the k largest ReLU(pre) per row, zero the rest.
 * No decoder-norm weighting; identical at training and inference. When fewer than k values are
 * positive, zeros are "selected" (as torch.topk) and contribute nothing.
 */
export const TopK = defineSparsityKind<TopKSpec>({
  kind: "topk",
  schema: Schema.Struct({ kind: Schema.Literal("topk"), k: Schema.Int }),
  make: (spec, dims) => {
    const bad = checkK(spec.k, dims.features, "topk")
    if (bad !== undefined) return Result.fail(bad)
    const scheme: SparsityScheme = {
      spec,
      coefficients: {},
      params: [],
      usesDecoderNorms: false,
      perRowTopK: spec.k,
      train: (pre, ctx) => ({ codes: topKCodes(ctx.tf, pre, spec.k) }),
      infer: (pre, ctx) => topKCodes(ctx.tf, pre, spec.k),
      getState: () => ({}),
      setState: () => {}
    }
    return Result.succeed(scheme)
  }
})

export const topK = (k: number): TopKSpec => ({ kind: "topk", k })

// ---------------------------------------------------------------------------------------------
// BatchTopK (reference DFC)

export interface BatchTopKSpec extends SparsitySpec {
  readonly kind: "batch-topk"
  /** Average active features per row: the batch keeps k · B entries. */
  readonly k: number
  /** Rank by ReLU(pre) · Σ_s‖W_dec[j, s]‖ (default true, as the reference crosscoder). */
  readonly decoderNormScaling?: boolean
  /** EMA factor of the inference threshold (default 0.999). */
  readonly thresholdBeta?: number
  /** Threshold updates start after this step (default 1000). */
  readonly thresholdStartStep?: number
}

/**
 * BatchTopK: keep the k·B largest (optionally decoder-norm-scaled) post-ReLU values of the whole
 * batch. The inference threshold θ is an EMA of the smallest selected positive scaled value,
 * updated after `thresholdStartStep`; inference keeps ReLU(pre)_j where ReLU(pre)_j · s_j > θ
 * (batch-independent). Before θ exists (θ < 0), inference falls back to per-row TopK(k) on the
 * same scores, which is also batch-independent.
 */
export const BatchTopK = defineSparsityKind<BatchTopKSpec>({
  kind: "batch-topk",
  schema: Schema.Struct({
    kind: Schema.Literal("batch-topk"),
    k: Schema.Int,
    decoderNormScaling: Schema.optionalKey(Schema.Boolean),
    thresholdBeta: Schema.optionalKey(Schema.Finite),
    thresholdStartStep: Schema.optionalKey(Schema.Int)
  }),
  make: (spec, dims) => {
    const bad = checkK(spec.k, dims.features, "batch-topk")
    if (bad !== undefined) return Result.fail(bad)
    const scaling = spec.decoderNormScaling ?? true
    const beta = spec.thresholdBeta ?? 0.999
    const start = spec.thresholdStartStep ?? 1000
    let threshold = -1
    const scores = (tf: TF, relu: Tensor2D, ctx: SparsityContext): Tensor2D =>
      scaling ? (tf.mul(relu, summedDecoderNorms(tf, requireNorms(ctx, "batch-topk"))) as Tensor2D) : relu
    const scheme: SparsityScheme = {
      spec,
      coefficients: {},
      params: [],
      usesDecoderNorms: scaling,
      batchTopK: { k: spec.k, scores: (relu, ctx) => scores(ctx.tf, relu, ctx) },
      train: (pre, ctx) => {
        const tf = ctx.tf
        const relu = tf.relu(pre) as Tensor2D
        const scored = scores(tf, relu, ctx)
        const mask = batchTopKMask(tf, scored, spec.k * pre.shape[0])
        const codes = tf.mul(relu, mask) as Tensor2D
        const selected = tf.mul(scored, mask)
        // smallest positive selected scaled value (Infinity when none)
        const minActive = tf.min(tf.where(tf.greater(selected, 0), selected, tf.fill(selected.shape, Infinity)))
        return { codes, stats: { minActive } }
      },
      infer: (pre, ctx) => {
        const tf = ctx.tf
        const relu = tf.relu(pre) as Tensor2D
        const scored = scores(tf, relu, ctx)
        if (threshold < 0) return tf.mul(relu, topKMask(tf, scored, spec.k)) as Tensor2D
        return tf.mul(relu, tf.cast(tf.greater(scored, threshold), "float32")) as Tensor2D
      },
      auxScores: (relu, ctx) => scores(ctx.tf, relu, ctx),
      update: (stats, step) => {
        if (step <= start) return
        const v = stats.minActive?.[0] ?? Infinity
        const min = Number.isFinite(v) ? v : 0
        threshold = threshold < 0 ? min : beta * threshold + (1 - beta) * min
      },
      getState: () => ({ threshold }),
      setState: (s: SchemeState) => {
        const t = s.threshold
        if (typeof t === "number") threshold = t
      },
      fold: (normsBefore) => {
        // z·s_j > θ  ⇔  pre > θ / s_j (for pre > 0): a JumpReLU with per-feature thresholds.
        if (threshold < 0)
          return Result.fail("batch-topk: the inference threshold is not set yet (train past thresholdStartStep first)")
        const S = dims.sources
        const th = new Float32Array(dims.features)
        for (let j = 0; j < dims.features; j++) {
          let s = 1
          if (scaling) {
            s = 0
            for (let m = 0; m < S; m++) s += normsBefore[j * S + m]!
          }
          th[j] = s > 0 ? threshold / s : 3.0e38
        }
        const logTh = th.map((t) => Math.log(Math.max(t, 1e-30)))
        const made = JumpReLU.make({ kind: "jumprelu", lambda: 0, exactThreshold: true }, dims)
        if (Result.isFailure(made)) return Result.fail(made.failure)
        return Result.succeed({ scheme: made.success, params: { logThreshold: logTh, threshold: th } })
      }
    }
    return Result.succeed(scheme)
  }
})

export const batchTopK = (k: number, options: Omit<BatchTopKSpec, "kind" | "k"> = {}): BatchTopKSpec => ({
  kind: "batch-topk",
  k,
  ...options
})

// ---------------------------------------------------------------------------------------------
// ReLU + L1 weighted by decoder norms (Anthropic crosscoder)

export interface ReluL1Spec extends SparsitySpec {
  readonly kind: "relu-l1"
  /** L1 coefficient λ. */
  readonly lambda: number
  /**
   * Per-feature weight s_j of the penalty λ · mean_b Σ_j f_bj s_j:
   * `"sum"` Σ_s ‖d_j^s‖ (Anthropic, default), `"concat"` ‖[d_j^1; …; d_j^S]‖, `"none"` 1.
   */
  readonly normWeighting?: "sum" | "concat" | "none"
  readonly warmupSteps?: number
}

/** codes = ReLU(pre); term `l1` = mean over the batch of Σ_j f_j · s_j. */
export const ReluL1 = defineSparsityKind<ReluL1Spec>({
  kind: "relu-l1",
  schema: Schema.Struct({
    kind: Schema.Literal("relu-l1"),
    lambda: Schema.Finite,
    normWeighting: Schema.optionalKey(Schema.Literals(["sum", "concat", "none"])),
    warmupSteps: Schema.optionalKey(Schema.Int)
  }),
  make: (spec) => {
    if (!(spec.lambda >= 0)) return Result.fail(`relu-l1: lambda ${spec.lambda} must be ≥ 0`)
    const weighting = spec.normWeighting ?? "sum"
    const weights = (tf: TF, ctx: SparsityContext): Tensor | undefined => {
      if (weighting === "none") return undefined
      const n = requireNorms(ctx, "relu-l1")
      return weighting === "sum" ? tf.sum(n, 1) : tf.sqrt(tf.sum(tf.square(n), 1))
    }
    const scheme: SparsityScheme = {
      spec,
      coefficients: {
        l1:
          spec.warmupSteps === undefined
            ? { value: spec.lambda }
            : { value: spec.lambda, warmupSteps: spec.warmupSteps }
      },
      params: [],
      usesDecoderNorms: weighting !== "none",
      train: (pre, ctx) => {
        const tf = ctx.tf
        const codes = tf.relu(pre) as Tensor2D
        const w = weights(tf, ctx)
        const weighted = w === undefined ? codes : tf.mul(codes, w)
        const l1 = tf.div(tf.sum(weighted), pre.shape[0]) as Scalar
        return { codes, terms: { l1 } }
      },
      infer: (pre, ctx) => ctx.tf.relu(pre) as Tensor2D,
      getState: () => ({}),
      setState: () => {}
    }
    return Result.succeed(scheme)
  }
})

export const reluL1 = (lambda: number, options: Omit<ReluL1Spec, "kind" | "lambda"> = {}): ReluL1Spec => ({
  kind: "relu-l1",
  lambda,
  ...options
})

// ---------------------------------------------------------------------------------------------
// JumpReLU

export interface JumpReLUSpec extends SparsitySpec {
  readonly kind: "jumprelu"
  /** L0 coefficient. */
  readonly lambda: number
  /** Initial threshold θ (default 0.001). */
  readonly initialThreshold?: number
  /** STE kernel bandwidth ε (default 0.001). */
  readonly bandwidth?: number
  readonly warmupSteps?: number
  /**
   * Use the `threshold` parameter as is instead of exp(logThreshold) (set by folding a
   * BatchTopK crosscoder; such a scheme is for inference).
   */
  readonly exactThreshold?: boolean
}

const jumpForward = (tf: TF, pre: Tensor2D, theta: Tensor): Tensor2D =>
  tf.mul(pre, tf.cast(tf.greater(pre, theta), "float32")) as Tensor2D

/**
 * JumpReLU: f = pre · H(pre − θ_j), θ_j = exp(logThreshold_j) > 0. Term `l0` = mean_b Σ_j H(pre − θ_j).
 * Gradients to θ use the rectangle-kernel straight-through estimator of width ε:
 * ∂f/∂θ = −(θ/ε)·K((pre−θ)/ε), ∂H/∂θ = −(1/ε)·K((pre−θ)/ε), K(u) = 𝟙[|u| < ½].
 */
export const JumpReLU = defineSparsityKind<JumpReLUSpec>({
  kind: "jumprelu",
  schema: Schema.Struct({
    kind: Schema.Literal("jumprelu"),
    lambda: Schema.Finite,
    initialThreshold: Schema.optionalKey(Schema.Finite),
    bandwidth: Schema.optionalKey(Schema.Finite),
    warmupSteps: Schema.optionalKey(Schema.Int),
    exactThreshold: Schema.optionalKey(Schema.Boolean)
  }),
  make: (spec, dims) => {
    const theta0 = spec.initialThreshold ?? 0.001
    const eps = spec.bandwidth ?? 0.001
    if (!(theta0 > 0)) return Result.fail(`jumprelu: initialThreshold ${theta0} must be > 0`)
    if (!(eps > 0)) return Result.fail(`jumprelu: bandwidth ${eps} must be > 0`)
    const exact = spec.exactThreshold ?? false
    const thetaOf = (tf: TF, ctx: SparsityContext): Tensor1D => {
      if (exact) return ctx.params.threshold as Tensor1D
      return tf.exp(ctx.params.logThreshold!) as Tensor1D
    }
    const scheme: SparsityScheme = {
      spec,
      coefficients: {
        l0:
          spec.warmupSteps === undefined
            ? { value: spec.lambda }
            : { value: spec.lambda, warmupSteps: spec.warmupSteps }
      },
      params: exact
        ? [
            {
              name: "threshold",
              shape: [dims.features],
              init: (d) => new Float32Array(d.features).fill(theta0),
              trainable: false
            },
            {
              name: "logThreshold",
              shape: [dims.features],
              init: (d) => new Float32Array(d.features).fill(Math.log(theta0)),
              trainable: false
            }
          ]
        : [
            {
              name: "logThreshold",
              shape: [dims.features],
              init: (d) => new Float32Array(d.features).fill(Math.log(theta0))
            }
          ],
      usesDecoderNorms: false,
      train: (pre, ctx) => {
        const tf = ctx.tf
        const theta = thetaOf(tf, ctx)
        const B = pre.shape[0]
        const kernel = (p: Tensor, t: Tensor) => tf.cast(tf.less(tf.abs(tf.div(tf.sub(p, t), eps)), 0.5), "float32")
        const jump = tf.customGrad((...args: Array<any>) => {
          const [p, t, save] = args as [Tensor2D, Tensor, (ts: Array<Tensor>) => void]
          save([p, t])
          return {
            value: jumpForward(tf, p, t),
            gradFunc: (dy: Tensor, saved: Array<Tensor>) => {
              const [sp, st] = saved as [Tensor, Tensor]
              const h = tf.cast(tf.greater(sp, st), "float32")
              const dTheta = tf.sum(tf.mul(dy, tf.mul(tf.neg(tf.div(st, eps)), kernel(sp, st))), 0)
              return [tf.mul(dy, h), dTheta]
            }
          }
        })
        const step = tf.customGrad((...args: Array<any>) => {
          const [p, t, save] = args as [Tensor2D, Tensor, (ts: Array<Tensor>) => void]
          save([p, t])
          return {
            value: tf.div(tf.sum(tf.cast(tf.greater(p, t), "float32")), B),
            gradFunc: (dy: Tensor, saved: Array<Tensor>) => {
              const [sp, st] = saved as [Tensor, Tensor]
              const dTheta = tf.mul(dy, tf.div(tf.sum(tf.neg(tf.div(kernel(sp, st), eps)), 0), B))
              return [tf.zerosLike(sp), dTheta]
            }
          }
        })
        const codes = jump(pre, theta) as Tensor2D
        const l0 = step(pre, theta) as Scalar
        return { codes, terms: { l0 } }
      },
      infer: (pre, ctx) => jumpForward(ctx.tf, pre, thetaOf(ctx.tf, ctx)),
      getState: () => ({}),
      setState: () => {}
    }
    return Result.succeed(scheme)
  }
})

export const jumpReLU = (lambda: number, options: Omit<JumpReLUSpec, "kind" | "lambda"> = {}): JumpReLUSpec => ({
  kind: "jumprelu",
  lambda,
  ...options
})

export const BuiltinSparsityKinds: ReadonlyArray<SparsityKind<any>> = [TopK, BatchTopK, ReluL1, JumpReLU]
