/**
 * The sparse TopK step. Only the encoder forward is a dense matmul; with k ≪ F active features
 * per row, the decoder forward, ∂L/∂codes, ∂W_dec and ∂W_enc are gathers and scatters over the
 * k active (and k_aux aux-k) features, computed on the host copies of the weights:
 *
 *   x̂_b       = b_dec + Σ_i v_bi W_dec[j_bi]                 (B·k·S·d)
 *   ∂v_bi      = ∂x̂_b · W_dec[j_bi]                           (B·k·S·d)
 *   ∂W_dec[j]  = Σ_{(b,i): j_bi = j} v_bi ∂x̂_b                (B·k·S·d)
 *   ∂W_enc[:,j] = Σ_{(b,i): j_bi = j} ∂pre_bi x_b              (B·k·S·d, accumulated transposed)
 *
 * It computes the same loss and gradients as `denseStep` (to float rounding) for schemes with
 * `perRowTopK` and no terms or parameters of their own (the built-in `topk`).
 */
import type { Param } from "../model/Param.js"
import type { Tensor2D } from "../tf.js"
import type { GradientResult, StepInput, TrainStep } from "./step.js"

const effective = (p: Param): Float32Array => {
  if (p.forbidden === undefined || p.forbidden.maxAbs(p.data) === 0) return p.data
  const c = p.data.slice()
  p.forbidden.zero(c)
  return c
}

/** out[c * R + r] = a[r * C + c] for a `[R, C]` row-major `a`. */
const transposeInto = (a: Float32Array, R: number, C: number, out: Float32Array): void => {
  const T = 16 // measured fastest for 4096 × 8192 in V8
  for (let r0 = 0; r0 < R; r0 += T) {
    const r1 = Math.min(R, r0 + T)
    for (let c0 = 0; c0 < C; c0 += T) {
      const c1 = Math.min(C, c0 + T)
      for (let r = r0; r < r1; r++) {
        const base = r * C
        for (let c = c0; c < c1; c++) out[c * R + r] = a[base + c]!
      }
    }
  }
}

export const sparseTopKStep: TrainStep = {
  name: "sparse-topk",
  supports: (cc) => {
    const s = cc.sparsity
    if (s.perRowTopK === undefined)
      return `the sparse step needs a per-row TopK scheme; "${s.spec.kind}" is not one (use the dense step)`
    if (Object.keys(s.coefficients).length > 0 || s.params.length > 0) {
      return `the sparse step supports TopK schemes without own loss terms or parameters; "${s.spec.kind}" has some`
    }
    return undefined
  },
  gradients: (input: StepInput): GradientResult => {
    const cc = input.crosscoder
    const tf = cc.tf
    const { batchSize: B, loss, batch: x } = input
    const { width: W, features: F, numSources: S } = cc
    const k = cc.sparsity.perRowTopK!
    const nDead = input.dead === undefined ? 0 : input.dead.reduce((a, b) => a + b, 0)
    const useAux = loss.auxK !== undefined && nDead > 0
    const kAux = useAux ? Math.min(loss.auxK!.k, nDead) : 0
    // ---- encoder (dense) and selections
    const sel = tf.tidy(() => {
      const X = tf.tensor2d(x, [B, W])
      const pre = tf.add(tf.matMul(X, cc.W_enc.tensor([W, F]) as Tensor2D), cc.b_enc.tensor()) as Tensor2D
      const relu = tf.relu(pre) as Tensor2D
      const top = tf.topk(relu, k)
      if (!useAux) return { v: top.values, j: top.indices }
      const masked = tf.where(tf.tensor1d(Uint8Array.from(input.dead!), "bool"), relu, tf.fill([B, F], -Infinity))
      const a = tf.topk(masked, kAux)
      return { v: top.values, j: top.indices, av: a.values, aj: a.indices }
    })
    const v = sel.v.dataSync() as Float32Array
    const jx = sel.j.dataSync() as Int32Array
    const av = sel.av?.dataSync() as Float32Array | undefined
    const aj = sel.aj?.dataSync() as Int32Array | undefined
    for (const t of Object.values(sel)) t?.dispose()

    const Wd = effective(cc.W_dec)
    const bd = cc.b_dec.data
    // ---- decoder forward
    const xhat = new Float32Array(B * W)
    for (let b = 0; b < B; b++) {
      const xr = xhat.subarray(b * W, (b + 1) * W)
      xr.set(bd)
      for (let i = 0; i < k; i++) {
        const val = v[b * k + i]!
        if (val === 0) continue
        const row = jx[b * k + i]! * W
        const wr = Wd.subarray(row, row + W)
        for (let r = 0; r < W; r++) xr[r] = xr[r]! + val * wr[r]!
      }
    }
    // ---- reconstruction loss and ∂x̂
    const E = new Float32Array(B * W)
    for (let i = 0; i < E.length; i++) E[i] = xhat[i]! - x[i]!
    const dXhat = new Float32Array(B * W)
    let sq = 0
    for (let i = 0; i < E.length; i++) sq += E[i]! * E[i]!
    const mse = sq / (B * W)
    let recon: number
    if (loss.reconstruction === "mse") {
      recon = mse
      const c = 2 / (B * W)
      for (let i = 0; i < E.length; i++) dXhat[i] = c * E[i]!
    } else if (loss.reconstruction === "sse") {
      recon = sq / B
      const c = 2 / B
      for (let i = 0; i < E.length; i++) dXhat[i] = c * E[i]!
    } else {
      const d = W / S
      let total = 0
      for (let bs = 0; bs < B * S; bs++) {
        let acc = 0
        for (let i = 0; i < d; i++) acc += E[bs * d + i]! * E[bs * d + i]!
        const n = Math.sqrt(acc)
        total += n
        const c = n > 0 ? 1 / (n * B * S) : 0
        for (let i = 0; i < d; i++) dXhat[bs * d + i] = c * E[bs * d + i]!
      }
      recon = total / (B * S)
    }
    // ---- per-feature L1 weight (Σ_t λ_t w_tj / B) and term values
    const terms: Record<string, number> = { recon, mse }
    const l1Grad = new Float64Array(F)
    let anyL1 = false
    for (const t of loss.l1Terms) {
      let val = 0
      for (let n = 0; n < B * k; n++) val += t.weights[jx[n]!]! * v[n]!
      terms[t.name] = val / B
      const coef = input.coefficients[t.name] ?? 0
      if (coef !== 0) {
        anyL1 = true
        for (let j = 0; j < F; j++) l1Grad[j] = l1Grad[j]! + (coef * t.weights[j]!) / B
      }
    }
    // ---- ∂codes on the active entries, ∂W_dec, pairs for ∂W_enc
    const dWd = new Float32Array(F * W)
    const pairsB: Array<number> = []
    const pairsJ: Array<number> = []
    const pairsG: Array<number> = []
    const firedCounts = new Float32Array(F)
    for (let b = 0; b < B; b++) {
      const o = b * W
      for (let i = 0; i < k; i++) {
        const val = v[b * k + i]!
        if (!(val > 0)) continue
        const j = jx[b * k + i]!
        firedCounts[j] = firedCounts[j]! + 1
        const wr = Wd.subarray(j * W, (j + 1) * W)
        const gr = dWd.subarray(j * W, (j + 1) * W)
        const dr = dXhat.subarray(o, o + W)
        let dv = 0
        for (let r = 0; r < W; r++) {
          const dh = dr[r]!
          dv += dh * wr[r]!
          gr[r] = gr[r]! + val * dh
        }
        const g = dv + (anyL1 ? l1Grad[j]! : 0)
        if (g !== 0) {
          pairsB.push(b)
          pairsJ.push(j)
          pairsG.push(g)
        }
      }
    }
    // ---- aux-k
    if (useAux) {
      const R = new Float32Array(B * W)
      for (let i = 0; i < R.length; i++) R[i] = -E[i]!
      const mean = new Float64Array(W)
      for (let b = 0; b < B; b++) for (let r = 0; r < W; r++) mean[r] = mean[r]! + R[b * W + r]!
      for (let r = 0; r < W; r++) mean[r] = mean[r]! / B
      let denom = 0
      for (let b = 0; b < B; b++) {
        for (let r = 0; r < W; r++) {
          const c = R[b * W + r]! - mean[r]!
          denom += c * c
        }
      }
      denom /= B
      const diff = new Float32Array(B * W)
      for (let b = 0; b < B; b++) {
        const o = b * W
        for (let i = 0; i < kAux; i++) {
          const val = av![b * kAux + i]!
          if (!(val > 0)) continue
          const row = aj![b * kAux + i]! * W
          for (let r = 0; r < W; r++) diff[o + r] = diff[o + r]! + val * Wd[row + r]!
        }
      }
      let raw = 0
      for (let i = 0; i < diff.length; i++) {
        diff[i] = diff[i]! - R[i]!
        raw += diff[i]! * diff[i]!
      }
      raw /= B
      const ok = denom > 0 && Number.isFinite(denom)
      terms.auxk = ok ? raw / denom : 0
      const coef = input.coefficients.auxk ?? 0
      if (ok && coef !== 0) {
        const c = (2 * coef) / (B * denom)
        for (let b = 0; b < B; b++) {
          const o = b * W
          for (let i = 0; i < kAux; i++) {
            const val = av![b * kAux + i]!
            if (!(val > 0)) continue
            const j = aj![b * kAux + i]!
            const row = j * W
            let dv = 0
            for (let r = 0; r < W; r++) {
              const dh = c * diff[o + r]!
              dv += dh * Wd[row + r]!
              dWd[row + r] = dWd[row + r]! + val * dh
            }
            if (dv !== 0) {
              pairsB.push(b)
              pairsJ.push(j)
              pairsG.push(dv)
            }
          }
        }
      }
    }
    // ---- ∂b_dec, ∂b_enc, ∂W_enc
    const dbd = new Float32Array(W)
    for (let b = 0; b < B; b++) for (let r = 0; r < W; r++) dbd[r] = dbd[r]! + dXhat[b * W + r]!
    const dbe = new Float32Array(F)
    const dWeT = new Float32Array(F * W)
    for (let n = 0; n < pairsB.length; n++) {
      const j = pairsJ[n]!
      const g = pairsG[n]!
      dbe[j] = dbe[j]! + g
      const xr = x.subarray(pairsB[n]! * W, (pairsB[n]! + 1) * W)
      const gr = dWeT.subarray(j * W, (j + 1) * W)
      for (let r = 0; r < W; r++) gr[r] = gr[r]! + g * xr[r]!
    }
    const dWe = new Float32Array(W * F)
    transposeInto(dWeT, F, W, dWe)
    let total = recon
    for (const [name, val] of Object.entries(terms)) {
      if (name === "recon" || name === "mse") continue
      total += (input.coefficients[name] ?? 0) * val
    }
    const grads = new Map<string, Float32Array>([
      ["W_enc", dWe],
      ["b_enc", dbe],
      ["W_dec", dWd],
      ["b_dec", dbd]
    ])
    return { loss: total, terms, grads, firedCounts, stats: {} }
  }
}
