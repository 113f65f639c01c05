/**
 * Token choice from a row of logits: greedy argmax, or sampling with temperature → top-k → top-p
 * (the order of transformers' logits warpers) from a seeded PRNG. Each batch row draws from its own
 * stream `Rng.seeded(seed, row)`, so results are deterministic given the seed and the prompt order.
 */
import type { Rng } from "../util/rng.js"
import { ModelInputError, type Sampling } from "./LanguageModel.js"

/** Index of the largest logit (the first one on ties); NaN entries are skipped. */
export const argmax = (logits: ArrayLike<number>, offset = 0, length = logits.length - offset): number => {
  let best = -1
  let bestValue = Number.NEGATIVE_INFINITY
  for (let i = 0; i < length; i++) {
    const v = logits[offset + i]!
    if (v > bestValue || (best === -1 && v === bestValue)) {
      bestValue = v
      best = i
    }
  }
  return best
}

export const validateSampling = (sampling: Sampling): ModelInputError | undefined => {
  if (sampling._tag === "Greedy") return undefined
  if (!Number.isFinite(sampling.temperature) || sampling.temperature <= 0) {
    return new ModelInputError({
      message: `sampling temperature must be a finite number > 0, got ${sampling.temperature} (use Greedy for argmax)`
    })
  }
  if (sampling.topK !== undefined && (!Number.isInteger(sampling.topK) || sampling.topK < 0)) {
    return new ModelInputError({
      message: `sampling topK must be a non-negative integer (0 = off), got ${sampling.topK}`
    })
  }
  if (sampling.topP !== undefined && (!(sampling.topP > 0) || sampling.topP > 1)) {
    return new ModelInputError({ message: `sampling topP must be in (0, 1], got ${sampling.topP}` })
  }
  if (!Number.isFinite(sampling.seed))
    return new ModelInputError({ message: `sampling seed must be a finite number, got ${sampling.seed}` })
  return undefined
}

/**
 * Samples one token from `logits[offset .. offset+vocab)`. Temperature divides the logits; top-k
 * keeps every token at least as large as the k-th largest; top-p keeps, of the remaining
 * distribution sorted ascending, the tokens whose cumulative probability exceeds 1 - p (at least
 * one), exactly like transformers' TopPLogitsWarper.
 */
export const sampleToken = (
  logits: ArrayLike<number>,
  offset: number,
  vocab: number,
  sampling: Extract<Sampling, { _tag: "Sample" }>,
  rng: Pick<Rng, "uniform">
): number => {
  const z = new Float64Array(vocab)
  let max = Number.NEGATIVE_INFINITY
  for (let i = 0; i < vocab; i++) {
    const v = logits[offset + i]!
    z[i] = Number.isNaN(v) ? Number.NEGATIVE_INFINITY : v / sampling.temperature
    if (z[i]! > max) max = z[i]!
  }
  if (max === Number.NEGATIVE_INFINITY) return argmax(logits, offset, vocab)
  const topK = sampling.topK ?? 0
  if (topK > 0 && topK < vocab) {
    // The k-th largest value, from a sorted copy.
    const sorted = Float64Array.from(z).sort()
    const kth = sorted[vocab - topK]!
    for (let i = 0; i < vocab; i++) if (z[i]! < kth) z[i] = Number.NEGATIVE_INFINITY
  }
  const p = new Float64Array(vocab)
  let total = 0
  for (let i = 0; i < vocab; i++) {
    const e = z[i] === Number.NEGATIVE_INFINITY ? 0 : Math.exp(z[i]! - max)
    p[i] = e
    total += e
  }
  for (let i = 0; i < vocab; i++) p[i]! /= total
  const topP = sampling.topP ?? 1
  if (topP < 1) {
    // Tokens below tau = (1-p)/V carry less than 1-p in total, so transformers removes all of
    // them; only the rest needs sorting. The ascending cumulative sum starts at their mass.
    const tau = (1 - topP) / vocab
    const candidates: Array<number> = []
    let small = 0
    for (let i = 0; i < vocab; i++) {
      if (p[i]! >= tau && p[i]! > 0) candidates.push(i)
      else {
        small += p[i]!
        p[i] = 0
      }
    }
    candidates.sort((a, b) => p[a]! - p[b]! || b - a)
    let cum = small
    for (let j = 0; j < candidates.length - 1; j++) {
      const i = candidates[j]!
      cum += p[i]!
      if (cum <= 1 - topP) p[i] = 0
      else break
    }
  }
  let mass = 0
  for (let i = 0; i < vocab; i++) mass += p[i]!
  let u = rng.uniform() * mass
  let last = -1
  for (let i = 0; i < vocab; i++) {
    if (p[i]! <= 0) continue
    last = i
    u -= p[i]!
    if (u < 0) return i
  }
  return last
}
