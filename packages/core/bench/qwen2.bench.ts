/**
 * Qwen2 prefill and per-token decode throughput (`pnpm bench qwen2`).
 *
 * - The golden tiny models (../shared/golden) on every backend that starts (wasm; cpu; native
 *   TensorFlow when installed).
 * - A synthetic Qwen2 of Qwen2.5-3B's width: hidden 2048, 16 heads / 2 KV heads, intermediate
 *   11008, vocab 151936, tied embeddings, but 2 layers (3B has 36), BF16 on disk, written to a temp
 *   directory and loaded with `loadModel` (so load time and peak RSS are measured too). wasm and
 *   native only (cpu would take minutes).
 *
 * Prefill: one forward over B×T tokens (`logits: "last"`). Decode: (generate N+1 tokens − generate
 * 1 token) / N, i.e. KV-cached steps only. Options: `-- --quick` (fewer repetitions),
 * `-- --backends tensorflow-gpu,wasm` (default: the installed native variant, wasm, cpu),
 * `-- --synthetic-only` (skip the golden models), `-- --decode-prompt N` (synthetic decode
 * prompt length, default 16; `pnpm bench:compare` uses torch_qwen2.py's 128).
 */

import { mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import {
  type BackendName,
  type BenchRecord,
  findSharedDir,
  initTensorBackend,
  loadModel,
  makeQwen2Config,
  TensorBackend,
  trackPeakRss,
  writeBenchRecords
} from "../src/index.js"
import { writeSyntheticQwen2 } from "./syntheticCheckpoint.js"

const quick = process.argv.includes("--quick")
const syntheticOnly = process.argv.includes("--synthetic-only")
const flagValue = (name: string): string | undefined => {
  const i = process.argv.indexOf(name)
  return i === -1 ? undefined : process.argv[i + 1]
}
const decodePrompt = Number(flagValue("--decode-prompt") ?? "16")

/**
 * `-- --backends a,b` (names of BackendName), else the native TensorFlow variant that is installed
 * (tfjs-node-gpu before tfjs-node; only one is tried per process), wasm and cpu.
 */
const benchBackends = (): ReadonlyArray<BackendName> => {
  const i = process.argv.indexOf("--backends")
  if (i !== -1) return (process.argv[i + 1] ?? "").split(",").filter((b) => b !== "") as Array<BackendName>
  const require = createRequire(import.meta.url)
  let native: BackendName = "tensorflow"
  try {
    require.resolve("@tensorflow/tfjs-node-gpu")
    native = "tensorflow-gpu"
  } catch {}
  return [native, "wasm", "cpu"]
}
const records: Array<BenchRecord> = []

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

interface Case {
  readonly label: string
  readonly dir: string
  readonly shapes: ReadonlyArray<{ readonly B: number; readonly T: number }>
  readonly decode: { readonly B: number; readonly prompt: number; readonly tokens: number }
  readonly reps: number
}

const benchModel = (backend: BackendName, c: Case) =>
  Effect.gen(function* () {
    const rss = trackPeakRss()
    const t0 = performance.now()
    const model = yield* loadModel(c.dir)
    const loadMs = performance.now() - t0
    const info = model.info
    const shape = {
      model: c.label,
      hidden: info.hiddenSize,
      layers: info.numLayers,
      vocab: info.vocabSize,
      weights: info.weightDtype
    }
    const V = info.vocabSize
    const ids = (B: number, T: number) =>
      Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 131 + t * 17 + 1) % V))
    for (const { B, T } of c.shapes) {
      const inputIds = ids(B, T)
      yield* model.forward({ inputIds, logits: "last" }) // warm-up (kernel setup, XNNPACK packing)
      const ms: Array<number> = []
      for (let r = 0; r < c.reps; r++) {
        const t0 = performance.now()
        yield* model.forward({ inputIds, logits: "last" })
        ms.push(performance.now() - t0)
      }
      const m = median(ms)
      records.push({
        name: "qwen2.prefill",
        backend,
        shape: { ...shape, B, T },
        value: (B * T) / (m / 1000),
        unit: "tokens/s",
        extra: { msPerForward: Number(m.toFixed(2)), loadMs: Number(loadMs.toFixed(0)) },
        peakRssBytes: rss.stop()
      })
    }
    const { B, prompt, tokens } = c.decode
    const prompts = ids(B, prompt)
    const gen = (n: number) => model.generate({ prompts, maxNewTokens: n, stopTokenIds: [] })
    yield* gen(2) // warm-up
    const one: Array<number> = []
    const many: Array<number> = []
    for (let r = 0; r < c.reps; r++) {
      let t0 = performance.now()
      yield* gen(1)
      one.push(performance.now() - t0)
      t0 = performance.now()
      yield* gen(tokens + 1)
      many.push(performance.now() - t0)
    }
    const perStep = (median(many) - median(one)) / tokens
    records.push({
      name: "qwen2.decode",
      backend,
      shape: { ...shape, B, prompt, newTokens: tokens },
      value: B / (perStep / 1000),
      unit: "tokens/s",
      extra: { msPerStep: Number(perStep.toFixed(2)), loadMs: Number(loadMs.toFixed(0)) },
      peakRssBytes: rss.stop()
    })
    yield* model.dispose
  })

/** Writes a random BF16 checkpoint, streamed (`writeSyntheticQwen2`; no tensor library involved). */
const writeSynthetic = async (dir: string) => {
  const config = await Effect.runPromise(
    makeQwen2Config({
      vocab_size: 151936,
      hidden_size: 2048,
      intermediate_size: 11008,
      num_hidden_layers: 2,
      num_attention_heads: 16,
      num_key_value_heads: 2,
      tie_word_embeddings: true,
      rope_theta: 1e6,
      initializer_range: 0.02
    })
  )
  // values uniform in the old writer, N(0, 0.02) now: they do not matter for speed
  await writeSyntheticQwen2(dir, config)
}

const main = async () => {
  const shared = findSharedDir()
  const golden =
    shared && !syntheticOnly
      ? ["qwen2-tiny-gqa", "qwen2-tiny-untied", "qwen2-tiny-gqa-bf16"].map(
          (m): Case => ({
            label: m,
            dir: path.join(shared, "golden", m),
            shapes: [
              { B: 1, T: 128 },
              { B: 8, T: 64 }
            ],
            decode: { B: 1, prompt: 16, tokens: 32 },
            reps: quick ? 2 : 5
          })
        )
      : []
  if (!shared && !syntheticOnly) console.log("../shared not found: golden models skipped")

  const synthDir = mkdtempSync(path.join(tmpdir(), "crosscode-bench-qwen2-"))
  const synthetic: Case = {
    label: "synthetic-2048x2L-v151936",
    dir: synthDir,
    shapes: [
      { B: 1, T: 128 },
      { B: 4, T: 128 }
    ],
    decode: { B: 1, prompt: decodePrompt, tokens: quick ? 4 : 8 },
    reps: quick ? 1 : 3
  }
  try {
    const t0 = performance.now()
    await writeSynthetic(synthDir)
    console.log(`synthetic checkpoint written in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    for (const backend of benchBackends()) {
      const ok = await Effect.runPromise(Effect.result(initTensorBackend(backend, { allowCpu: true })))
      if (ok._tag === "Failure") {
        console.log(`backend ${backend}: unavailable (${ok.failure.message})`)
        continue
      }
      const cases = backend === "cpu" ? golden : [...golden, synthetic]
      for (const c of cases) {
        console.log(`-- ${backend}: ${c.label}`)
        await Effect.runPromise(
          Effect.scoped(benchModel(backend, c)).pipe(
            Effect.provide(Layer.merge(TensorBackend.layerFor(backend), NodeServices.layer))
          )
        )
      }
    }
  } finally {
    rmSync(synthDir, { recursive: true, force: true })
  }
  writeBenchRecords("qwen2", records)
}

await main()
