/**
 * @crosscode/native's kernels on their own (`pnpm bench native/bench`), best of 5 calls each:
 *   - the product with a Qwen2.5-3B LM head (151,936 × 2048) kept as bfloat16 (`matmulBF16`)
 *     against the float32 product the head would otherwise be (`gemmBatched`, an `[out, in]`
 *     weight), for 1, 4 and 8 rows;
 *   - TopK of 1024 rows of 4096 (k = 32), the crosscoder's small shape, on one thread and on all;
 *   - an RMSNorm of 128 × 2048 alone and right after a 128 × 2048 × 2048 matmul, in this process
 *     (idle OpenMP/OpenBLAS threads sleep: the addon's default) and in a child with the threads
 *     spinning (`OMP_WAIT_POLICY=ACTIVE`, `OPENBLAS_THREAD_TIMEOUT=28`), to show what the default
 *     buys.
 * On a machine that forces OPENBLAS_CORETYPE (../shared/bench/README.md) run it with
 * `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`. Records: bench-results/native-kernels.jsonl.
 */
import { spawnSync } from "node:child_process"
import { appendFileSync, mkdirSync } from "node:fs"
import { cpus } from "node:os"
import * as path from "node:path"
import { loadNativeKernels, nativeThreads } from "../src/index.js"

const load = loadNativeKernels()
if (!load.ok) {
  console.log(`@crosscode/native is not available: ${load.reason}`)
  process.exit(0)
}
const k = load.kernels
const spinning = process.argv.includes("--spinning")
const best = (f: () => void, reps = 5): number => {
  f()
  let m = Number.POSITIVE_INFINITY
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now()
    f()
    m = Math.min(m, performance.now() - t0)
  }
  return m
}
const rand = (n: number, seed: number): Float32Array => {
  let s = seed >>> 0
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 31 - 1
  })
}
const records: Array<Record<string, unknown>> = []
const record = (name: string, shape: Record<string, number | string>, ms: number) => {
  records.push({ name, backend: "native", shape, value: Number(ms.toFixed(2)), unit: "ms" })
  console.log(`${name.padEnd(28)} ${JSON.stringify(shape).padEnd(52)} ${ms.toFixed(2)} ms`)
}

const rmsAfterMatmul = () => {
  const [R, C] = [128, 2048]
  const x = rand(R * C, 1)
  const w = new Float32Array(C).fill(1)
  const out = new Float32Array(R * C)
  const b = rand(C * C, 2)
  const c = new Float32Array(R * C)
  const threads = spinning ? "spinning" : "sleeping"
  const alone = best(() => k.rmsNormRows(x, R, C, w, 1e-6, out), 20)
  const mm = best(() => k.gemmBatched(false, true, 1, R, C, C, x, 0, b, 0, c, 0), 20)
  const both = best(() => {
    k.gemmBatched(false, true, 1, R, C, C, x, 0, b, 0, c, 0)
    k.rmsNormRows(x, R, C, w, 1e-6, out)
  }, 20)
  record("native.rms_norm", { rows: R, cols: C, threads }, alone)
  record("native.rms_norm_after_matmul", { rows: R, cols: C, threads }, both - mm)
}

if (spinning) {
  rmsAfterMatmul()
} else {
  // the LM head: bfloat16 kept compact vs the float32 product
  const [N, K] = [151936, 2048]
  const bits = new Uint16Array(N * K)
  const wf = new Float32Array(N * K)
  const sample = rand(65536, 3)
  const wfBits = new Uint32Array(wf.buffer)
  for (let i = 0; i < N * K; i++) {
    wf[i] = sample[i & 0xffff]! * 0.05
    bits[i] = wfBits[i]! >>> 16
  }
  for (const M of [1, 4, 8]) {
    const a = rand(M * K, M)
    const out = new Float32Array(M * N)
    record(
      "native.lm_head_bf16",
      { M, N, K },
      best(() => k.matmulBF16(a, M, K, bits, N, out))
    )
    record(
      "native.lm_head_f32",
      { M, N, K },
      best(() => k.gemmBatched(false, true, 1, M, N, K, a, 0, wf, 0, out, 0))
    )
  }
  // TopK at the crosscoder's small shape
  const [B, F, kk] = [1024, 4096, 32]
  const pre = rand(B * F, 4)
  const [v, ix] = [new Float32Array(B * kk), new Int32Array(B * kk)]
  for (const t of [1, nativeThreads()]) {
    k.setThreads(t)
    record(
      "native.topk_rows",
      { rows: B, cols: F, k: kk, threads: t },
      best(() => k.topkRows(pre, B, F, kk, v, ix))
    )
  }
  k.setThreads(nativeThreads())
  rmsAfterMatmul()
  const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, "--spinning"], {
    env: { ...process.env, OMP_WAIT_POLICY: "ACTIVE", OPENBLAS_THREAD_TIMEOUT: "28" },
    encoding: "utf8"
  })
  process.stdout.write(child.stdout)
  for (const line of child.stdout.split("\n")) {
    const m = /^(native\.\S+)\s+(\{.*\})\s+([\d.]+) ms$/.exec(line)
    if (m) records.push({ name: m[1], backend: "native", shape: JSON.parse(m[2]!), value: Number(m[3]), unit: "ms" })
  }
}

if (!spinning) {
  const dir = process.env.CROSSCODE_BENCH_OUT ?? path.resolve("bench-results")
  mkdirSync(dir, { recursive: true })
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "", node: process.version, blas: load.blas }
  const at = new Date().toISOString()
  for (const r of records)
    appendFileSync(path.join(dir, "native-kernels.jsonl"), `${JSON.stringify({ ...r, machine, at })}\n`)
  console.log(`records: ${path.join(dir, "native-kernels.jsonl")}`)
}
