/**
 * A training step is one swappable function: loss + gradients + Adam update. Two are provided:
 * `denseStep` (the reference: dense matmuls, TensorFlow.js autodiff through the sparsity scheme)
 * and `sparseTopKStep` (gathers over the k active features; TopK schemes only).
 */
import type { Crosscoder } from "../model/Crosscoder.js"
import type { Tensor } from "../tf.js"
import type { Adam } from "./Adam.js"
import { fusedStepKernels } from "./fusedKernels.js"
import type { ResolvedLoss } from "./loss.js"

/** Message of the error a step throws when the wasm backend's XNNPACK failed during it. */
export const XNN_FAILED =
  "the wasm backend's XNNPACK failed during the step (wasm heap full: its matmul results are garbage); use a smaller batch or dictionary, or a native backend"

export interface StepInput {
  readonly crosscoder: Crosscoder
  /** `[B, S·d]` normalized activations, row-major. */
  readonly batch: Float32Array
  readonly batchSize: number
  /** 0-based step index. */
  readonly step: number
  readonly loss: ResolvedLoss
  /** Scheduled coefficient of every term at this step (by term name). */
  readonly coefficients: Readonly<Record<string, number>>
  /** `[F]`: 1 for dead latents (aux-k); undefined = none dead. */
  readonly dead: Uint8Array | undefined
}

export interface GradientResult {
  /** Total weighted loss. */
  readonly loss: number
  /** Unweighted term values: `recon`, `mse`, scheme terms, `l1_shared`, `l1_exclusive`, `auxk`. */
  readonly terms: Readonly<Record<string, number>>
  /**
   * Gradients by parameter name (before masking and clipping). The sparse step on the native
   * backend reuses these arrays at its next call for the same crosscoder: consume them first.
   */
  readonly grads: ReadonlyMap<string, Float32Array>
  /** `[F]`: number of rows in which each feature was active (code ≠ 0). */
  readonly firedCounts: Float32Array
  /** Scheme statistics (for `SparsityScheme.update`). */
  readonly stats: Readonly<Record<string, Float32Array>>
}

export interface StepOptions {
  readonly optimizer: Adam
  readonly lr: number
  /** Clip the global gradient norm to this value (torch `clip_grad_norm_`); undefined = no clip. */
  readonly clipGradNorm: number | undefined
}

export interface StepResult extends GradientResult {
  /** Global gradient norm after masking, before clipping. */
  readonly gradNorm: number
}

/** Host copies of tensors a `GradientProgram` asked for (float32 → Float32Array, int32 → Int32Array). */
export type HostValues = ReadonlyArray<Float32Array | Int32Array>

/**
 * A step's computation with its tensor reads made explicit: it yields the tensors it needs on the
 * host (one batch per round trip) and is resumed with their values. `runGradientProgram` drives it
 * with synchronous reads, `runGradientProgramAsync` with `await tensor.data()` — the only read the
 * webgpu backend supports in Node. The yielded tensors stay owned by the program.
 */
export type GradientProgram = Generator<ReadonlyArray<Tensor>, GradientResult, HostValues>

export interface TrainStep {
  readonly name: string
  /** Whether this step can train `crosscoder` (e.g. the sparse step needs a per-row TopK scheme). */
  supports(crosscoder: Crosscoder): string | undefined
  /** The step with synchronous reads (`dataSync`; not on webgpu). */
  gradients(input: StepInput): GradientResult
  /** The step as a program of reads; when present the trainer runs it with asynchronous reads. */
  program?(input: StepInput): GradientProgram
}

/** Runs a program with synchronous reads. */
export const runGradientProgram = (program: GradientProgram): GradientResult => {
  let r = program.next()
  while (!r.done) r = program.next(r.value.map((t) => t.dataSync() as Float32Array | Int32Array))
  return r.value
}

/** Runs a program with asynchronous reads (every backend, webgpu included); one batch per round trip. */
export const runGradientProgramAsync = async (program: GradientProgram): Promise<GradientResult> => {
  let r = program.next()
  while (!r.done) {
    let values: HostValues
    try {
      values = (await Promise.all(r.value.map((t) => t.data()))) as HostValues
    } catch (e) {
      r = program.throw(e)
      continue
    }
    r = program.next(values)
  }
  return r.value
}

/**
 * Mask forbidden gradient entries, clip the global norm, and apply Adam. Returns the norm
 * (after masking, before clipping).
 */
export const applyGradients = (
  crosscoder: Crosscoder,
  grads: ReadonlyMap<string, Float32Array>,
  options: StepOptions
): number => {
  // native: a multi-threaded float64 sum (fixed blocks, so the same for any thread count)
  const fused = fusedStepKernels()
  let sq = 0
  for (const p of crosscoder.allParams()) {
    const g = grads.get(p.name)
    if (g === undefined || !p.trainable) continue
    p.forbidden?.zero(g)
    if (fused !== undefined) sq += fused.sumSquaresBlocked(g)
    else for (let i = 0; i < g.length; i++) sq += g[i]! * g[i]!
  }
  const norm = Math.sqrt(sq)
  let scale = 1
  if (options.clipGradNorm !== undefined) {
    const coef = options.clipGradNorm / (norm + 1e-6)
    if (coef < 1) scale = coef
  }
  // masked gradients and zero moments leave forbidden weights at exactly 0: carry the check over
  const params = crosscoder.allParams()
  const wasZero = params.map((p) => p.forbiddenZero())
  options.optimizer.update(grads, options.lr, scale)
  for (let i = 0; i < params.length; i++) params[i]!.keptForbiddenZero(wasZero[i]!)
  return norm
}

/** gradients + masked, clipped Adam update. */
export const runStep = (step: TrainStep, input: StepInput, options: StepOptions): StepResult => {
  const g = step.gradients(input)
  const gradNorm = applyGradients(input.crosscoder, g.grads, options)
  return { ...g, gradNorm }
}

/** `runStep` with asynchronous tensor reads when the step is a `GradientProgram` (else as `runStep`). */
export const runStepAsync = async (step: TrainStep, input: StepInput, options: StepOptions): Promise<StepResult> => {
  const g = step.program !== undefined ? await runGradientProgramAsync(step.program(input)) : step.gradients(input)
  const gradNorm = applyGradients(input.crosscoder, g.grads, options)
  return { ...g, gradNorm }
}

/** Add to `dWd` the chain-rule term of per-(feature, source) norm gradients: ∂‖w‖/∂w = w/‖w‖. */
export const chainDecoderNormGrad = (crosscoder: Crosscoder, dNorms: Float32Array, dWd: Float32Array): void => {
  const { features: F, numSources: S, dim: d } = crosscoder
  const norms = crosscoder.decoderNorms()
  const w = crosscoder.W_dec.data
  for (let j = 0; j < F; j++) {
    for (let s = 0; s < S; s++) {
      const g = dNorms[j * S + s]!
      const n = norms[j * S + s]!
      if (g === 0 || n === 0) continue
      const c = g / n
      const base = (j * S + s) * d
      for (let i = 0; i < d; i++) dWd[base + i] = dWd[base + i]! + c * w[base + i]!
    }
  }
}
