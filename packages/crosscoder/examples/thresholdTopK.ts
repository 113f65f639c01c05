/**
 * A new sparsity scheme, defined outside @crosscode/crosscoder: "ThresholdTopK" keeps the k largest
 * ReLU(pre) per row, but only those above a fixed threshold θ (so rows with little signal use
 * fewer than k latents). It adds one loss term, `above`, the mean number of pre-activations over θ.
 */
import {
  defineSparsityKind,
  type SparsityScheme,
  type SparsitySpec,
  stopGradient,
  topKMask
} from "@crosscode/crosscoder"
import { Result, Schema } from "effect"

export interface ThresholdTopKSpec extends SparsitySpec {
  readonly kind: "threshold-topk"
  readonly k: number
  readonly threshold: number
  /** Coefficient of the `above` term (default 0). */
  readonly lambda?: number
}

export const ThresholdTopK = defineSparsityKind<ThresholdTopKSpec>({
  kind: "threshold-topk",
  // validates the JSON spec stored in configs and checkpoints
  schema: Schema.Struct({
    kind: Schema.Literal("threshold-topk"),
    k: Schema.Int,
    threshold: Schema.Finite,
    lambda: Schema.optionalKey(Schema.Finite)
  }),
  make: (spec, dims) => {
    if (spec.k < 1 || spec.k > dims.features)
      return Result.fail(`threshold-topk: k = ${spec.k} outside [1, ${dims.features}]`)
    if (spec.threshold < 0) return Result.fail("threshold-topk: threshold must be ≥ 0")
    const codes: SparsityScheme["infer"] = (pre, { tf }) => {
      const relu = tf.relu(pre)
      // masks are constants for autodiff: topKMask / stopGradient keep tf.topk and comparisons off the tape
      const keep = tf.mul(
        topKMask(tf, relu, spec.k),
        stopGradient(tf, pre, (p) => tf.cast(tf.greater(p, spec.threshold), "float32"))
      )
      return tf.mul(relu, keep)
    }
    const scheme: SparsityScheme = {
      spec,
      coefficients: { above: { value: spec.lambda ?? 0 } },
      params: [],
      usesDecoderNorms: false,
      // training: the same codes, plus a (non-differentiable, reported) statistic as a loss term
      train: (pre, ctx) => {
        const { tf } = ctx
        const above = tf.div(
          tf.sum(stopGradient(tf, pre, (p) => tf.cast(tf.greater(p, spec.threshold), "float32"))),
          pre.shape[0]
        )
        return { codes: codes(pre, ctx), terms: { above } }
      },
      infer: codes,
      getState: () => ({}),
      setState: () => {}
    }
    return Result.succeed(scheme)
  }
})
