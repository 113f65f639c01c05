/**
 * Sparsity schemes: how pre-activations become codes, and which loss terms that adds.
 *
 * A scheme is a plugin. Its JSON spec (`{ kind, ...fields }`) is what configs and checkpoints
 * store; a `SparsityKind` registered in the `SparsityRegistry` turns the spec into a
 * `SparsityScheme` instance (which may carry state, e.g. the BatchTopK inference threshold).
 *
 * `train` is written with TensorFlow.js ops and is differentiated by TensorFlow.js autodiff, so
 * a new scheme needs no hand-written backward pass. The expensive matmuls around it (encoder and
 * decoder, forward and backward) are done by the step function.
 */
import type { Result, Schema } from "effect"
import type { Scalar, Tensor, Tensor2D, TF } from "../tf.js"

export interface SparsitySpec {
  readonly kind: string
  readonly [field: string]: unknown
}

/** A loss coefficient with an optional linear warm-up from 0 (`λ_t = λ · min(t / warmupSteps, 1)`). */
export interface LossCoefficient {
  readonly value: number
  /** Default: the trainer's `sparsityWarmupSteps`. */
  readonly warmupSteps?: number
}

export interface SparsityDims {
  /** Dictionary size F. */
  readonly features: number
  /** Number of sources S (model × site pairs). */
  readonly sources: number
  /** Activation width d. */
  readonly dim: number
}

/** An extra parameter a scheme owns (e.g. JumpReLU log-thresholds); trained by Adam, saved in checkpoints. */
export interface SchemeParam {
  /** Saved as `sparsity.<name>` in the checkpoint. */
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly init: (dims: SparsityDims) => Float32Array
  /** Default true. */
  readonly trainable?: boolean
}

export interface SparsityContext {
  readonly tf: TF
  /** `[F, S]` decoder row norms ‖W_dec[j, s, :]‖ (only when `usesDecoderNorms`). */
  readonly decoderNorms: Tensor2D | undefined
  /** The scheme's parameters, by name. */
  readonly params: Readonly<Record<string, Tensor>>
  /** 0-based training step (inference: the number of steps trained). */
  readonly step: number
}

export interface SparsityForward {
  /** `[B, F]` codes (differentiable w.r.t. pre-activations and scheme params). */
  readonly codes: Tensor2D
  /** Named loss terms (scalar tensors), each multiplied by `coefficients[name]` (scheduled). */
  readonly terms?: Readonly<Record<string, Scalar | Tensor>>
  /** Non-differentiable statistics handed to `update` after the step (downloaded as Float32Arrays). */
  readonly stats?: Readonly<Record<string, Tensor>>
}

/** JSON-able scheme state saved in checkpoints (e.g. `{ threshold: 0.31 }`). */
export type SchemeState = Readonly<Record<string, number | ReadonlyArray<number>>>

export interface SparsityScheme {
  readonly spec: SparsitySpec
  /** Coefficient of each loss term this scheme's `train` returns. */
  readonly coefficients: Readonly<Record<string, LossCoefficient>>
  readonly params: ReadonlyArray<SchemeParam>
  /** Whether `train`/`infer` read `ctx.decoderNorms`. */
  readonly usesDecoderNorms: boolean
  /**
   * Set when training codes are exactly "top-k of ReLU(pre) per row" (the paper's TopK): enables
   * the sparse training step. Leave undefined otherwise.
   */
  readonly perRowTopK?: number
  /**
   * Set when training codes are exactly BatchTopK: ReLU(pre) at the k·B largest
   * `scores(ReLU(pre))` of the batch (tf.topk over the flattened `[B·F]` scores), zero elsewhere,
   * with `stats.minActive` = the smallest positive selected score (as the built-in `batch-topk`).
   * Enables the sparse training step, which computes the same selection and statistics itself.
   */
  readonly batchTopK?: {
    readonly k: number
    readonly scores: (relu: Tensor2D, ctx: SparsityContext) => Tensor2D
  }
  /** Training-mode forward (may depend on the batch, e.g. BatchTopK). */
  train(pre: Tensor2D, ctx: SparsityContext): SparsityForward
  /** Inference forward: must not depend on other rows of the batch. */
  infer(pre: Tensor2D, ctx: SparsityContext): Tensor2D
  /** Scores used to rank dead latents for aux-k (default: ReLU(pre)). */
  auxScores?(relu: Tensor2D, ctx: SparsityContext): Tensor2D
  /** Called after every training step with `stats` from `train`. */
  update?(stats: Readonly<Record<string, Float32Array>>, step: number): void
  getState(): SchemeState
  setState(state: SchemeState): void
  /**
   * Equivalent scheme after `foldNormalization` rescaled the decoder (needed only when inference
   * depends on decoder norms). Receives the `[F * S]` decoder norms *before* folding and the
   * scheme's current parameter values.
   */
  fold?(
    decoderNormsBefore: Float32Array,
    params: Readonly<Record<string, Float32Array>>
  ): Result.Result<{ readonly scheme: SparsityScheme; readonly params: Readonly<Record<string, Float32Array>> }, string>
}

/** A sparsity plugin: decodes its spec and builds a scheme for given dimensions. */
export interface SparsityKind<S extends SparsitySpec = SparsitySpec> {
  readonly kind: string
  readonly schema: Schema.Codec<S, unknown>
  readonly make: (spec: S, dims: SparsityDims) => Result.Result<SparsityScheme, string>
}

export const defineSparsityKind = <S extends SparsitySpec>(kind: SparsityKind<S>): SparsityKind<S> => kind

/** Sum over sources of decoder norms: `s_j = Σ_s ‖W_dec[j, s, :]‖` as `[F]` (the "CROSSCODER" code normalization). */
export const summedDecoderNorms = (tf: TF, decoderNorms: Tensor2D): Tensor => tf.sum(decoderNorms, 1)

/**
 * A constant (non-differentiable) selection inside autodiff: runs `select` on `scores` without
 * recording it on the gradient tape, and passes a zero gradient back to `scores`. Use it for
 * masks built from tf.topk / comparisons, which have no gradients in TensorFlow.js.
 */
export const stopGradient = <T extends Tensor>(tf: TF, scores: Tensor, select: (scores: Tensor) => T): T =>
  tf.customGrad((...args: Array<any>) => {
    const x = args[0] as Tensor
    return { value: select(x), gradFunc: (dy: Tensor) => tf.zerosLike(x) as typeof dy }
  })(scores) as T

/** `[B, F]` 0/1 mask of the k largest `scores` per row (ties: lower index first, as tf.topk). */
export const topKMask = (tf: TF, scores: Tensor2D, k: number): Tensor2D =>
  stopGradient(tf, scores, (sc) => {
    const [B, F] = sc.shape as [number, number]
    const { indices } = tf.topk(sc, k)
    return maskFromIndices(tf, indices as Tensor2D, B, F)
  })

/** `[B, F]` 0/1 mask of the `k` largest entries of the whole batch. */
export const batchTopKMask = (tf: TF, scores: Tensor2D, k: number): Tensor2D =>
  stopGradient(tf, scores, (sc) => {
    const [B, F] = sc.shape as [number, number]
    const kk = Math.min(k, B * F)
    const { indices } = tf.topk(tf.reshape(sc, [B * F]), kk)
    return tf.reshape(tf.scatterND(tf.reshape(indices, [kk, 1]), tf.ones([kk], "float32"), [B * F]), [B, F]) as Tensor2D
  })

/** `[B, F]` 0/1 mask from `[B, k]` indices. */
export const maskFromIndices = (tf: TF, indices: Tensor2D, B: number, F: number): Tensor2D =>
  tf.tidy(() => {
    const k = indices.shape[1]
    const rows = tf.reshape(tf.tile(tf.reshape(tf.range(0, B, 1, "int32"), [B, 1]), [1, k]), [B * k, 1])
    const idx = tf.concat([rows, tf.reshape(tf.cast(indices, "int32"), [B * k, 1])], 1)
    return tf.scatterND(idx, tf.ones([B * k], "float32"), [B, F]) as Tensor2D
  })

/**
 * Codes that keep exactly the entries `indices` (`[B, k]`) of `values` (`[B, F]`) and zero the rest.
 * Differentiable w.r.t. `values`; `indices` must be a constant (computed outside the gradient tape).
 */
export const keepIndices = (tf: TF, values: Tensor2D, indices: Tensor2D): Tensor2D =>
  tf.mul(values, maskFromIndices(tf, indices, values.shape[0], values.shape[1])) as Tensor2D
