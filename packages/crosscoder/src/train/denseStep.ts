/**
 * The dense reference step. Matmuls are explicit (and never transposed inside the matmul: the
 * wasm backend runs transposed-operand matmuls ~30× slower, so operands are transposed first);
 * the sparsity stage (scheme codes, scheme terms, partition L1, aux-k selection) is differentiated
 * by TensorFlow.js autodiff through a surrogate scalar
 *   Σ codes ⊙ ∂L/∂codes|_recon + Σ_t λ_t term_t + Σ auxCodes ⊙ ∂L/∂auxCodes
 * whose gradient w.r.t. the pre-activations (and scheme params, decoder norms) is exactly ∂L.
 */
import { wasmXnnFailureCount } from "@crosscode/core"
import { keepIndices } from "../sparsity/SparsityScheme.js"
import type { Scalar, Tensor, Tensor2D, TF } from "../tf.js"
import type { ResolvedLoss } from "./loss.js"
import {
  chainDecoderNormGrad,
  type GradientProgram,
  type GradientResult,
  type HostValues,
  runGradientProgram,
  type StepInput,
  type TrainStep,
  XNN_FAILED
} from "./step.js"

/** value and ∂/∂x̂ of the reconstruction loss for E = x̂ − x (`[B, S·d]`). */
export const reconstructionLoss = (
  tf: TF,
  kind: ResolvedLoss["reconstruction"],
  E: Tensor2D,
  S: number
): { value: Scalar; grad: Tensor2D } => {
  const [B, W] = E.shape
  if (kind === "mse") {
    return { value: tf.mean(tf.square(E)) as Scalar, grad: tf.mul(E, 2 / (B * W)) as Tensor2D }
  }
  if (kind === "sse") {
    return { value: tf.div(tf.sum(tf.square(E)), B) as Scalar, grad: tf.mul(E, 2 / B) as Tensor2D }
  }
  const d = W / S
  const E3 = tf.reshape(E, [B, S, d])
  const n = tf.sqrt(tf.sum(tf.square(E3), 2, true))
  const safe = tf.where(tf.greater(n, 0), n, tf.onesLike(n))
  const grad = tf.reshape(tf.div(E3, tf.mul(safe, B * S)), [B, W]) as Tensor2D
  return { value: tf.mean(n) as Scalar, grad }
}

const gradientsOf = (tf: TF, f: () => Scalar, xs: Array<Tensor>): Array<Tensor | undefined> =>
  tf.engine().gradients(f, xs, undefined, true).grads as Array<Tensor | undefined>

function* denseProgram(input: StepInput): GradientProgram {
  const cc = input.crosscoder
  const tf = cc.tf
  const { batchSize: B, loss } = input
  const { width: W, features: F, numSources: S } = cc
  const scheme = cc.sparsity
  const trainable = [...cc.schemeParams.entries()].filter(([, p]) => p.trainable)
  const xnn = wasmXnnFailureCount()
  const out = tf.tidy(() => {
    const X = tf.tensor2d(input.batch, [B, W])
    const We = cc.W_enc.tensor([W, F]) as Tensor2D
    const Wd = cc.W_dec.tensor([F, W]) as Tensor2D
    const pre = tf.add(tf.matMul(X, We), cc.b_enc.tensor()) as Tensor2D
    const ctx = cc.sparsityContext(input.step)
    // ---- forward (no tape)
    const fwd = scheme.train(pre, ctx)
    const codes = fwd.codes
    const xhat = tf.add(tf.matMul(codes, Wd), cc.b_dec.tensor([W])) as Tensor2D
    const E = tf.sub(xhat, X) as Tensor2D
    const rec = reconstructionLoss(tf, loss.reconstruction, E, S)
    const mse = loss.reconstruction === "mse" ? rec.value : (tf.mean(tf.square(E)) as Scalar)
    const dXhat = rec.grad
    // ---- aux-k (dead latents)
    let aux: { indices: Tensor2D; codes: Tensor2D; dHat: Tensor2D; value: Scalar } | undefined
    const nDead = input.dead === undefined ? 0 : input.dead.reduce((a, b) => a + b, 0)
    if (loss.auxK !== undefined && nDead > 0) {
      const kAux = Math.min(loss.auxK.k, nDead)
      const relu = tf.relu(pre) as Tensor2D
      const scores = scheme.auxScores?.(relu, ctx) ?? relu
      const deadMask = tf.tensor1d(Uint8Array.from(input.dead!), "bool")
      const masked = tf.where(deadMask, scores, tf.fill([B, F], -Infinity))
      const { indices } = tf.topk(masked, kAux)
      const auxCodes = keepIndices(tf, relu, indices as Tensor2D)
      const R = tf.neg(E) // x − x̂, detached
      const auxHat = tf.matMul(auxCodes, Wd)
      const diff = tf.sub(auxHat, R)
      const raw = tf.div(tf.sum(tf.square(diff)), B)
      const centred = tf.sub(R, tf.mean(R, 0, true))
      const denom = tf.div(tf.sum(tf.square(centred)), B) as Scalar
      // denom > 0 and finite, decided on the device: no read in the middle of the step
      const ok = tf.logicalAnd(tf.greater(denom, 0), tf.isFinite(denom))
      const zero = tf.scalar(0)
      const value = tf.where(ok, tf.div(raw, denom), zero) as Scalar
      const coef = input.coefficients.auxk ?? 0
      const dHat = tf.mul(diff, tf.where(ok, tf.div(tf.scalar((2 * coef) / B), denom), zero)) as Tensor2D
      aux = { indices: indices as Tensor2D, codes: auxCodes, dHat, value }
    }
    // ---- ∂L/∂codes from the reconstruction (and aux) paths: Wd·dXhatᵀ, transposed
    const dAll = aux === undefined ? dXhat : tf.concat([dXhat, aux.dHat], 0)
    const dCodesAll = tf.transpose(tf.matMul(Wd, tf.transpose(dAll))) as Tensor2D
    const dCodes = aux === undefined ? dCodesAll : (tf.slice(dCodesAll, [0, 0], [B, F]) as Tensor2D)
    const dAuxCodes = aux === undefined ? undefined : (tf.slice(dCodesAll, [B, 0], [B, F]) as Tensor2D)
    // ---- autodiff through the sparsity stage
    const l1W = loss.l1Terms.map((t) => ({
      name: t.name,
      w: tf.tensor1d(t.weights),
      coef: input.coefficients[t.name] ?? 0
    }))
    const xs: Array<Tensor> = [pre]
    const useNorms = scheme.usesDecoderNorms && ctx.decoderNorms !== undefined
    if (useNorms) xs.push(ctx.decoderNorms!)
    for (const [name] of trainable) xs.push(ctx.params[name]!)
    const surrogate = (): Scalar => {
      // the engine tracks the ops below from the tensors in `xs`
      const c = scheme.train(pre, ctx)
      let s = tf.sum(tf.mul(c.codes, dCodes)) as Scalar
      for (const [name, term] of Object.entries(c.terms ?? {})) {
        const coef = input.coefficients[name] ?? 0
        if (coef !== 0) s = tf.add(s, tf.mul(term, coef)) as Scalar
      }
      for (const t of l1W) {
        if (t.coef !== 0) s = tf.add(s, tf.mul(tf.div(tf.sum(tf.mul(tf.abs(c.codes), t.w)), B), t.coef)) as Scalar
      }
      if (aux !== undefined)
        s = tf.add(s, tf.sum(tf.mul(keepIndices(tf, tf.relu(pre) as Tensor2D, aux.indices), dAuxCodes!))) as Scalar
      return s
    }
    const grads = gradientsOf(tf, surrogate, xs)
    const dPre = (grads[0] ?? tf.zerosLike(pre)) as Tensor2D
    // ---- parameter gradients
    const dWe = tf.matMul(tf.transpose(X), dPre)
    const dbe = tf.sum(dPre, 0)
    const codesAll = aux === undefined ? codes : tf.concat([codes, aux.codes], 0)
    const dWd = tf.matMul(tf.transpose(codesAll), dAll)
    const dbd = tf.sum(dXhat, 0)
    // ---- values
    const terms: Record<string, Scalar> = { recon: rec.value, mse }
    for (const [name, term] of Object.entries(fwd.terms ?? {})) terms[name] = term as Scalar
    for (const t of l1W) terms[t.name] = tf.div(tf.sum(tf.mul(tf.abs(codes), t.w)), B) as Scalar
    if (aux !== undefined) terms.auxk = aux.value
    const fired = tf.sum(tf.cast(tf.notEqual(codes, 0), "float32"), 0)
    const schemeGrads: Record<string, Tensor> = {}
    let gi = useNorms ? 2 : 1
    const dNorms = useNorms ? grads[1] : undefined
    for (const [name] of trainable) {
      const g = grads[gi++]
      if (g !== undefined) schemeGrads[name] = g
    }
    return { dWe, dbe, dWd, dbd, dNorms, schemeGrads, terms, fired, stats: fwd.stats ?? {} }
  })
  if (wasmXnnFailureCount() !== xnn) {
    tf.dispose(out as unknown as Array<Tensor>)
    throw new Error(XNN_FAILED)
  }
  // one batch of reads for everything the host needs
  const wanted: Array<Tensor> = [out.dWe, out.dbe, out.dWd, out.dbd, out.fired]
  if (out.dNorms !== undefined) wanted.push(out.dNorms)
  for (const t of Object.values(out.schemeGrads)) wanted.push(t)
  for (const t of Object.values(out.terms)) wanted.push(t)
  for (const t of Object.values(out.stats)) wanted.push(t)
  let values: HostValues
  try {
    values = yield wanted
  } finally {
    tf.dispose(out as unknown as Array<Tensor>)
  }
  const read = new Map(wanted.map((t, i) => [t, values[i] as Float32Array]))
  const host = (t: Tensor) => read.get(t)!
  const grads = new Map<string, Float32Array>()
  grads.set("W_enc", host(out.dWe))
  grads.set("b_enc", host(out.dbe))
  const dWd = host(out.dWd)
  if (out.dNorms !== undefined) chainDecoderNormGrad(cc, host(out.dNorms), dWd)
  grads.set("W_dec", dWd)
  grads.set("b_dec", host(out.dbd))
  for (const [name, g] of Object.entries(out.schemeGrads)) grads.set(`sparsity.${name}`, host(g))
  const terms: Record<string, number> = {}
  for (const [name, t] of Object.entries(out.terms)) terms[name] = host(t)[0]!
  let total = terms.recon!
  for (const [name, v] of Object.entries(terms)) {
    if (name === "recon" || name === "mse") continue
    total += (input.coefficients[name] ?? 0) * v
  }
  const stats: Record<string, Float32Array> = {}
  for (const [name, t] of Object.entries(out.stats)) stats[name] = host(t)
  const firedCounts = host(out.fired)
  return { loss: total, terms, grads, firedCounts, stats }
}

export const denseStep: TrainStep = {
  name: "dense",
  supports: () => undefined,
  gradients: (input: StepInput): GradientResult => runGradientProgram(denseProgram(input)),
  program: denseProgram
}
