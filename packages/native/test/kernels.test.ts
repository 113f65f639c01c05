/**
 * @crosscode/native's kernels against plain TypeScript references: BLAS matmul (float32
 * rounding), the sparse crosscoder loops, TopK order, and Adam bit for bit (the crosscoder's
 * Adam relies on it). Skipped, saying why, where the addon was not built.
 */
import { describe, expect, it } from "vitest"
import { BinaryOps, loadNativeKernels, UnaryOps } from "../src/index.js"

const load = loadNativeKernels()
const rand = (n: number, seed: number): Float32Array => {
  let s = seed >>> 0
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 31 - 1
  })
}
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

describe.skipIf(!load.ok)(`@crosscode/native kernels${load.ok ? "" : ` (skipped: ${load.reason})`}`, () => {
  const k = load.ok ? load.kernels : (undefined as never)

  it("gemmBatched: every transpose, a broadcast A, beta accumulation", () => {
    const [M, N, K, batch] = [5, 7, 9, 3]
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const A = rand(M * K, 1)
        const B = rand(batch * K * N, 2)
        const C = rand(batch * M * N, 3)
        const ref = C.map((c) => 0.5 * c)
        for (let i = 0; i < batch; i++)
          for (let m = 0; m < M; m++)
            for (let n = 0; n < N; n++) {
              let s = 0
              for (let q = 0; q < K; q++)
                s += A[ta ? q * M + m : m * K + q]! * B[i * K * N + (tb ? n * K + q : q * N + n)]!
              ref[i * M * N + m * N + n] = ref[i * M * N + m * N + n]! + s
            }
        k.gemmBatched(ta, tb, batch, M, N, K, A, 0, B, K * N, C, 0.5)
        expect(maxAbs(C, ref), `transA=${ta} transB=${tb}`).toBeLessThan(1e-5)
      }
    }
  })

  it("adam: bit-identical to the float64 TypeScript update (with and without a gradient)", () => {
    const n = 100_003
    const w = rand(n, 4)
    const g = rand(n, 5)
    const m = rand(n, 6).map((x) => x * 0.01)
    const v = rand(n, 7).map((x) => x * x * 1e-4)
    const [b1, b2, eps, scale] = [0.9, 0.999, 1e-8, 0.7]
    const stepSize = 1e-3 / (1 - b1 ** 3)
    const sqrtBc2 = Math.sqrt(1 - b2 ** 3)
    for (const grad of [g, undefined]) {
      const [w1, m1, v1] = [w.slice(), m.slice(), v.slice()]
      const [w2, m2, v2] = [w.slice(), m.slice(), v.slice()]
      k.adam(w1, grad, m1, v1, b1, b2, stepSize, sqrtBc2, eps, scale)
      for (let i = 0; i < n; i++) {
        const gi = grad === undefined ? 0 : grad[i]! * scale
        const mi = Math.fround(b1 * m2[i]! + (1 - b1) * gi)
        const vi = Math.fround(b2 * v2[i]! + (1 - b2) * gi * gi)
        m2[i] = mi
        v2[i] = vi
        w2[i] = w2[i]! - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps)
      }
      expect(Buffer.from(w1.buffer).equals(Buffer.from(w2.buffer))).toBe(true)
      expect(Buffer.from(m1.buffer).equals(Buffer.from(m2.buffer))).toBe(true)
      expect(Buffer.from(v1.buffer).equals(Buffer.from(v2.buffer))).toBe(true)
    }
  })

  it("csrDecode, rowDots, scatterByFeature, transpose against loops", () => {
    const [B, F, W] = [6, 10, 8]
    const rowPtr = Int32Array.of(0, 2, 3, 3, 6, 7, 9)
    const cols = Int32Array.of(1, 4, 4, 0, 9, 4, 2, 1, 4)
    const rows = new Int32Array(cols.length)
    for (let b = 0; b < B; b++) rows.fill(b, rowPtr[b]!, rowPtr[b + 1]!)
    const vals = rand(cols.length, 8).map(Math.abs)
    const Wd = rand(F * W, 9)
    const out = rand(B * W, 10)
    const ref = out.slice()
    for (let n = 0; n < cols.length; n++)
      for (let r = 0; r < W; r++) ref[rows[n]! * W + r]! += vals[n]! * Wd[cols[n]! * W + r]!
    k.csrDecode(rowPtr, cols, vals, Wd, W, out)
    expect(maxAbs(out, ref)).toBeLessThan(1e-6)

    const dots = new Float32Array(cols.length + 2)
    k.rowDots(out, rows, Wd, cols, W, dots, 2)
    for (let n = 0; n < cols.length; n++) {
      let s = 0
      for (let r = 0; r < W; r++) s += out[rows[n]! * W + r]! * Wd[cols[n]! * W + r]!
      expect(Math.abs(dots[n + 2]! - s)).toBeLessThan(1e-5)
    }

    // entries sorted by feature; the last two are aux entries (rows of Daux)
    const order = Int32Array.from([...cols.keys()].sort((a, b) => cols[a]! - cols[b]! || a - b))
    const start = new Int32Array(F + 1)
    for (const c of cols) start[c + 1]!++
    for (let j = 0; j < F; j++) start[j + 1]! += start[j]!
    const nMain = cols.length - 2
    const [D, Daux, x, g] = [rand(B * W, 11), rand(B * W, 12), rand(B * W, 13), rand(cols.length, 14)]
    const [dWd, dWeT] = [new Float32Array(F * W), new Float32Array(F * W)]
    const [rWd, rWeT] = [new Float32Array(F * W), new Float32Array(F * W)]
    for (const e of order) {
      const src = e < nMain ? D : Daux
      for (let r = 0; r < W; r++) {
        rWd[cols[e]! * W + r]! += vals[e]! * src[rows[e]! * W + r]!
        rWeT[cols[e]! * W + r]! += g[e]! * x[rows[e]! * W + r]!
      }
    }
    k.scatterByFeature(start, order, rows, cols, vals, g, nMain, D, Daux, x, W, dWd, dWeT)
    expect(maxAbs(dWd, rWd)).toBeLessThan(1e-6)
    expect(maxAbs(dWeT, rWeT)).toBeLessThan(1e-6)

    const t = new Float32Array(F * W)
    k.transpose(dWeT, F, W, t)
    for (let j = 0; j < F; j++) for (let r = 0; r < W; r++) expect(t[r * F + j]).toBe(dWeT[j * W + r])
  })

  it("topkRows: descending, ties by lower index; binary/unary ops; bf16 widening", () => {
    const x = Float32Array.of(1, 3, 3, 2, 5, 3, /* row 2 */ -1, -2, -3, -4, -5, -6)
    const [v, i] = [new Float32Array(6), new Int32Array(6)]
    k.topkRows(x, 2, 6, 3, v, i)
    expect(Array.from(v)).toEqual([5, 3, 3, -1, -2, -3])
    expect(Array.from(i)).toEqual([4, 1, 2, 0, 1, 2])

    const a = Float32Array.of(1, 2, 3, 4, 5, 6)
    const b = Float32Array.of(10, 20, 30)
    const o = new Float32Array(6)
    k.binary(BinaryOps.add, a, b, o, 1, 2, 3, 0, 3, 1, 0, 0, 1) // [2, 3] + [3]
    expect(Array.from(o)).toEqual([11, 22, 33, 14, 25, 36])
    k.unary(UnaryOps.relu, Float32Array.of(-1, 0, 2), o)
    expect(Array.from(o.subarray(0, 3))).toEqual([0, 0, 2])

    const f = new Float32Array(2)
    k.bf16ToF32(Uint16Array.of(0x3f80, 0xc000), f)
    expect(Array.from(f)).toEqual([1, -2])
  })

  it("refuses bad arguments with a RangeError naming them", () => {
    expect(() =>
      k.rowDots(
        new Float32Array(4),
        Int32Array.of(0),
        new Float32Array(4),
        Int32Array.of(0, 1),
        4,
        new Float32Array(2),
        0
      )
    ).toThrow(/rowDots: ai and bi differ in length/)
    expect(() =>
      k.adam(new Float32Array(2), undefined, new Float32Array(1), new Float32Array(2), 0.9, 0.999, 1, 1, 1e-8, 1)
    ).toThrow(/adam: w, g, m and v differ in length/)
  })
})
