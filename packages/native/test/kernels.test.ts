/**
 * @crosscode/native's kernels against plain TypeScript references: BLAS matmul (float32
 * rounding), the sparse crosscoder loops, TopK order, and Adam bit for bit (the crosscoder's
 * Adam relies on it). Skipped, saying why, where the addon was not built.
 */
import { describe, expect, it } from "vitest"
import { BinaryOps, loadNativeKernels, UnaryOps } from "../src/index.js"
import { rand } from "./helpers.js"

const load = loadNativeKernels()
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

describe.skipIf(!load.ok)(`@crosscode/native kernels${load.ok ? "" : ` (skipped: ${load.reason})`}`, () => {
  const k = load.ok ? load.kernels : (undefined as never)

  it("gemmBatched: every transpose, a broadcast A, beta accumulation; one row (the sgemv path)", () => {
    for (const [M, N, K, batch] of [
      [5, 7, 9, 3],
      [1, 7, 9, 3]
    ] as const)
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
          expect(maxAbs(C, ref), `M=${M} transA=${ta} transB=${tb}`).toBeLessThan(1e-5)
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

  it("fused step kernels: encodeTopK, decodeLoss, scatterByFeatureT, sumSquaresBlocked = the per-kernel path", () => {
    // typed in @crosscode/crosscoder (fusedKernels.ts), so that an older addon is detected there
    const f = k as unknown as Record<string, (...a: Array<unknown>) => unknown>
    const [B, W, F, kk, S] = [7, 6, 37, 5, 2]
    const [x, We, be] = [rand(B * W, 20), rand(W * F, 21), rand(F, 22)]
    // per-kernel reference: gemm, bias + relu (float32), topkRows
    const ref = new Float32Array(B * F)
    k.gemmBatched(false, false, 1, B, F, W, x, 0, We, 0, ref, 0)
    const be2 = be.slice()
    be2[3] = Number.NaN // a NaN pre-activation stays NaN through relu and ranks first, as in topkRows
    for (let i = 0; i < ref.length; i++) {
      const y = Math.fround(ref[i]! + be2[i % F]!)
      // biome-ignore lint/complexity/useMathMinMax: the C relu's exact form (keeps -0, as the kernel does)
      ref[i] = y < 0 ? 0 : y
    }
    const [rv, ri] = [new Float32Array(B * kk), new Int32Array(B * kk)]
    k.topkRows(ref, B, F, kk, rv, ri)
    const [pre, v, ix] = [new Float32Array(B * F), new Float32Array(B * kk), new Int32Array(B * kk)]
    f.encodeTopK!(x, We, be2, B, W, F, kk, pre, v, ix)
    expect(Array.from(pre)).toEqual(Array.from(ref))
    expect(Array.from(ix)).toEqual(Array.from(ri))
    expect(Array.from(v)).toEqual(Array.from(rv))

    // CSR entries from the selection (positive values only)
    const rowPtr = new Int32Array(B + 1)
    const [cols, vals, rows] = [[] as Array<number>, [] as Array<number>, [] as Array<number>]
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < kk; j++) {
        const val = v[b * kk + j]!
        if (!(val > 0) || !Number.isFinite(val)) continue
        cols.push(ix[b * kk + j]!)
        vals.push(val)
        rows.push(b)
      }
      rowPtr[b + 1] = cols.length
    }
    const [C, V, R] = [Int32Array.from(cols), Float32Array.from(vals), Int32Array.from(rows)]
    const [Wd, bd] = [rand(F * W, 23), rand(W, 24)]
    for (const [kind, name] of [
      [0, "mse"],
      [1, "sse"],
      [2, "l2"]
    ] as const) {
      const E0 = new Float32Array(B * W)
      for (let b = 0; b < B; b++) E0.set(bd, b * W)
      k.csrDecode(rowPtr, C, V, Wd, W, E0)
      for (let i = 0; i < E0.length; i++) E0[i] = Math.fround(E0[i]! - x[i]!)
      let sq = 0
      let norms = 0
      const dRef = new Float32Array(B * W)
      const d = W / S
      for (let bs = 0; bs < B * S; bs++) {
        let acc = 0
        for (let i = 0; i < d; i++) acc += E0[bs * d + i]! * E0[bs * d + i]!
        sq += acc
        const n = Math.sqrt(acc)
        norms += n
        const c = kind === 0 ? 2 / (B * W) : kind === 1 ? 2 / B : n > 0 ? 1 / (n * B * S) : 0
        for (let i = 0; i < d; i++) dRef[bs * d + i] = c * E0[bs * d + i]!
      }
      const dbdRef = new Float32Array(W)
      for (let b = 0; b < B; b++) for (let r = 0; r < W; r++) dbdRef[r] = dbdRef[r]! + dRef[b * W + r]!
      const [E, dX, dbd] = [new Float32Array(B * W), new Float32Array(B * W), new Float32Array(W)]
      const [s, nt] = f.decodeLoss!(rowPtr, C, V, Wd, bd, x, W, S, kind, E, dX, dbd) as [number, number]
      expect(Array.from(E), name).toEqual(Array.from(E0))
      expect(maxAbs(dX, dRef), name).toBeLessThan(1e-7)
      expect(maxAbs(dbd, dbdRef), name).toBeLessThan(1e-6)
      expect(Math.abs(s - sq), name).toBeLessThan(1e-9 * sq)
      if (kind === 2) expect(Math.abs(nt - norms)).toBeLessThan(1e-9 * norms)
      // the optional dots: the same values as rowDots over the same dXhat, bit for bit
      const dots = new Float32Array(C.length)
      f.decodeLoss!(rowPtr, C, V, Wd, bd, x, W, S, kind, E, dX, dbd, dots)
      const rows = Int32Array.from(C, (_, n) => {
        let b = 0
        while (rowPtr[b + 1]! <= n) b++
        return b
      })
      const viaRowDots = new Float32Array(C.length)
      k.rowDots(dX, rows, Wd, C, W, viaRowDots, 0)
      expect(Array.from(dots), name).toEqual(Array.from(viaRowDots))
    }

    // ∂W_dec and ∂W_enc (transposed) against scatterByFeature + transpose: bit for bit
    const order = Int32Array.from([...C.keys()].sort((a, b) => C[a]! - C[b]! || a - b))
    const start = new Int32Array(F + 1)
    for (const c of C) start[c + 1]!++
    for (let j = 0; j < F; j++) start[j + 1]! += start[j]!
    const nMain = C.length - 3
    const [D, Daux, g] = [rand(B * W, 25), rand(B * W, 26), rand(C.length, 27)]
    const [rWd, rWeT, rWe] = [new Float32Array(F * W), new Float32Array(F * W), new Float32Array(W * F)]
    k.scatterByFeature(start, order, R, C, V, g, nMain, D, Daux, x, W, rWd, rWeT)
    k.transpose(rWeT, F, W, rWe)
    const [dWd, dWe] = [rand(F * W, 28), rand(W * F, 29)] // overwritten
    f.scatterByFeatureT!(start, order, R, V, g, nMain, D, Daux, x, W, dWd, dWe)
    expect(Array.from(dWd)).toEqual(Array.from(rWd))
    expect(Array.from(dWe)).toEqual(Array.from(rWe))

    const big = rand(200_001, 30)
    const s1 = f.sumSquaresBlocked!(big) as number
    expect(Math.abs(s1 - k.sumSquares(big))).toBeLessThan(1e-9 * s1)
    k.setThreads(1)
    expect(f.sumSquaresBlocked!(big)).toBe(s1)
    k.setThreads(load.ok ? load.threads : 1)
    expect(() => f.encodeTopK!(x, We, be, B, W, F, F + 1, pre, v, ix)).toThrow(/encodeTopK: k must be/)
    expect(() => f.scatterByFeatureT!(start, order, R, V, g, nMain, D, undefined, x, W, dWd, dWe)).toThrow(
      /scatterByFeatureT: an aux entry has no Daux row/
    )
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

  it("topkRows on long rows (the threshold pass): equal to a full sort, with ties, zeros, NaN and ±Inf", () => {
    const reference = (row: Float32Array, kk: number) => {
      const key = (v: number) => (Number.isNaN(v) ? Number.POSITIVE_INFINITY : v)
      const order = Array.from(row.keys()).sort((p, q) => key(row[q]!) - key(row[p]!) || p - q)
      return order.slice(0, kk)
    }
    const F = 4096
    const rows: Array<[string, Float32Array]> = [
      ["uniform", rand(F, 11)],
      ["relu (mostly zeros)", rand(F, 12).map((v) => Math.max(0, v - 0.9))],
      ["all zeros", new Float32Array(F)],
      ["few distinct values (ties)", rand(F, 13).map((v) => Math.round(v * 3))],
      [
        "a NaN and ±Inf",
        rand(F, 14).map((v, i) => (i === 77 ? Number.NaN : i === 3000 ? Infinity : i === 5 ? -Infinity : v))
      ],
      ["ascending", Float32Array.from({ length: F }, (_, i) => i)],
      ["descending", Float32Array.from({ length: F }, (_, i) => -i)],
      // ±0 are equal to tf.topk (ties by index), though their bits differ
      [
        "signed zeros",
        // every 64th value 1 (20 of them), then alternating −0 and +0 (44); the rest −1
        Float32Array.from({ length: F }, (_, i) => (i % 64 !== 0 ? -1 : i < 20 * 64 ? 1 : (i / 64) % 2 ? -0 : 0))
      ],
      // the bound under −∞ admits nothing: the plain heap
      ["mostly −Inf", Float32Array.from({ length: F }, (_, i) => (i % 1000 === 7 ? i : -Infinity))],
      ["sums of uniforms (near-Gaussian)", ((g) => rand(F, 15).map((v, i) => v + g[i]!))(rand(F, 16))]
    ]
    for (const kk of [1, 32, 200, 1000]) {
      for (const [name, row] of rows) {
        const [v, ix] = [new Float32Array(kk), new Int32Array(kk)]
        k.topkRows(row, 1, F, kk, v, ix)
        const want = reference(row, kk)
        expect(Array.from(ix), `${name}, k=${kk}`).toEqual(want)
        expect(Array.from(v), `${name}, k=${kk}`).toEqual(want.map((i) => row[i]!))
      }
    }
    // a row longer than the candidate budget's spans (blocks of 2,344 at k = 32)
    const long = rand(300_000, 17)
    const [v, ix] = [new Float32Array(32), new Int32Array(32)]
    k.topkRows(long, 1, long.length, 32, v, ix)
    expect(Array.from(ix)).toEqual(reference(long, 32))
  })

  it("entryStats = the sparse step's TypeScript bookkeeping, bit for bit (L1 terms, ∂ added to g, ∂b_enc, fired, by feature)", () => {
    const f = k as unknown as { entryStats: (...a: Array<unknown>) => void }
    const [F, n, B, T] = [37, 300, 16, 3]
    const cols = Int32Array.from(rand(n, 61), (v) => Math.floor(((v + 1) / 2) * F) % F)
    const vals = Float32Array.from(rand(n, 62), (v) => Math.abs(v) + 0.01)
    const g0 = rand(n, 63)
    const weights = Float32Array.from(rand(T * F, 64), Math.abs)
    for (const coefs of [Float64Array.of(0.3, 0, 1e-3), Float64Array.of(0, 0, 0)]) {
      // the TypeScript loops of packages/crosscoder's sparse step (l1Parts, dbe, countFired, byFeature)
      const wantValues = Array.from({ length: T }, (_, t) => {
        let acc = 0
        for (let e = 0; e < n; e++) acc += weights[t * F + cols[e]!]! * vals[e]!
        return acc
      })
      let l1: Float64Array | undefined
      for (let t = 0; t < T; t++) {
        if (coefs[t] === 0) continue
        l1 ??= new Float64Array(F)
        for (let j = 0; j < F; j++) l1[j] = l1[j]! + (coefs[t]! * weights[t * F + j]!) / B
      }
      const wantG = g0.slice()
      if (l1 !== undefined) for (let e = 0; e < n; e++) wantG[e] = wantG[e]! + l1[cols[e]!]!
      const wantDbe = new Float32Array(F)
      const wantFired = new Float32Array(F)
      for (let e = 0; e < n; e++) {
        wantDbe[cols[e]!] = wantDbe[cols[e]!]! + wantG[e]!
        wantFired[cols[e]!] = wantFired[cols[e]!]! + 1
      }
      const wantOrder = Array.from(cols.keys()).sort((a, b) => cols[a]! - cols[b]! || a - b)
      const g = g0.slice()
      const [tv, dbe, fired, start, order] = [
        new Float64Array(T),
        new Float32Array(F).fill(7),
        new Float32Array(F).fill(7),
        new Int32Array(F + 1).fill(7),
        new Int32Array(n)
      ]
      f.entryStats(cols, vals, g, weights, coefs, B, F, tv, dbe, fired, start, order)
      expect(Array.from(tv)).toEqual(wantValues)
      expect(Array.from(g)).toEqual(Array.from(wantG))
      expect(Array.from(dbe)).toEqual(Array.from(wantDbe))
      expect(Array.from(fired)).toEqual(Array.from(wantFired))
      expect(Array.from(order)).toEqual(wantOrder)
      for (let j = 0; j < F; j++) expect(start[j + 1]! - start[j]!).toBe(wantFired[j])
    }
    expect(() =>
      f.entryStats(
        Int32Array.of(F),
        vals.subarray(0, 1),
        g0,
        weights,
        new Float64Array(T),
        B,
        F,
        new Float64Array(T),
        new Float32Array(F),
        new Float32Array(F),
        new Int32Array(F + 1),
        new Int32Array(1)
      )
    ).toThrow(/entryStats: a column index is outside/)
  })

  it("topkEntries: the positive TopK entries as CSR by row, in order (0, negatives and NaN left out)", () => {
    const f = k as unknown as {
      topkEntries: (...a: Array<unknown>) => number
    }
    const v = Float32Array.of(3, 1, 0, /* row 1 */ Number.NaN, -1, 2, /* row 2 */ 0, 0, 0, /* row 3 */ 5, 4, 0.5)
    const j = Int32Array.of(7, 2, 9, 4, 1, 0, 3, 5, 6, 8, 1, 2)
    const [rowPtr, rows, cols, vals] = [new Int32Array(5), new Int32Array(12), new Int32Array(12), new Float32Array(12)]
    const n = f.topkEntries(v, j, 4, 3, rowPtr, rows, cols, vals)
    expect(n).toBe(6)
    expect(Array.from(rowPtr)).toEqual([0, 2, 3, 3, 6])
    expect(Array.from(rows.subarray(0, n))).toEqual([0, 0, 1, 3, 3, 3])
    expect(Array.from(cols.subarray(0, n))).toEqual([7, 2, 0, 8, 1, 2])
    expect(Array.from(vals.subarray(0, n))).toEqual([3, 1, 2, 5, 4, 0.5])
    expect(() => f.topkEntries(v, j, 4, 3, new Int32Array(4), rows, cols, vals)).toThrow(
      /topkEntries: rowPtr is shorter/
    )
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
