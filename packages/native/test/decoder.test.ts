/**
 * The fused decoder kernels (src/decoder.c) against plain TypeScript references in float64:
 * RMSNorm, the gated activations (SiLU's float32 exp to a few ulp, NaN and ±Inf as tfjs gives
 * them), RoPE, grouped-query attention with a cache, padding and soft-capping, and the bfloat16
 * product on both its paths (few rows: streamed dot products; many: widened blocks and sgemm).
 * Skipped, saying why, where the addon was not built.
 */
import { describe, expect, it } from "vitest"
import { GatedKinds, loadNativeKernels } from "../src/index.js"
import { rand } from "./helpers.js"

const load = loadNativeKernels()
/** max |a − b| / (|b| + floor) */
const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-6) => {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (Math.abs(b[i]!) + floor))
  return m
}
const bf16Bits = (x: Float32Array): Uint16Array => {
  const u = new Uint32Array(x.buffer.slice(0))
  return Uint16Array.from(u, (v) => v >>> 16) // truncation: any bf16 value will do
}
const widen = (bits: Uint16Array): Float32Array => new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer)

describe.skipIf(!load.ok)(`@crosscode/native decoder kernels${load.ok ? "" : ` (skipped: ${load.reason})`}`, () => {
  const k = load.ok ? load.kernels : (undefined as never)

  it("rmsNormRows = x · rsqrt(mean(x²) + eps) · w per row", () => {
    const [R, C] = [7, 300]
    const x = rand(R * C, 1)
    const w = rand(C, 2)
    const out = new Float32Array(R * C)
    k.rmsNormRows(x, R, C, w, 1e-6, out)
    const ref = new Float64Array(R * C)
    for (let r = 0; r < R; r++) {
      let ss = 0
      for (let c = 0; c < C; c++) ss += x[r * C + c]! ** 2
      const inv = 1 / Math.sqrt(ss / C + 1e-6)
      for (let c = 0; c < C; c++) ref[r * C + c] = x[r * C + c]! * inv * w[c]!
    }
    expect(maxRel(out, ref)).toBeLessThan(1e-5)
  })

  it("gatedActivation: SiLU within 2e-6 relative over [−100, 100], with NaN and ±Inf as tfjs; GELU-tanh", () => {
    const n = 200_001
    const g = Float32Array.from({ length: n }, (_, i) => -100 + (200 * i) / (n - 1))
    const up = rand(n, 3).map((v) => v + 2)
    const out = new Float32Array(n)
    k.gatedActivation(GatedKinds.silu, g, up, out)
    const ref = Float64Array.from(g, (x, i) => (x / (1 + Math.exp(-x))) * up[i]!)
    expect(maxRel(out, ref, 1e-30)).toBeLessThan(2e-6)
    const special = Float32Array.from([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0])
    const so = new Float32Array(5)
    k.gatedActivation(GatedKinds.silu, special, new Float32Array(5).fill(1), so)
    // tfjs: x · sigmoid(x) → NaN, Inf, −Inf · 0 = NaN, 0, −0
    expect(Array.from(so)).toEqual([Number.NaN, Number.POSITIVE_INFINITY, Number.NaN, 0, -0])
    k.gatedActivation(GatedKinds.geluTanh, g, up, out)
    const c = Math.sqrt(2 / Math.PI)
    const gelu = Float64Array.from(g, (x, i) => 0.5 * x * (1 + Math.tanh(c * (x + 0.044715 * x ** 3))) * up[i]!)
    // 1 + tanh(…) cancels for negative x in float32 (in PyTorch and tfjs too): bound the error by |x|
    let worst = 0
    for (let i = 0; i < n; i++)
      worst = Math.max(worst, Math.abs(out[i]! - gelu[i]!) / ((Math.abs(g[i]!) + 1) * Math.abs(up[i]!)))
    expect(worst).toBeLessThan(1e-6)
  })

  it("gatedMlp = the separate products and gatedActivation: bit for bit in one chunk, to rounding in several", () => {
    const [H, I] = [24, 40]
    const wg = rand(I * H, 31)
    const wu = rand(I * H, 32)
    const wd = rand(H * I, 33)
    const separate = (x: Float32Array, M: number, kind: number) => {
      const [g, u, a, out] = [
        new Float32Array(M * I),
        new Float32Array(M * I),
        new Float32Array(M * I),
        new Float32Array(M * H)
      ]
      k.gemmBatched(false, true, 1, M, I, H, x, 0, wg, 0, g, 0)
      k.gemmBatched(false, true, 1, M, I, H, x, 0, wu, 0, u, 0)
      k.gatedActivation(kind, g, u, a)
      k.gemmBatched(false, true, 1, M, H, I, a, 0, wd, 0, out, 0)
      return out
    }
    for (const kind of [GatedKinds.silu, GatedKinds.geluTanh])
      for (const [M, chunk] of [
        [1, undefined],
        [7, undefined],
        [7, 2], // 2, 2, 3: the last row joins its chunk (one row alone would take sgemv)
        [6, 2],
        [9, 4]
      ] as const) {
        const x = rand(M * H, 40 + M)
        const out = new Float32Array(M * H).fill(Number.NaN)
        k.gatedMlp!(kind, x, M, H, I, wg, wu, wd, out, chunk)
        const want = separate(x, M, kind)
        // OpenBLAS's rounding at the edges of a product depends on its row count
        if (chunk === undefined) expect(Array.from(out), `kind ${kind}, M=${M}`).toEqual(Array.from(want))
        else {
          const scale = Math.max(...Array.from(want, Math.abs))
          const worst = Math.max(...Array.from(out, (v, i) => Math.abs(v - want[i]!)))
          expect(worst / scale, `kind ${kind}, M=${M}, chunk ${chunk}`).toBeLessThan(1e-6)
        }
      }
    // and against float64 arithmetic
    const M = 3
    const x = rand(M * H, 50)
    const out = new Float32Array(M * H)
    k.gatedMlp!(GatedKinds.silu, x, M, H, I, wg, wu, wd, out)
    const ref = new Float64Array(M * H)
    for (let m = 0; m < M; m++) {
      const act = Array.from({ length: I }, (_, i) => {
        let g = 0
        let u = 0
        for (let h = 0; h < H; h++) {
          g += x[m * H + h]! * wg[i * H + h]!
          u += x[m * H + h]! * wu[i * H + h]!
        }
        return (g / (1 + Math.exp(-g))) * u
      })
      for (let h = 0; h < H; h++) for (let i = 0; i < I; i++) ref[m * H + h] += act[i]! * wd[h * I + i]!
    }
    expect(maxRel(out, ref, 1e-3)).toBeLessThan(1e-4)
    expect(() => k.gatedMlp!(0, x, M, H, I, wg, wu, wd.subarray(1), out)).toThrow(/gatedMlp: wDown is shorter/)
  })

  it("ropeRows = x · cos + rotate_half(x) · sin, per head", () => {
    const [R, H, D] = [5, 3, 8]
    const x = rand(R * H * D, 4)
    const cos = rand(R * D, 5)
    const sin = rand(R * D, 6)
    const out = new Float32Array(R * H * D)
    k.ropeRows(x, R, H, D, cos, sin, out)
    const ref = new Float64Array(R * H * D)
    for (let r = 0; r < R; r++)
      for (let h = 0; h < H; h++)
        for (let i = 0; i < D; i++) {
          const at = (r * H + h) * D
          const other = i < D / 2 ? x[at + i + D / 2]! : x[at + i - D / 2]!
          ref[at + i] = x[at + i]! * cos[r * D + i]! + other * sin[r * D + i]!
        }
    expect(maxRel(out, ref)).toBeLessThan(1e-5)
  })

  it("groupedAttention = softmax(cap(q·kᵀ·scale) + bias)·v with GQA, a cache and padding", () => {
    const [B, T, S, nH, nKV, D] = [2, 3, 6, 6, 2, 4]
    const q = rand(B * T * nH * D, 7)
    const kk = rand(B * nKV * S * D, 8)
    const v = rand(B * nKV * S * D, 9)
    const bias = new Float32Array(B * T * S)
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++)
        for (let j = 0; j < S; j++) if (j > S - T + t || (b === 0 && j < 2)) bias[(b * T + t) * S + j] = -1e9
    for (const cap of [0, 1.5]) {
      const out = new Float32Array(B * T * nH * D)
      k.groupedAttention(q, kk, v, bias, B, T, S, nH, nKV, D, 0.7, cap, out)
      const ref = new Float64Array(out.length)
      for (let b = 0; b < B; b++)
        for (let t = 0; t < T; t++)
          for (let h = 0; h < nH; h++) {
            const j = Math.floor(h / (nH / nKV))
            const scores = Array.from({ length: S }, (_, s) => {
              let dot = 0
              for (let d = 0; d < D; d++)
                dot += q[((b * T + t) * nH + h) * D + d]! * kk[((b * nKV + j) * S + s) * D + d]!
              const scaled = dot * 0.7
              return (cap === 0 ? scaled : Math.tanh(scaled / cap) * cap) + bias[(b * T + t) * S + s]!
            })
            const m = Math.max(...scores)
            const e = scores.map((s) => Math.exp(s - m))
            const z = e.reduce((a, c) => a + c, 0)
            for (let d = 0; d < D; d++) {
              let acc = 0
              for (let s = 0; s < S; s++) acc += (e[s]! / z) * v[((b * nKV + j) * S + s) * D + d]!
              ref[((b * T + t) * nH + h) * D + d] = acc
            }
          }
      expect(maxRel(out, ref, 1e-4), `softcap ${cap}`).toBeLessThan(1e-4)
    }
  })

  it("groupedAttention over a long key range: query chunks (the score block's bound) give the same rows", () => {
    // g·S = 8 × 4096 > 4 Mi / T, so 300 query positions go in chunks of 128, 128 and 44
    const [T, S, nH, D] = [300, 4096, 8, 4]
    const q = rand(T * nH * D, 31)
    const kk = rand(S * D, 32)
    const v = rand(S * D, 33)
    const bias = new Float32Array(T * S)
    for (let t = 0; t < T; t++) for (let j = 0; j < S; j++) if (j > S - T + t) bias[t * S + j] = -1e9
    const out = new Float32Array(T * nH * D)
    k.groupedAttention(q, kk, v, bias, 1, T, S, nH, 1, D, 0.5, 0, out)
    let worst = 0
    for (const t of [0, 127, 128, 255, 256, 299])
      for (let h = 0; h < nH; h++) {
        const scores = new Float64Array(S)
        let m = Number.NEGATIVE_INFINITY
        for (let s = 0; s < S; s++) {
          let dot = 0
          for (let d = 0; d < D; d++) dot += q[(t * nH + h) * D + d]! * kk[s * D + d]!
          scores[s] = dot * 0.5 + bias[t * S + s]!
          m = Math.max(m, scores[s]!)
        }
        let z = 0
        for (let s = 0; s < S; s++) z += Math.exp(scores[s]! - m)
        for (let d = 0; d < D; d++) {
          let acc = 0
          for (let s = 0; s < S; s++) acc += (Math.exp(scores[s]! - m) / z) * v[s * D + d]!
          worst = Math.max(worst, Math.abs(out[(t * nH + h) * D + d]! - acc))
        }
      }
    expect(worst).toBeLessThan(1e-5)
  })

  it("matmulBF16 = a · widen(w)ᵀ on the streamed path (≤ 8 rows) and the blocked one, any N and K", () => {
    for (const [M, N, K] of [
      [1, 1000, 64],
      [3, 517, 31],
      [4, 70, 128],
      [5, 1030, 64],
      [8, 9, 6],
      [9, 1100, 40],
      [20, 513, 33]
    ] as const) {
      const a = rand(M * K, M)
      const bits = bf16Bits(rand(N * K, N))
      const w = widen(bits)
      const out = new Float32Array(M * N)
      k.matmulBF16(a, M, K, bits, N, out)
      const ref = new Float64Array(M * N)
      for (let m = 0; m < M; m++)
        for (let n = 0; n < N; n++) {
          let s = 0
          for (let q = 0; q < K; q++) s += a[m * K + q]! * w[n * K + q]!
          ref[m * N + n] = s
        }
      expect(maxRel(out, ref, 0.1), `M=${M} N=${N} K=${K}`).toBeLessThan(1e-4)
    }
  })

  it("refuse bad arguments with a RangeError naming them", () => {
    const f = new Float32Array(8)
    expect(() => k.rmsNormRows(f, 2, 8, f, 1e-6, f)).toThrow(/rmsNormRows: x\/out are shorter/)
    expect(() => k.gatedActivation(2, f, f, f)).toThrow(/gatedActivation: kind must be/)
    expect(() => k.ropeRows(f, 1, 1, 3, f, f, f)).toThrow(/ropeRows: D must be even/)
    expect(() => k.groupedAttention(f, f, f, f, 1, 1, 1, 3, 2, 2, 1, 0, f)).toThrow(
      /groupedAttention: nH must be a multiple of nKV/
    )
    expect(() => k.matmulBF16(f, 1, 8, new Uint16Array(7), 1, f)).toThrow(/matmulBF16: w is shorter/)
    expect(() => k.matmulBF16(f, 1, 8, f as never, 1, f)).toThrow(/matmulBF16: w must be a Uint16Array/)
  })
})
