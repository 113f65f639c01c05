/**
 * @crosscode/native: the addon's kernels, typed, and whether it could be loaded.
 *
 * The addon is built at install (scripts/build-addon.mjs); where it could not be built,
 * `loadNativeKernels()` returns `{ ok: false, reason }` and callers stay on their TypeScript /
 * wasm path. All kernels are synchronous, read and write the given typed arrays in place, and
 * throw a RangeError naming the argument when lengths or indices do not fit.
 */
import { existsSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { availableParallelism } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export interface NativeKernels {
  /**
   * `C[i] = op(A[i]) · op(B[i]) + beta · C[i]` for `i < batch`, row-major, C contiguous `[M, N]`;
   * `A[i]` starts at `i · strideA` (0 = broadcast), op(A) is `[M, K]` (stored `[K, M]` if transA).
   */
  gemmBatched(
    transA: boolean,
    transB: boolean,
    batch: number,
    M: number,
    N: number,
    K: number,
    A: Float32Array,
    strideA: number,
    B: Float32Array,
    strideB: number,
    C: Float32Array,
    beta: number
  ): void
  /** Threads for BLAS and the OpenMP loops. */
  setThreads(n: number): void
  info(): { readonly blas: string; readonly threads: number; readonly openmp: boolean }
  /** Per row of `x` `[rows, cols]`: the k largest values, descending, ties by lower index (tf.topk's order). */
  topkRows(x: Float32Array, rows: number, cols: number, k: number, values: Float32Array, indices: Int32Array): void
  /** `out[b] += Σ_{n ∈ [rowPtr[b], rowPtr[b+1])} vals[n] · Wd[cols[n]]` (rows of width W). */
  csrDecode(
    rowPtr: Int32Array,
    cols: Int32Array,
    vals: Float32Array,
    Wd: Float32Array,
    W: number,
    out: Float32Array
  ): void
  /** `out[at + n] = A[ai[n]] · Bm[bi[n]]` (rows of width W). */
  rowDots(
    A: Float32Array,
    ai: Int32Array,
    Bm: Float32Array,
    bi: Int32Array,
    W: number,
    out: Float32Array,
    at: number
  ): void
  /**
   * For the entries `order[start[j] .. start[j+1])` of feature j: `dWd[j] += vals[e] · D'[rows[e]]`
   * (D' = D for e < nMain, else Daux) and `dWeT[j] += g[e] · x[rows[e]]`.
   */
  scatterByFeature(
    start: Int32Array,
    order: Int32Array,
    rows: Int32Array,
    cols: Int32Array,
    vals: Float32Array,
    g: Float32Array,
    nMain: number,
    D: Float32Array,
    Daux: Float32Array | undefined,
    x: Float32Array,
    W: number,
    dWd: Float32Array,
    dWeT: Float32Array
  ): void
  /** `out[c·R + r] = a[r·C + c]`. */
  transpose(a: Float32Array, R: number, C: number, out: Float32Array): void
  /** PyTorch's Adam on one parameter (moments rounded to float32, update in double). */
  adam(
    w: Float32Array,
    g: Float32Array | undefined,
    m: Float32Array,
    v: Float32Array,
    beta1: number,
    beta2: number,
    stepSize: number,
    sqrtBc2: number,
    eps: number,
    gradScale: number
  ): void
  /** Σ a² in double precision. */
  sumSquares(a: Float32Array): number
  /**
   * `out[i,j,k] = a[i·sa0 + j·sa1 + k·sa2] op b[i·sb0 + j·sb1 + k·sb2]` over a `[d0, d1, d2]`
   * output (stride 0 broadcasts; sa2, sb2 ∈ {0, 1}). See `BinaryOps`.
   */
  binary(
    op: number,
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
    d0: number,
    d1: number,
    d2: number,
    sa0: number,
    sa1: number,
    sa2: number,
    sb0: number,
    sb1: number,
    sb2: number
  ): void
  /** `out[i] = op(x[i])`. See `UnaryOps`. */
  unary(op: number, x: Float32Array, out: Float32Array): void
  /**
   * glibc only (returns false elsewhere): keep freed memory in the heap for reuse instead of
   * returning it to the kernel (mmap threshold 32 MiB, no trimming; `mmapMax` 0 = serve larger
   * blocks from the heap too), so new tensors do not page-fault on first write.
   */
  keepFreedMemory(mmapMax: number): boolean
  /** bfloat16 bits → float32 (exact). */
  bf16ToF32(bits: Uint16Array, out: Float32Array): void
  /** `out[r, c] = x[r, c] · rsqrt(mean_c(x²) + eps) · w[c]` over `[rows, cols]`. */
  rmsNormRows(x: Float32Array, rows: number, cols: number, w: Float32Array, eps: number, out: Float32Array): void
  /** `out = act(gate) · up`, act by `GatedKinds` (SiLU, GELU-tanh). */
  gatedActivation(kind: number, gate: Float32Array, up: Float32Array, out: Float32Array): void
  /**
   * A decoder block's gated MLP, `out = (act(x·wGateᵀ) · x·wUpᵀ)·wDownᵀ` (`x` `[M, H]`, `wGate`/`wUp`
   * `[I, H]`, `wDown` `[H, I]`, `out` `[M, H]`), with its `[rows, I]` intermediates in the call's
   * own scratch memory, `rowsPerChunk` rows at a time (default 512); bit-identical to the separate
   * products and `gatedActivation` within one chunk, equal to rounding over several. Optional:
   * absent in builds before it.
   */
  gatedMlp?(
    kind: number,
    x: Float32Array,
    M: number,
    H: number,
    I: number,
    wGate: Float32Array,
    wUp: Float32Array,
    wDown: Float32Array,
    out: Float32Array,
    rowsPerChunk?: number
  ): void
  /** Rotary embedding of `x` `[rows, heads, D]` with `cos`/`signedSin` `[rows, D]` (`signedSin = cat(−sin, sin)`). */
  ropeRows(
    x: Float32Array,
    rows: number,
    heads: number,
    D: number,
    cos: Float32Array,
    signedSin: Float32Array,
    out: Float32Array
  ): void
  /**
   * `out` `[B, T, nH, D]` = softmax(cap(q·kᵀ·scale) + bias)·v for `q` `[B, T, nH, D]`, `k`/`v`
   * `[B, nKV, S, D]`, additive `bias` `[B, T, S]`; `softcap` 0 = none.
   */
  groupedAttention(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    bias: Float32Array,
    B: number,
    T: number,
    S: number,
    nH: number,
    nKV: number,
    D: number,
    scale: number,
    softcap: number,
    out: Float32Array
  ): void
  /** `out` `[M, N]` = `a` `[M, K]` · `wᵀ` for a bfloat16 `w` `[N, K]` (bits), widened as it streams. */
  matmulBF16(a: Float32Array, M: number, K: number, w: Uint16Array, N: number, out: Float32Array): void
}

/** Operation codes of `binary`. */
export const BinaryOps = { add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5, squaredDifference: 6 } as const
/** Operation codes of `unary`. */
export const UnaryOps = { relu: 0, exp: 1, sigmoid: 2, rsqrt: 3, square: 4, neg: 5, sqrt: 6, abs: 7 } as const
/** Activation codes of `gatedActivation`. */
export const GatedKinds = { silu: 0, geluTanh: 1 } as const

export type NativeLoad =
  | { readonly ok: true; readonly kernels: NativeKernels; readonly blas: string; readonly threads: number }
  | { readonly ok: false; readonly reason: string }

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const addonPath = path.join(packageRoot, "build", "Release", "crosscode_native.node")

const buildReason = (): string => {
  const status = path.join(packageRoot, "build", "status.json")
  if (!existsSync(status)) return "the addon was never built (run `pnpm --filter @crosscode/native build:addon`)"
  try {
    const s = JSON.parse(readFileSync(status, "utf8")) as { reason?: string }
    return `not built at install: ${s.reason ?? "unknown reason"}`
  } catch {
    return `unreadable ${status}`
  }
}

/**
 * Threads for the kernels: `CROSSCODE_NATIVE_THREADS`, else every core Node reports
 * (`os.availableParallelism()`).
 */
export const nativeThreads = (): number => {
  const env = Number(process.env.CROSSCODE_NATIVE_THREADS)
  return Number.isInteger(env) && env >= 1 ? env : availableParallelism()
}

let loaded: NativeLoad | undefined

/** Load the addon once per process (and set its thread count); never throws. */
export const loadNativeKernels = (): NativeLoad => {
  if (loaded !== undefined) return loaded
  if (process.env.CROSSCODE_NATIVE_DISABLE === "1") {
    loaded = { ok: false, reason: "disabled by CROSSCODE_NATIVE_DISABLE=1" }
    return loaded
  }
  if (!existsSync(addonPath)) {
    loaded = { ok: false, reason: buildReason() }
    return loaded
  }
  try {
    // OpenMP's worker threads otherwise spin after each parallel loop, on the cores the BLAS
    // threads need for the next product (and OpenBLAS' threads spin likewise): measured here, an
    // RMSNorm of 128 × 2048 after a matmul took 4.4 ms instead of 0.06 in one run of `pnpm bench
    // native/bench` (and the same in another: it depends on who holds the core). libgomp reads this when
    // the addon loads it; a value the user set wins.
    process.env.OMP_WAIT_POLICY ??= "PASSIVE"
    // OpenBLAS's own threads spin up to 2^28 cycles after each product (its default
    // THREAD_TIMEOUT 28); 2^4 lets them sleep at once, leaving the cores to the C loops and the
    // JavaScript that follow. Measured: the crosscoder step at B=1024, 2×256, F=4096 49 vs 55 ms.
    process.env.OPENBLAS_THREAD_TIMEOUT ??= "4"
    const kernels = createRequire(import.meta.url)(addonPath) as NativeKernels
    const threads = nativeThreads()
    kernels.setThreads(threads)
    loaded = { ok: true, kernels, blas: kernels.info().blas, threads }
  } catch (e) {
    loaded = { ok: false, reason: `${addonPath} did not load: ${e instanceof Error ? e.message : String(e)}` }
  }
  return loaded
}
