/**
 * Synthetic activations with planted features, for tests, docs and sanity checks of training:
 * shared features write (different) directions into every model, exclusive features into one.
 *   x_m = Σ_j a_j u_j^m + noise · ε,   a_j = active_j · U(0.5, 1.5),   active_j ~ Bernoulli(p)
 */
import type { SourceInfo } from "@crosscode/activations"
import { Rng } from "@crosscode/core"

export interface PlantedFeaturesOptions {
  readonly dim: number
  /** Model labels (one source per model, site "x"). */
  readonly models: ReadonlyArray<string>
  readonly shared: number
  /** Exclusive features per model, in model order. */
  readonly exclusive: ReadonlyArray<number>
  readonly rows: number
  readonly seed: number
  /** Probability that a feature is active in a row (default 0.05). */
  readonly firingProbability?: number
  /** Override for exclusive features (default `firingProbability`). */
  readonly exclusiveFiringProbability?: number
  /**
   * Instead of independent Bernoulli firing: exactly this many distinct features per row, drawn
   * uniformly (then the firing probabilities are ignored).
   */
  readonly activePerRow?: number
  /** Std of isotropic Gaussian noise (default 0.01). */
  readonly noise?: number
}

export interface PlantedFeature {
  readonly kind: "shared" | "exclusive"
  /** For exclusive features: the model index. */
  readonly model?: number
  /** `[M * dim]` unit direction per model (zeros for models the feature does not write). */
  readonly directions: Float32Array
}

export interface PlantedFeatures {
  /** `[rows, M, dim]`. */
  readonly data: Float32Array
  readonly sources: ReadonlyArray<SourceInfo>
  readonly features: ReadonlyArray<PlantedFeature>
}

const unit = (rng: Rng, d: number): Float32Array => {
  const v = new Float32Array(d)
  let n = 0
  for (let i = 0; i < d; i++) {
    v[i] = rng.normal()
    n += v[i]! * v[i]!
  }
  n = Math.sqrt(n)
  for (let i = 0; i < d; i++) v[i] = v[i]! / n
  return v
}

export const plantedFeatures = (o: PlantedFeaturesOptions): PlantedFeatures => {
  const M = o.models.length
  const d = o.dim
  const rng = Rng.seeded(o.seed)
  const features: Array<PlantedFeature> = []
  const add = (kind: "shared" | "exclusive", models: ReadonlyArray<number>) => {
    const directions = new Float32Array(M * d)
    for (const m of models) directions.set(unit(rng, d), m * d)
    features.push(kind === "exclusive" ? { kind, model: models[0]!, directions } : { kind, directions })
  }
  for (let i = 0; i < o.shared; i++)
    add(
      "shared",
      o.models.map((_, m) => m)
    )
  o.exclusive.forEach((n, m) => {
    for (let i = 0; i < n; i++) add("exclusive", [m])
  })
  const p = o.firingProbability ?? 0.05
  const pEx = o.exclusiveFiringProbability ?? p
  const noise = o.noise ?? 0.01
  const W = M * d
  const data = new Float32Array(o.rows * W)
  for (let r = 0; r < o.rows; r++) {
    const row = data.subarray(r * W, (r + 1) * W)
    const fire = (f: PlantedFeature) => {
      const a = 0.5 + rng.uniform()
      for (let i = 0; i < W; i++) row[i] = row[i]! + a * f.directions[i]!
    }
    if (o.activePerRow !== undefined) {
      const chosen = new Set<number>()
      while (chosen.size < Math.min(o.activePerRow, features.length)) chosen.add(rng.int(features.length))
      for (const j of chosen) fire(features[j]!)
    } else {
      for (const f of features) if (rng.uniform() < (f.kind === "shared" ? p : pEx)) fire(f)
    }
    if (noise > 0) for (let i = 0; i < W; i++) row[i] = row[i]! + noise * rng.normal()
  }
  return { data, sources: o.models.map((model) => ({ model, site: "x" })), features }
}
