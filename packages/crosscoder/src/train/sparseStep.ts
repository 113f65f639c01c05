/**
 * The sparse step for TopK and BatchTopK crosscoders. Only the encoder forward is a dense matmul
 * (B·S·d·F); with k ≪ F active features per row (on average, for BatchTopK), the decoder forward,
 * ∂L/∂codes, ∂W_dec and ∂W_enc involve only the active (and aux-k) entries (b, j, v):
 *
 *   x̂_b        = b_dec + Σ_{(b,j,v)} v W_dec[j]                  (N·S·d, N = active entries ≈ k·B)
 *   ∂v         = ∂x̂_b · W_dec[j]                                 (N·S·d)
 *   ∂W_dec[j]  = Σ_{(b,j,v)} v ∂x̂_b                               (N·S·d)
 *   ∂W_enc[:,j] = Σ_{(b,j)} ∂pre_bj x_b,  ∂b_enc[j] = Σ ∂pre_bj     (N·S·d)
 *
 * with ∂pre_bj = ∂v + Σ_t λ_t w_tj / B (partition L1; codes are ≥ 0, so |f| = f) on the active
 * entries and ∂v_aux on the aux-k entries. Entries whose code is 0 (fewer positive values than k)
 * contribute nothing and are dropped.
 *
 * The selection is computed on the backend with the very ops of the dense step (tf.topk on the
 * same pre-activations and scores), so both steps pick the same features; the rest differs from
 * `denseStep` only by float summation order. Two kernel sets do the sparse part:
 *   - "tensor": TensorFlow.js ops — gatherND of W_dec / ∂x̂ / x rows, scatterND to sum them by
 *               feature or row (summing duplicates), in chunks of ≤ `chunkElements` gathered
 *               values, a transpose for ∂W_enc — so the work stays on the backend's device;
 *   - "host":   plain loops over the host copies of the weights (no `[N, S·d]` intermediates).
 *   - "native": the host algorithm with @crosscode/native's multi-threaded C loops (only while
 *               the `native` backend is active).
 * `kernels: "auto"` (`sparseKernelsFor`) picks "native" on the native backend, "host" on the pure-JS cpu backend (its gather and
 * scatter kernels are ~20× slower than the loops) and on wasm for small steps (< 2¹⁷ gathered
 * values: per-op overhead dominates), "tensor" everywhere else: on wasm the tensor kernels measured
 * ~10–30% faster than the loops for the sparse part at bench shapes (packages/crosscoder/README.md).
 *
 * Supported: schemes with `perRowTopK` (TopK) or `batchTopK` (BatchTopK, stats `minActive` for
 * the threshold EMA as the dense step) and no loss terms or parameters of their own; every
 * reconstruction loss, the partition L1 terms and aux-k. Anything else: `supports` says why.
 */
import { activeNativeKernels, NATIVE_BACKEND, wasmXnnFailureCount } from "@crosscode/core"
import type { Crosscoder } from "../model/Crosscoder.js"
import type { SparsityContext, SparsityScheme } from "../sparsity/SparsityScheme.js"
import type { Scalar, Tensor, Tensor1D, Tensor2D, TF } from "../tf.js"
import { reconstructionLoss } from "./denseStep.js"
import { decodeLossFillsDots, type FusedStepKernels, fusedStepKernels } from "./fusedKernels.js"
import {
  type GradientProgram,
  type GradientResult,
  type HostValues,
  runGradientProgram,
  type StepInput,
  type TrainStep,
  XNN_FAILED
} from "./step.js"

/** How the sparse part of the step is computed. */
export type SparseKernels = "host" | "tensor" | "native"

export interface SparseStepOptions {
  /** "auto" (default): `sparseKernelsFor(backend)` at every call. */
  readonly kernels?: SparseKernels | "auto"
  /** Tensor kernels: at most this many values in one gathered `[n, S·d]` chunk (default 2²³ = 32 MiB). */
  readonly chunkElements?: number
  /** Called with the wall time of each phase (`encode`, `decode`, `backward`), e.g. by the benchmark. */
  readonly profile?: (phase: "encode" | "decode" | "backward", ms: number) => void
}

/** Below this many gathered values (entries × S·d) per step, wasm runs the host loops ("auto"). */
export const SMALL_SPARSE_WORK = 2 ** 17

/**
 * The kernel set "auto" uses on a backend for `work` = active entries × S·d per step (unknown =
 * large): host loops on the pure-JS cpu backend, and on wasm for small work (where the per-op
 * overhead of ~40 TensorFlow.js ops outweighs the loops); TensorFlow.js ops otherwise.
 */
export const sparseKernelsFor = (backend: string, work?: number): SparseKernels =>
  backend === "native"
    ? "native"
    : backend === "cpu" || (backend === "wasm" && work !== undefined && work < SMALL_SPARSE_WORK)
      ? "host"
      : "tensor"

/** The sparse step's active-entry count per step (without aux-k): k·B. */
export const sparseEntriesPerStep = (cc: Crosscoder, batchSize: number): number | undefined => {
  const r = ruleOf(cc.sparsity)
  return r === undefined ? undefined : Math.min(r.k, cc.features) * batchSize
}

// ---------------------------------------------------------------------------------------------
// selection

type Rule =
  | { readonly kind: "row"; readonly k: number }
  | {
      readonly kind: "batch"
      readonly k: number
      readonly scores: (relu: Tensor2D, ctx: SparsityContext) => Tensor2D
    }

const ruleOf = (s: SparsityScheme): Rule | undefined =>
  s.perRowTopK !== undefined
    ? { kind: "row", k: s.perRowTopK }
    : s.batchTopK !== undefined
      ? { kind: "batch", k: s.batchTopK.k, scores: s.batchTopK.scores }
      : undefined

/** Active entries in row-major (CSR) order: row b owns `[rowPtr[b], rowPtr[b + 1])`; all `vals` > 0. */
interface Entries {
  readonly rowPtr: Int32Array
  readonly rows: Int32Array
  readonly cols: Int32Array
  readonly vals: Float32Array
}

const fromRowTopK = (v: Float32Array, j: Int32Array, B: number, k: number): Entries => {
  const rowPtr = new Int32Array(B + 1)
  let n = 0
  for (let i = 0; i < B * k; i++) if (v[i]! > 0) n++
  const rows = new Int32Array(n)
  const cols = new Int32Array(n)
  const vals = new Float32Array(n)
  n = 0
  for (let b = 0; b < B; b++) {
    for (let i = b * k; i < (b + 1) * k; i++) {
      if (!(v[i]! > 0)) continue
      rows[n] = b
      cols[n] = j[i]!
      vals[n] = v[i]!
      n++
    }
    rowPtr[b + 1] = n
  }
  return { rowPtr, rows, cols, vals }
}

/** `fromRowTopK` in one native pass, into the step's reused arrays. */
const entriesNative = (
  fused: FusedStepKernels,
  v: Float32Array,
  j: Int32Array,
  B: number,
  k: number,
  buffers: Buffers
): Entries => {
  const rowPtr = sizedInt(buffers, "rowPtr", B + 1)
  const rows = sizedInt(buffers, "rows", B * k)
  const cols = sizedInt(buffers, "cols", B * k)
  const vals = sized(buffers, "vals", B * k)
  const n = fused.topkEntries!(v, j, B, k, rowPtr, rows, cols, vals)
  return { rowPtr, rows: rows.subarray(0, n), cols: cols.subarray(0, n), vals: vals.subarray(0, n) }
}

/** Flat `b·F + j` indices (any order) → CSR by row (counting sort, stable). */
const fromFlat = (v: Float32Array, flat: Int32Array, B: number, F: number): Entries => {
  const rowPtr = new Int32Array(B + 1)
  for (let i = 0; i < flat.length; i++) {
    if (!(v[i]! > 0)) continue
    const r = Math.floor(flat[i]! / F) + 1
    rowPtr[r] = rowPtr[r]! + 1
  }
  for (let b = 0; b < B; b++) rowPtr[b + 1] = rowPtr[b + 1]! + rowPtr[b]!
  const n = rowPtr[B]!
  const rows = new Int32Array(n)
  const cols = new Int32Array(n)
  const vals = new Float32Array(n)
  const pos = rowPtr.slice(0, B)
  for (let i = 0; i < flat.length; i++) {
    if (!(v[i]! > 0)) continue
    const b = Math.floor(flat[i]! / F)
    const p = pos[b]!
    pos[b] = p + 1
    rows[p] = b
    cols[p] = flat[i]! - b * F
    vals[p] = v[i]!
  }
  return { rowPtr, rows, cols, vals }
}

interface Selection {
  readonly main: Entries
  readonly aux: Entries | undefined
  readonly stats: Record<string, Float32Array>
}

/** Encoder forward and the selections (same ops as the dense step and the scheme's `train`). */
function* select(input: StepInput, rule: Rule, kAux: number): Generator<ReadonlyArray<Tensor>, Selection, HostValues> {
  const cc = input.crosscoder
  const tf = cc.tf
  const { batchSize: B } = input
  const { width: W, features: F } = cc
  const out = tf.tidy(() => {
    const X = tf.tensor2d(input.batch, [B, W])
    const We = cc.W_enc.tensor([W, F]) as Tensor2D
    // native: one fused kernel (bias and relu in place on the product, the same arithmetic)
    const relu = (
      tf.getBackend() === NATIVE_BACKEND
        ? tf.fused.matMul({ a: X, b: We, bias: cc.b_enc.tensor(), activation: "relu" })
        : tf.relu(tf.add(tf.matMul(X, We), cc.b_enc.tensor()))
    ) as Tensor2D
    const ctx = cc.sparsityContext(input.step)
    const flatRelu = () => tf.reshape(relu, [B * F]) as Tensor1D
    let main: { values: Tensor; indices: Tensor; scored?: Tensor }
    if (rule.kind === "row") {
      main = tf.topk(relu, rule.k)
    } else {
      // batchTopKMask: tf.topk over the flattened scores, k·B of them
      const kk = Math.min(rule.k * B, B * F)
      const top = tf.topk(tf.reshape(rule.scores(relu, ctx), [B * F]), kk)
      main = { values: tf.gather(flatRelu(), top.indices), indices: top.indices, scored: top.values }
    }
    if (kAux === 0) return { main }
    const scores = cc.sparsity.auxScores?.(relu, ctx) ?? relu
    const masked = tf.where(tf.tensor1d(Uint8Array.from(input.dead!), "bool"), scores, tf.fill([B, F], -Infinity))
    const a = tf.topk(masked, kAux)
    if (scores === relu) return { main, aux: a }
    const flat = tf.add(a.indices, tf.reshape(tf.mul(tf.range(0, B, 1, "int32"), tf.scalar(F, "int32")), [B, 1]))
    return {
      main,
      aux: { values: tf.reshape(tf.gather(flatRelu(), tf.reshape(flat, [B * kAux])), [B, kAux]), indices: a.indices }
    }
  })
  const wanted = [out.main.values, out.main.indices, out.main.scored, out.aux?.values, out.aux?.indices].filter(
    (t): t is Tensor => t !== undefined
  )
  let values: HostValues
  try {
    values = yield wanted
  } finally {
    tf.dispose(wanted)
  }
  const read = new Map(wanted.map((t, i) => [t, values[i]!]))
  const host = <A>(t: Tensor) => read.get(t) as unknown as A
  const v = host<Float32Array>(out.main.values)
  const j = host<Int32Array>(out.main.indices)
  const stats: Record<string, Float32Array> = {}
  let main: Entries
  if (rule.kind === "row") main = fromRowTopK(v, j, B, rule.k)
  else {
    main = fromFlat(v, j, B, F)
    // the dense BatchTopK's `minActive`: the smallest positive selected score (Infinity if none)
    const sc = host<Float32Array>(out.main.scored!)
    let min = Number.POSITIVE_INFINITY
    for (let i = 0; i < sc.length; i++) if (sc[i]! > 0 && sc[i]! < min) min = sc[i]!
    stats.minActive = Float32Array.of(min)
  }
  const aux =
    out.aux === undefined
      ? undefined
      : fromRowTopK(host<Float32Array>(out.aux.values), host<Int32Array>(out.aux.indices), B, kAux)
  return { main, aux, stats }
}

/**
 * The fused native path's arrays, kept per crosscoder and reused while the shapes hold:
 * allocating them per step costs more than the kernels (fresh pages fault on first write — each
 * array past 128 KiB is its own mapping — and large ArrayBuffers drive V8 into full GCs). They
 * live for one step: `dWd`/`dWe` are the returned gradients, the rest the step's intermediates.
 */
interface Buffers {
  readonly f32: Map<string, Float32Array>
  readonly i32: Map<string, Int32Array>
}

const newBuffers = (): Buffers => ({ f32: new Map(), i32: new Map() })

/**
 * A reused array of length n under `key`: the kept one, or a view of it where an earlier step
 * needed more, replaced when it is too short (contents are left from the last step).
 */
const reused = <A extends Float32Array | Int32Array>(
  kept: Map<string, A>,
  key: string,
  n: number,
  make: (n: number) => A
): A => {
  let a = kept.get(key)
  if (a === undefined || a.length < n) {
    a = make(n)
    kept.set(key, a)
  }
  return (a.length === n ? a : a.subarray(0, n)) as A
}

const sized = (b: Buffers, key: string, n: number): Float32Array => reused(b.f32, key, n, (m) => new Float32Array(m))

const sizedInt = (b: Buffers, key: string, n: number): Int32Array => reused(b.i32, key, n, (m) => new Int32Array(m))

/**
 * Per-row TopK without aux-k on the native backend: the encoder matmul, bias, relu and TopK in one
 * native call on the host copies (no tensor uploads); the same sgemm and arithmetic as the
 * backend's fused matMul and TopK kernels, so the same selection as `select`.
 */
const selectNative = (input: StepInput, k: number, fused: FusedStepKernels, buffers: Buffers): Selection => {
  const cc = input.crosscoder
  const { batchSize: B } = input
  const { width: W, features: F } = cc
  const pre = sized(buffers, "pre", B * F)
  const kk = Math.min(k, F)
  const v = sized(buffers, "topValues", B * kk)
  const j = sizedInt(buffers, "topIndices", B * kk)
  fused.encodeTopK(input.batch, cc.W_enc.maskedData(), cc.b_enc.data, B, W, F, kk, pre, v, j)
  return {
    main: fused.topkEntries !== undefined ? entriesNative(fused, v, j, B, kk, buffers) : fromRowTopK(v, j, B, kk),
    aux: undefined,
    stats: {}
  }
}

// ---------------------------------------------------------------------------------------------
// shared helpers

/** Per-feature ∂(Σ_t λ_t term_t)/∂f_j = Σ_t λ_t w_tj / B, and the term values. */
const l1Parts = (input: StepInput, main: Entries, F: number) => {
  const B = input.batchSize
  const values: Record<string, number> = {}
  let grad: Float64Array | undefined
  for (const t of input.loss.l1Terms) {
    let val = 0
    for (let n = 0; n < main.cols.length; n++) val += t.weights[main.cols[n]!]! * main.vals[n]!
    values[t.name] = val / B
    const coef = input.coefficients[t.name] ?? 0
    if (coef === 0) continue
    grad ??= new Float64Array(F)
    for (let j = 0; j < F; j++) grad[j] = grad[j]! + (coef * t.weights[j]!) / B
  }
  return { values, grad }
}

/**
 * `l1Parts`, the L1 ∂ added to `g`, ∂b_enc, `countFired` and `byFeature` in one native pass
 * (`entryStats`, the same arithmetic; `g` holds the entries' ∂v from decodeLoss).
 */
const nativeEntryStats = (
  fused: FusedStepKernels,
  input: StepInput,
  main: Entries,
  g: Float32Array,
  F: number,
  buffers: Buffers | undefined
) => {
  const B = input.batchSize
  const l1Terms = input.loss.l1Terms
  const T = l1Terms.length
  const weights = new Float32Array(T * F)
  const coefs = new Float64Array(T)
  l1Terms.forEach((t, i) => {
    weights.set(t.weights.subarray(0, F), i * F)
    coefs[i] = input.coefficients[t.name] ?? 0
  })
  const termValues = new Float64Array(T)
  const dbe = new Float32Array(F)
  const fired = new Float32Array(F)
  const n = main.cols.length
  const start = buffers === undefined ? new Int32Array(F + 1) : sizedInt(buffers, "start", F + 1)
  const order = buffers === undefined ? new Int32Array(n) : sizedInt(buffers, "order", n)
  fused.entryStats!(main.cols, main.vals, g, weights, coefs, B, F, termValues, dbe, fired, start, order)
  const values: Record<string, number> = {}
  l1Terms.forEach((t, i) => {
    values[t.name] = termValues[i]! / B
  })
  return { values, dbe, fired, start, order }
}

const countFired = (main: Entries, F: number): Float32Array => {
  const fired = new Float32Array(F)
  for (let n = 0; n < main.cols.length; n++) {
    const j = main.cols[n]!
    fired[j] = fired[j]! + 1
  }
  return fired
}

const totalLoss = (terms: Record<string, number>, coefficients: Readonly<Record<string, number>>): number => {
  let total = terms.recon!
  for (const [name, v] of Object.entries(terms)) {
    if (name === "recon" || name === "mse") continue
    total += (coefficients[name] ?? 0) * v
  }
  return total
}

/** Entry order sorted by feature (stable counting sort): `order[start[j] .. start[j + 1])` are feature j's. */
const byFeature = (cols: Int32Array, F: number, buffers?: Buffers) => {
  const start = buffers === undefined ? new Int32Array(F + 1) : sizedInt(buffers, "start", F + 1).fill(0)
  for (let n = 0; n < cols.length; n++) start[cols[n]! + 1] = start[cols[n]! + 1]! + 1
  for (let j = 0; j < F; j++) start[j + 1] = start[j + 1]! + start[j]!
  const pos = start.slice(0, F)
  const order = buffers === undefined ? new Int32Array(cols.length) : sizedInt(buffers, "order", cols.length)
  for (let n = 0; n < cols.length; n++) {
    const j = cols[n]!
    order[pos[j]!] = n
    pos[j] = pos[j]! + 1
  }
  return { start, order }
}

const concatEntries = (a: Entries, b: Entries | undefined): { rows: Int32Array; cols: Int32Array } => {
  if (b === undefined) return { rows: a.rows, cols: a.cols }
  const rows = new Int32Array(a.rows.length + b.rows.length)
  const cols = new Int32Array(rows.length)
  rows.set(a.rows)
  rows.set(b.rows, a.rows.length)
  cols.set(a.cols)
  cols.set(b.cols, a.cols.length)
  return { rows, cols }
}

// ---------------------------------------------------------------------------------------------
// host kernels

/** x̂ rows (`out`, pre-filled with the bias or zeros) += Σ v W_dec[j]. */
const hostDecode = (e: Entries, Wd: Float32Array, W: number, out: Float32Array): void => {
  const B = e.rowPtr.length - 1
  for (let b = 0; b < B; b++) {
    const o = b * W
    for (let n = e.rowPtr[b]!; n < e.rowPtr[b + 1]!; n++) {
      const v = e.vals[n]!
      const p = e.cols[n]! * W
      for (let r = 0; r < W; r++) out[o + r] = out[o + r]! + v * Wd[p + r]!
    }
  }
}

/** `out[at + n] = A[ai_n] · Bm[bi_n]` over rows of width W. */
const hostDots = (
  A: Float32Array,
  ai: Int32Array,
  Bm: Float32Array,
  bi: Int32Array,
  W: number,
  out: Float32Array,
  at: number
): void => {
  for (let n = 0; n < ai.length; n++) {
    const a = ai[n]! * W
    const b = bi[n]! * W
    let s0 = 0
    let s1 = 0
    let r = 0
    for (; r + 1 < W; r += 2) {
      s0 += A[a + r]! * Bm[b + r]!
      s1 += A[a + r + 1]! * Bm[b + r + 1]!
    }
    if (r < W) s0 += A[a + r]! * Bm[b + r]!
    out[at + n] = s0 + s1
  }
}

/**
 * For entries s in `order` (sorted by feature j): `dWd[j] += v_s D[b_s]` (D = ∂x̂ for the first
 * `nMain` entries, the aux ∂ after) and `dWeT[j] += g_s x[b_s]`. (`start`, the feature offsets
 * into `order`, is for the native kernel, which splits features over threads.)
 */
const hostScatter = (
  _start: Int32Array,
  dXhat: Float32Array,
  dHat: Float32Array | undefined,
  nMain: number,
  x: Float32Array,
  rows: Int32Array,
  cols: Int32Array,
  vals: Float32Array,
  g: Float32Array,
  order: Int32Array,
  W: number,
  dWd: Float32Array,
  dWeT: Float32Array
): void => {
  for (let s = 0; s < order.length; s++) {
    const n = order[s]!
    const D = n < nMain ? dXhat : dHat!
    const o = cols[n]! * W
    const p = rows[n]! * W
    const v = vals[n]!
    const gn = g[n]!
    for (let r = 0; r < W; r++) {
      dWd[o + r] = dWd[o + r]! + v * D[p + r]!
      dWeT[o + r] = dWeT[o + r]! + gn * x[p + r]!
    }
  }
}

/** out[c * R + r] = a[r * C + c] for a `[R, C]` row-major `a` (blocked). */
const transposeInto = (a: Float32Array, R: number, C: number, out: Float32Array): void => {
  const T = 16
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

/** The loops of the host algorithm: TypeScript, or @crosscode/native's (same arithmetic per entry). */
interface HostKernels {
  readonly decode: typeof hostDecode
  readonly dots: typeof hostDots
  readonly scatter: typeof hostScatter
  readonly transpose: typeof transposeInto
  /** Native only: decode + loss + ∂x̂ + ∂b_dec in one call, ∂W_enc without the transpose. */
  readonly fused?: FusedStepKernels | undefined
}

const jsKernels: HostKernels = { decode: hostDecode, dots: hostDots, scatter: hostScatter, transpose: transposeInto }

const nativeHostKernels = (): HostKernels => {
  const k = activeNativeKernels()
  if (k === undefined)
    throw new Error('sparse kernels "native" need the native TensorFlow.js backend (CROSSCODE_BACKEND=native)')
  return {
    decode: (e, Wd, W, out) => k.csrDecode(e.rowPtr, e.cols, e.vals, Wd, W, out),
    dots: (A, ai, Bm, bi, W, out, at) => k.rowDots(A, ai, Bm, bi, W, out, at),
    scatter: (start, dXhat, dHat, nMain, x, rows, cols, vals, g, order, W, dWd, dWeT) =>
      k.scatterByFeature(start, order, rows, cols, vals, g, nMain, dXhat, dHat, x, W, dWd, dWeT),
    transpose: (a, R, C, out) => k.transpose(a, R, C, out),
    fused: fusedStepKernels()
  }
}

interface LossOut {
  readonly terms: Record<string, number>
  readonly dXhat: Float32Array
  /** Aux-k ∂ of its reconstruction (undefined when it has no gradient). */
  readonly dHat: Float32Array | undefined
  /** Σ_b ∂x̂_b when the fused kernel computed it. */
  readonly dbd?: Float32Array
}

const RECONSTRUCTION_KIND = { mse: 0, sse: 1, l2: 2 } as const

const hostLoss = (
  input: StepInput,
  sel: Selection,
  Wd: Float32Array,
  cc: Crosscoder,
  kern: HostKernels,
  buffers: Buffers | undefined,
  /** With the fused kernels: filled with ∂v of the main entries (= rowDots) by decodeLoss. */
  dots?: Float32Array
): LossOut => {
  const { batchSize: B, loss, batch: x } = input
  const { width: W, numSources: S } = cc
  // decodeLoss overwrites E and dXhat, so reused buffers need no clearing
  const reuse = kern.fused !== undefined ? buffers : undefined
  const E = reuse === undefined ? new Float32Array(B * W) : sized(reuse, "E", B * W)
  const dXhat = reuse === undefined ? new Float32Array(B * W) : sized(reuse, "dXhat", B * W)
  let dbd: Float32Array | undefined
  let sq = 0
  let recon = 0
  if (kern.fused !== undefined) {
    dbd = new Float32Array(W)
    const m = sel.main
    const kind = RECONSTRUCTION_KIND[loss.reconstruction]
    const [s, norms] = kern.fused.decodeLoss(
      m.rowPtr,
      m.cols,
      m.vals,
      Wd,
      cc.b_dec.data,
      x,
      W,
      S,
      kind,
      E,
      dXhat,
      dbd,
      dots
    )
    sq = s
    recon = loss.reconstruction === "mse" ? sq / (B * W) : loss.reconstruction === "sse" ? sq / B : norms / (B * S)
  } else {
    for (let b = 0; b < B; b++) E.set(cc.b_dec.data, b * W)
    kern.decode(sel.main, Wd, W, E)
    for (let i = 0; i < E.length; i++) E[i] = E[i]! - x[i]!
    for (let i = 0; i < E.length; i++) sq += E[i]! * E[i]!
  }
  const mse = sq / (B * W)
  if (kern.fused !== undefined) {
    // done by decodeLoss
  } else if (loss.reconstruction === "mse") {
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
  const terms: Record<string, number> = { recon, mse }
  let dHat: Float32Array | undefined
  if (sel.aux !== undefined) {
    // residual R = x − x̂ = −E (detached); ‖R − aux‖² / ‖R − mean_b R‖², both over B
    const mean = new Float64Array(W)
    for (let b = 0; b < B; b++) for (let r = 0; r < W; r++) mean[r] = mean[r]! - E[b * W + r]!
    for (let r = 0; r < W; r++) mean[r] = mean[r]! / B
    let denom = 0
    for (let b = 0; b < B; b++) {
      for (let r = 0; r < W; r++) {
        const c = -E[b * W + r]! - mean[r]!
        denom += c * c
      }
    }
    denom /= B
    const diff = new Float32Array(B * W)
    kern.decode(sel.aux, Wd, W, diff)
    let raw = 0
    for (let i = 0; i < diff.length; i++) {
      diff[i] = diff[i]! + E[i]!
      raw += diff[i]! * diff[i]!
    }
    raw /= B
    const ok = denom > 0 && Number.isFinite(denom)
    terms.auxk = ok ? raw / denom : 0
    const coef = input.coefficients.auxk ?? 0
    if (ok && coef !== 0) {
      const c = (2 * coef) / (B * denom)
      for (let i = 0; i < diff.length; i++) diff[i] = c * diff[i]!
      dHat = diff
    }
  }
  return dbd === undefined ? { terms, dXhat, dHat } : { terms, dXhat, dHat, dbd }
}

const hostGradients = (
  input: StepInput,
  sel: Selection,
  profile: SparseStepOptions["profile"],
  kern: HostKernels,
  buffers?: Buffers
): GradientResult => {
  const cc = input.crosscoder
  const { batchSize: B, batch: x } = input
  const { width: W, features: F } = cc
  let t0 = performance.now()
  const Wd = cc.W_dec.maskedData()
  const main = sel.main
  const nMain = main.cols.length
  // ∂pre on the entries: ∂v = ∂x̂_b · W_dec[j] (+ the L1 weight), row-major; the fused decodeLoss
  // computes the main entries' dots itself (it has just read those W_dec rows)
  // scatterByFeatureT reads only what this step writes, so the fused path reuses its arrays
  const reuse = kern.fused !== undefined ? buffers : undefined
  const nAll = nMain + (sel.aux?.cols.length ?? 0)
  const gAll = reuse === undefined ? new Float32Array(nAll) : sized(reuse, "g", nAll).fill(0)
  const fusedDots = kern.fused !== undefined && decodeLossFillsDots(kern.fused) ? gAll : undefined
  const { terms, dXhat, dHat, dbd: fusedDbd } = hostLoss(input, sel, Wd, cc, kern, buffers, fusedDots)
  const aux = dHat === undefined ? undefined : sel.aux
  const g = aux === undefined ? gAll.subarray(0, nMain) : gAll
  // the per-entry bookkeeping (L1 terms and their ∂, ∂b_enc, fired counts, entries by feature)
  const book =
    fusedDots !== undefined && aux === undefined && kern.fused?.entryStats !== undefined
      ? nativeEntryStats(kern.fused, input, main, g, F, reuse)
      : undefined
  if (profile !== undefined) {
    const t = performance.now()
    profile("decode", t - t0)
    t0 = t
  }
  let dbe: Float32Array
  let fired: Float32Array
  let byFeat: { start: Int32Array; order: Int32Array }
  const all = concatEntries(main, aux)
  if (book !== undefined) {
    Object.assign(terms, book.values)
    ;({ dbe, fired } = book)
    byFeat = book
  } else {
    const l1 = l1Parts(input, sel.main, F)
    Object.assign(terms, l1.values)
    if (fusedDots === undefined) kern.dots(dXhat, main.rows, Wd, main.cols, W, g, 0)
    if (l1.grad !== undefined) for (let n = 0; n < nMain; n++) g[n] = g[n]! + l1.grad[main.cols[n]!]!
    if (aux !== undefined) kern.dots(dHat!, aux.rows, Wd, aux.cols, W, g, nMain)
    dbe = new Float32Array(F)
    for (let n = 0; n < nMain; n++) dbe[main.cols[n]!] = dbe[main.cols[n]!]! + g[n]!
    if (aux !== undefined)
      for (let n = 0; n < aux.cols.length; n++) dbe[aux.cols[n]!] = dbe[aux.cols[n]!]! + g[nMain + n]!
    fired = countFired(main, F)
    // ∂W_dec[j] += v ∂x̂_b and ∂W_encᵀ[j] += ∂pre x_b, feature-major (each output row stays in cache)
    byFeat = byFeature(all.cols, F, reuse)
  }
  const { start, order } = byFeat
  // scatterByFeatureT overwrites dWd and dWe, so reused buffers need no clearing
  const dWd = reuse === undefined ? new Float32Array(F * W) : sized(reuse, "dWd", F * W)
  const dWe = reuse === undefined ? new Float32Array(W * F) : sized(reuse, "dWe", W * F)
  let vals = main.vals
  if (aux !== undefined) {
    vals = new Float32Array(all.cols.length)
    vals.set(main.vals)
    vals.set(aux.vals, nMain)
  }
  if (kern.fused !== undefined) {
    kern.fused.scatterByFeatureT(start, order, all.rows, vals, g, nMain, dXhat, dHat, x, W, dWd, dWe)
  } else {
    const dWeT = new Float32Array(F * W)
    kern.scatter(start, dXhat, dHat, nMain, x, all.rows, all.cols, vals, g, order, W, dWd, dWeT)
    kern.transpose(dWeT, F, W, dWe)
  }
  let dbd = fusedDbd
  if (dbd === undefined) {
    dbd = new Float32Array(W)
    for (let b = 0; b < B; b++) for (let r = 0; r < W; r++) dbd[r] = dbd[r]! + dXhat[b * W + r]!
  }
  profile?.("backward", performance.now() - t0)
  const grads = new Map<string, Float32Array>([
    ["W_enc", dWe],
    ["b_enc", dbe],
    ["W_dec", dWd],
    ["b_dec", dbd]
  ])
  return {
    loss: totalLoss(terms, input.coefficients),
    terms,
    grads,
    firedCounts: fired,
    stats: sel.stats
  }
}

// ---------------------------------------------------------------------------------------------
// tensor kernels

interface ChunkPlan {
  /** Entry ranges `[from, to)` and the output-row ranges `[lo, hi)` they scatter into. */
  readonly chunks: ReadonlyArray<{
    readonly from: number
    readonly to: number
    readonly lo: number
    readonly hi: number
  }>
}

/**
 * Split entries sorted by `key` (ascending, in `[0, K)`) into chunks of at most `cap` entries
 * (never splitting one key), whose key ranges cover `[0, K)` contiguously.
 */
const planChunks = (key: (s: number) => number, n: number, K: number, cap: number): ChunkPlan => {
  const chunks: Array<{ from: number; to: number; lo: number; hi: number }> = []
  let s = 0
  let lo = 0
  while (s < n) {
    const from = s
    let first = true
    while (s < n) {
      const k0 = key(s)
      let e = s + 1
      while (e < n && key(e) === k0) e++
      if (!first && e - from > cap) break
      s = e
      first = false
    }
    const hi = s >= n ? K : key(s - 1) + 1
    chunks.push({ from, to: s, lo, hi })
    lo = hi
  }
  if (lo < K) chunks.push({ from: n, to: n, lo, hi: K })
  return { chunks }
}

/**
 * `out[key_s] += w_s · D[src_s]` for entries s sorted by key; `[K, W]` result. Chunks keep every
 * gathered `[n, W]` block below `cap` rows.
 */
const scatterRows = (
  tf: TF,
  D: Tensor2D,
  src: Int32Array,
  key: Int32Array,
  w: Float32Array,
  K: number,
  cap: number
): Tensor2D => {
  const W = D.shape[1]
  const plan = planChunks((s) => key[s]!, key.length, K, cap)
  const parts = plan.chunks.map(({ from, to, lo, hi }) =>
    tf.tidy(() => {
      const n = to - from
      if (n === 0) return tf.zeros([hi - lo, W]) as Tensor2D
      const local = new Int32Array(n)
      for (let s = 0; s < n; s++) local[s] = key[from + s]! - lo
      const G = tf.gatherND(D, tf.tensor2d(src.subarray(from, to), [n, 1], "int32"))
      const Gw = tf.mul(G, tf.tensor2d(w.subarray(from, to), [n, 1]))
      return tf.scatterND(tf.tensor2d(local, [n, 1], "int32"), Gw, [hi - lo, W]) as Tensor2D
    })
  )
  if (parts.length === 1) return parts[0]!
  const out = tf.concat(parts, 0) as Tensor2D
  tf.dispose(parts)
  return out
}

/** `[n]`: `A[ai_s] · Bm[bi_s]` (row dot products), in chunks. */
const rowDots = (tf: TF, A: Tensor2D, ai: Int32Array, Bm: Tensor2D, bi: Int32Array, cap: number): Tensor1D => {
  const n = ai.length
  if (n === 0) return tf.zeros([0]) as Tensor1D
  const parts: Array<Tensor1D> = []
  for (let from = 0; from < n; from += cap) {
    const to = Math.min(n, from + cap)
    parts.push(
      tf.tidy(() => {
        const m = to - from
        const a = tf.gatherND(A, tf.tensor2d(ai.subarray(from, to), [m, 1], "int32"))
        const b = tf.gatherND(Bm, tf.tensor2d(bi.subarray(from, to), [m, 1], "int32"))
        return tf.sum(tf.mul(a, b), 1) as Tensor1D
      })
    )
  }
  if (parts.length === 1) return parts[0]!
  const out = tf.concat(parts, 0) as Tensor1D
  tf.dispose(parts)
  return out
}

function* tensorGradients(input: StepInput, sel: Selection, options: SparseStepOptions): GradientProgram {
  const cc = input.crosscoder
  const tf = cc.tf
  const { batchSize: B, loss } = input
  const { width: W, features: F, numSources: S } = cc
  const cap = Math.max(1, Math.floor((options.chunkElements ?? 2 ** 23) / W))
  const { main, aux } = sel
  let t0 = performance.now()
  // ---- forward, loss, ∂x̂, ∂v (on the backend)
  const fwd = tf.tidy(() => {
    const X = tf.tensor2d(input.batch, [B, W])
    const Wd = cc.W_dec.tensor([F, W]) as Tensor2D
    const xhat = tf.add(scatterRows(tf, Wd, main.cols, main.rows, main.vals, B, cap), cc.b_dec.tensor([W])) as Tensor2D
    const E = tf.sub(xhat, X) as Tensor2D
    const rec = reconstructionLoss(tf, loss.reconstruction, E, S)
    const mse = loss.reconstruction === "mse" ? rec.value : (tf.mean(tf.square(E)) as Scalar)
    const dv = rowDots(tf, rec.grad, main.rows, Wd, main.cols, cap)
    const dbd = tf.matMul(tf.ones([1, B]), rec.grad) // Σ_b ∂x̂_b (a matmul: wasm sums over axis 0 by transposing)
    let a: { value: Scalar; dHat: Tensor2D | undefined; dv: Tensor1D | undefined } | undefined
    if (aux !== undefined) {
      const auxHat = scatterRows(tf, Wd, aux.cols, aux.rows, aux.vals, B, cap)
      const R = tf.neg(E)
      const diff = tf.sub(auxHat, R)
      const raw = tf.div(tf.sum(tf.square(diff)), B)
      const centred = tf.sub(R, tf.mean(R, 0, true))
      const denom = tf.div(tf.sum(tf.square(centred)), B) as Scalar
      // denom > 0 and finite, decided on the device (as the dense step): no read mid-step
      const ok = tf.logicalAnd(tf.greater(denom, 0), tf.isFinite(denom))
      const zero = tf.scalar(0)
      const coef = input.coefficients.auxk ?? 0
      const dHat =
        coef !== 0
          ? (tf.mul(diff, tf.where(ok, tf.div(tf.scalar((2 * coef) / B), denom), zero)) as Tensor2D)
          : undefined
      a = {
        value: tf.where(ok, tf.div(raw, denom), zero) as Scalar,
        dHat,
        dv: dHat === undefined ? undefined : rowDots(tf, dHat, aux.rows, Wd, aux.cols, cap)
      }
    }
    return { X, dXhat: rec.grad, recon: rec.value, mse, dv, dbd, aux: a }
  })
  const disposeFwd = () =>
    tf.dispose([
      fwd.X,
      fwd.dXhat,
      fwd.recon,
      fwd.mse,
      fwd.dv,
      fwd.dbd,
      ...(fwd.aux === undefined
        ? []
        : ([fwd.aux.value, fwd.aux.dHat, fwd.aux.dv].filter((t) => t !== undefined) as Array<Tensor>))
    ])
  const wanted1 = [
    fwd.recon,
    fwd.mse,
    fwd.dv,
    ...(fwd.aux === undefined ? [] : [fwd.aux.value]),
    ...(fwd.aux?.dv !== undefined ? [fwd.aux.dv] : [])
  ]
  let values1: HostValues
  try {
    values1 = yield wanted1
  } catch (e) {
    disposeFwd()
    throw e
  }
  const terms: Record<string, number> = {
    recon: values1[0]![0]!,
    mse: values1[1]![0]!
  }
  if (fwd.aux !== undefined) terms.auxk = values1[3]![0]!
  const l1 = l1Parts(input, main, F)
  Object.assign(terms, l1.values)
  // ∂pre on the entries (host: N values)
  const nMain = main.cols.length
  const dvMain = values1[2] as Float32Array
  const dvAux = fwd.aux?.dv !== undefined ? (values1[4] as Float32Array) : undefined
  const nAll = nMain + (dvAux?.length ?? 0)
  const g = new Float32Array(nAll)
  const dbe = new Float32Array(F)
  for (let n = 0; n < nMain; n++) {
    const j = main.cols[n]!
    g[n] = dvMain[n]! + (l1.grad === undefined ? 0 : l1.grad[j]!)
    dbe[j] = dbe[j]! + g[n]!
  }
  if (dvAux !== undefined) {
    for (let n = 0; n < dvAux.length; n++) {
      g[nMain + n] = dvAux[n]!
      dbe[aux!.cols[n]!] = dbe[aux!.cols[n]!]! + dvAux[n]!
    }
  }
  if (options.profile !== undefined) {
    const t = performance.now()
    options.profile("decode", t - t0)
    t0 = t
  }
  // ---- ∂W_dec and ∂W_enc: sums by feature (entries sorted by feature)
  const withAux = dvAux !== undefined
  const all = concatEntries(main, withAux ? aux : undefined)
  const { order } = byFeature(all.cols, F)
  const m = order.length
  const src = new Int32Array(m) // row of [∂x̂; ∂aux] (aux rows offset by B)
  const xRow = new Int32Array(m)
  const key = new Int32Array(m)
  const v = new Float32Array(m)
  const gs = new Float32Array(m)
  for (let s = 0; s < m; s++) {
    const n = order[s]!
    const isMain = n < nMain
    xRow[s] = all.rows[n]!
    src[s] = isMain ? all.rows[n]! : all.rows[n]! + B
    key[s] = all.cols[n]!
    v[s] = isMain ? main.vals[n]! : aux!.vals[n - nMain]!
    gs[s] = g[n]!
  }
  const back = tf.tidy(() => {
    const D = withAux ? (tf.concat([fwd.dXhat, fwd.aux!.dHat!], 0) as Tensor2D) : fwd.dXhat
    const dWd = scatterRows(tf, D, src, key, v, F, cap)
    const dWe = tf.transpose(scatterRows(tf, fwd.X, xRow, key, gs, F, cap))
    return { dWd, dWe }
  })
  let values2: HostValues
  try {
    values2 = yield [back.dWe, back.dWd, fwd.dbd]
  } finally {
    tf.dispose([back.dWd, back.dWe])
    disposeFwd()
  }
  const grads = new Map<string, Float32Array>([
    ["W_enc", values2[0] as Float32Array],
    ["b_enc", dbe],
    ["W_dec", values2[1] as Float32Array],
    ["b_dec", values2[2] as Float32Array]
  ])
  options.profile?.("backward", performance.now() - t0)
  return {
    loss: totalLoss(terms, input.coefficients),
    terms,
    grads,
    firedCounts: countFired(main, F),
    stats: sel.stats
  }
}

// ---------------------------------------------------------------------------------------------

const supports = (cc: Crosscoder): string | undefined => {
  const s = cc.sparsity
  if (ruleOf(s) === undefined)
    return `the sparse step needs a per-row TopK or a BatchTopK scheme (perRowTopK or batchTopK); "${s.spec.kind}" is neither (use the dense step)`
  if (Object.keys(s.coefficients).length > 0 || s.params.length > 0)
    return `the sparse step supports TopK/BatchTopK schemes without own loss terms or parameters; "${s.spec.kind}" has some`
  return undefined
}

/** A sparse step with the given kernel choice (see the module comment). */
export const makeSparseStep = (options: SparseStepOptions = {}): TrainStep => {
  const kernels = options.kernels ?? "auto"
  const buffers = new WeakMap<Crosscoder, Buffers>()
  const buffersOf = (cc: Crosscoder): Buffers => {
    let b = buffers.get(cc)
    if (b === undefined) {
      b = newBuffers()
      buffers.set(cc, b)
    }
    return b
  }
  return {
    name: kernels === "auto" ? "sparse" : `sparse-${kernels}`,
    supports,
    gradients: (input: StepInput): GradientResult => runGradientProgram(program(input)),
    program
  }
  function* program(input: StepInput): GradientProgram {
    const cc = input.crosscoder
    const why = supports(cc)
    if (why !== undefined) throw new Error(why)
    const rule = ruleOf(cc.sparsity)!
    const nDead = input.dead === undefined ? 0 : input.dead.reduce((a, b) => a + b, 0)
    const kAux = input.loss.auxK !== undefined && nDead > 0 ? Math.min(input.loss.auxK.k, nDead) : 0
    const xnn = wasmXnnFailureCount()
    const t0 = performance.now()
    // per-row TopK on the native backend: one fused C pass over host copies, no tensor read at all
    const fused =
      rule.kind === "row" &&
      kAux === 0 &&
      (kernels === "native" || (kernels === "auto" && cc.tf.getBackend() === NATIVE_BACKEND))
        ? fusedStepKernels()
        : undefined
    const sel =
      fused !== undefined ? selectNative(input, rule.k, fused, buffersOf(cc)) : yield* select(input, rule, kAux)
    options.profile?.("encode", performance.now() - t0)
    const work = (sel.main.cols.length + (sel.aux?.cols.length ?? 0)) * cc.width
    const which = kernels === "auto" ? sparseKernelsFor(cc.tf.getBackend(), work) : kernels
    const out =
      which === "tensor"
        ? yield* tensorGradients(input, sel, options)
        : which === "native"
          ? hostGradients(input, sel, options.profile, nativeHostKernels(), buffersOf(cc))
          : hostGradients(input, sel, options.profile, jsKernels)
    if (wasmXnnFailureCount() !== xnn) throw new Error(XNN_FAILED)
    return out
  }
}

/**
 * The sparse step with kernels picked per backend (`sparseKernelsFor`). Supports TopK and
 * BatchTopK (the name is historical).
 */
export const sparseTopKStep: TrainStep = makeSparseStep()
