/**
 * Machine-readable benchmark records. Every packages/<pkg>/bench/<name>.bench.ts script appends its
 * results with `writeBenchRecords`; `pnpm bench` runs them all (scripts/bench.ts).
 */
import { appendFileSync, mkdirSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Rng } from "./rng.js"

export interface BenchRecord {
  /** e.g. "crosscoder.train_step", "qwen2.prefill". */
  readonly name: string
  readonly backend: string
  /** Shape parameters (B, d, F, k, hidden, layers, ...). */
  readonly shape: Readonly<Record<string, number | string>>
  /** Primary throughput, e.g. tokens/s. */
  readonly value: number
  readonly unit: string
  /** Extra measurements (ms per step, GFLOP/s, ...). */
  readonly extra?: Readonly<Record<string, number | string>>
  /** Peak RSS of the process in bytes while measuring. */
  readonly peakRssBytes?: number
  readonly peakTensorBytes?: number
}

export const benchOutputDir = (): string =>
  process.env.CROSSCODE_BENCH_OUT ?? path.resolve(process.cwd(), "bench-results")

/** Appends records as JSON lines to `<out>/<file>.jsonl` and echoes a one-line summary of each. */
export const writeBenchRecords = (file: string, records: ReadonlyArray<BenchRecord>): string => {
  const dir = benchOutputDir()
  mkdirSync(dir, { recursive: true })
  const out = path.join(dir, `${file}.jsonl`)
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "unknown", node: process.version }
  for (const r of records) {
    appendFileSync(out, `${JSON.stringify({ ...r, machine, at: new Date().toISOString() })}\n`)
    const shape = Object.entries(r.shape)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")
    console.log(`${r.name} [${r.backend}] ${shape}: ${r.value.toFixed(2)} ${r.unit}`)
  }
  return out
}

/** Tracks peak RSS by sampling; call `stop()` to get the peak in bytes. */
export const trackPeakRss = (intervalMs = 20): { stop: () => number } => {
  let peak = process.memoryUsage.rss()
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, intervalMs)
  timer.unref()
  return {
    stop: () => {
      clearInterval(timer)
      return Math.max(peak, process.memoryUsage.rss())
    }
  }
}

/**
 * A synthetic Qwen2 weight for benchmark checkpoints: RMSNorm weights 1, everything else
 * N(0, 0.02) from `Rng.seeded(seed)`. Speed and memory, not outputs, are what benchmarks measure.
 */
export const syntheticQwen2Weight = (name: string, shape: ReadonlyArray<number>, seed: number): Float32Array => {
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1))
  return name.endsWith("norm.weight") ? out.fill(1) : Rng.seeded(seed).fillNormal(out, 0.02)
}
