/**
 * Loss configuration shared by the step functions.
 *
 *   L = recon + Σ_t λ_t(step) · term_t
 *
 * recon:  "mse" mean over (B, S, d) of (x̂ − x)²                    (2606.26474 paper)
 *         "l2"  mean over (B, S) of ‖x̂_s − x_s‖₂                   (reference DFC / dictionary_learning)
 *         "sse" mean over B of Σ_s ‖x̂_s − x_s‖²                    (Anthropic crosscoder)
 * terms:  the sparsity scheme's named terms (its coefficients);
 *         `l1_shared`    = mean over batch and shared features of |f|          (λ_sh)
 *         `l1_exclusive` = mean over models m of mean |f_{features m may use}|  (λ_excl)
 *            — the paper's (mean|f_A∪sh| + mean|f_B∪sh|)/2, for any number of models;
 *         `auxk`          = ‖e − Σ_{dead top-k_aux} f_j W_dec[j]‖² / ‖e − ē‖² (α, default 1/32),
 *            e = x − x̂ detached, over dead latents only, decoder bias not added.
 */
import { modelFeatures, type Partition, sharedFeatures } from "../partition/Partition.js"
import type { LossCoefficient, SparsityScheme } from "../sparsity/SparsityScheme.js"

export type ReconstructionLoss = "mse" | "l2" | "sse"

export interface PartitionL1 {
  /** λ_sh. */
  readonly shared: number
  /** λ_excl. */
  readonly exclusive: number
  /** Default: the trainer's `sparsityWarmupSteps`. */
  readonly warmupSteps?: number
}

export interface AuxKConfig {
  /** Default 1/32. */
  readonly alpha?: number
  /** Dead latents used per row (default ⌊dim / 2⌋, capped by the number of dead latents). */
  readonly k?: number
}

export interface LossConfig {
  readonly reconstruction: ReconstructionLoss
  /** The paper's partition-aware L1 on codes (with p = 0: (λ_sh + λ_excl)·mean|f|). */
  readonly partitionL1?: PartitionL1
  /** Aux-k loss on dead latents (needs the trainer's dead-latent tracking). */
  readonly auxK?: AuxKConfig
}

/** The 2606.26474 loss: elementwise MSE + λ_sh·mean|f_sh| + λ_excl·(mean|f_A∪sh| + mean|f_B∪sh|)/2. */
export const paperLoss = (lambdaShared = 1e-3, lambdaExclusive = 1e-3): LossConfig => ({
  reconstruction: "mse",
  partitionL1: { shared: lambdaShared, exclusive: lambdaExclusive }
})

/** The reference DFC loss: mean per-model L2 norm + (1/32)·aux-k. */
export const referenceLoss = (auxAlpha = 1 / 32): LossConfig => ({ reconstruction: "l2", auxK: { alpha: auxAlpha } })

/** Loss pieces resolved for one crosscoder. */
export interface ResolvedLoss {
  readonly reconstruction: ReconstructionLoss
  /** Per-feature weights of weighted-L1 terms on codes: term = (1/B) Σ_b Σ_j w_j |f_bj|. */
  readonly l1Terms: ReadonlyArray<{ readonly name: string; readonly weights: Float32Array }>
  readonly auxK: { readonly alpha: number; readonly k: number } | undefined
  /** Coefficients of every term (scheme terms, l1 terms, auxk). */
  readonly coefficients: Readonly<Record<string, LossCoefficient>>
}

export const resolveLoss = (
  loss: LossConfig,
  scheme: SparsityScheme,
  partition: Partition,
  dim: number
): ResolvedLoss => {
  const F = partition.features
  const coefficients: Record<string, LossCoefficient> = { ...scheme.coefficients }
  const l1Terms: Array<{ name: string; weights: Float32Array }> = []
  const pl = loss.partitionL1
  if (pl !== undefined && (pl.shared !== 0 || pl.exclusive !== 0)) {
    const warm = pl.warmupSteps === undefined ? {} : { warmupSteps: pl.warmupSteps }
    const sh = sharedFeatures(partition)
    const wSh = new Float32Array(F)
    for (const j of sh) wSh[j] = 1 / sh.length
    l1Terms.push({ name: "l1_shared", weights: wSh })
    coefficients.l1_shared = { value: pl.shared, ...warm }
    const M = partition.models.length
    const wEx = new Float64Array(F)
    for (let m = 0; m < M; m++) {
      const fm = modelFeatures(partition, m)
      for (const j of fm) wEx[j] = wEx[j]! + 1 / (M * fm.length)
    }
    l1Terms.push({ name: "l1_exclusive", weights: Float32Array.from(wEx) })
    coefficients.l1_exclusive = { value: pl.exclusive, ...warm }
  }
  let auxK: ResolvedLoss["auxK"]
  if (loss.auxK !== undefined) {
    auxK = { alpha: loss.auxK.alpha ?? 1 / 32, k: loss.auxK.k ?? Math.max(1, Math.floor(dim / 2)) }
    coefficients.auxk = { value: auxK.alpha, warmupSteps: 0 }
  }
  return { reconstruction: loss.reconstruction, l1Terms, auxK, coefficients }
}

// ---------------------------------------------------------------------------------------------
// schedules

export interface LrSchedule {
  /** Linear warm-up from 0 over this many steps (default 0). */
  readonly warmupSteps?: number
  /** Linear decay to 0 at the last step, starting here (default: no decay). */
  readonly decayStartStep?: number
}

/** LR multiplier at 0-based `step` (dictionary_learning's `get_lr_schedule`). */
export const lrFactor = (schedule: LrSchedule, step: number, totalSteps: number): number => {
  const w = schedule.warmupSteps ?? 0
  if (step < w) return step / w
  const d = schedule.decayStartStep
  if (d !== undefined && step >= d && totalSteps > d) return Math.max(0, (totalSteps - step) / (totalSteps - d))
  return 1
}

/** Coefficient at `step`: λ · min(step / warmupSteps, 1). */
export const coefficientAt = (c: LossCoefficient, step: number, defaultWarmup: number): number => {
  const w = c.warmupSteps ?? defaultWarmup
  return w > 0 ? c.value * Math.min(step / w, 1) : c.value
}
