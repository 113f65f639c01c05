/**
 * Activation store throughput.
 *
 * - `activations.harvest`: rows/s of `harvest` (two models, one site, f32 store) on the golden tiny
 *   Qwen2 (hidden 64, 3 layers; f32 and bf16 weights) when ../shared is present, else on the
 *   deterministic fake model from the tests. Policies lastToken and allTokens.
 * - `activations.read_batches`: rows/s of shuffled, z-scored batches (1024 rows) over a synthetic
 *   store at the paper's shape (2 sources × 2048, f16 and f32 shards of 2048 rows).
 * - `activations.row`: random access rows/s.
 * - `activations.harvest` at Qwen2.5-3B width: `harvestFromDirs` on a synthetic 3-block model of
 *   hidden 2048 / vocab 151936, partially loaded (blocks 0..1); skip with `-- --no-wide`.
 *
 * Run: `pnpm bench activations` (or `node --import tsx --conditions=source packages/activations/bench/store.bench.ts`).
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import {
  type BenchRecord,
  blockOutput,
  findSharedDir,
  type LanguageModelShape,
  loadModel,
  makeQwen2Config,
  qwen2ConfigToJson,
  qwen2WeightShapes,
  Rng,
  syntheticQwen2Weight,
  TensorBackend,
  trackPeakRss,
  writeBenchRecords,
  writeSafetensors
} from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Stream } from "effect"
import { ActivationStore, fromSamples, harvest, harvestFromDirs, Policy, type StoreDtype } from "../src/index.js"
import { StoreWriter } from "../src/store/writer.js"
import { makeFakeModel } from "../test/fakeModel.js"

const records: Array<BenchRecord> = []
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), "crosscode-act-bench-"))
const small = process.argv.includes("--small")

const harvestBench = Effect.gen(function* () {
  const backend = yield* TensorBackend
  const shared = findSharedDir()
  let models: Array<{ label: string; model: LanguageModelShape }>
  let modelName: string
  if (shared !== undefined) {
    const dir = path.join(shared, "golden/qwen2-tiny-gqa")
    models = [
      { label: "A", model: yield* loadModel(dir) },
      { label: "B", model: yield* loadModel(path.join(shared, "golden/qwen2-tiny-gqa-bf16")) }
    ]
    modelName = "qwen2-tiny-gqa"
  } else {
    models = [
      { label: "A", model: makeFakeModel(backend.tf, { seed: 1, hiddenSize: 64, numLayers: 3, vocabSize: 512 }) },
      { label: "B", model: makeFakeModel(backend.tf, { seed: 2, hiddenSize: 64, numLayers: 3, vocabSize: 512 }) }
    ]
    modelName = "fake(hidden 64)"
    console.log("../shared missing: benchmarking harvest on the fake model")
  }
  const rng = Rng.seeded(42)
  const texts = small ? 48 : 256
  const samples = Array.from({ length: texts }, (_, i) => ({
    text: "",
    dataset: i % 2 === 0 ? "a" : "b",
    id: `s${i}`,
    tokenIds: Array.from({ length: 20 + rng.int(60) }, () => rng.int(512))
  }))
  const tokens = samples.reduce((a, s) => a + s.tokenIds.length, 0)
  for (const [policyName, policy] of [
    ["lastToken", Policy.lastToken],
    ["allTokens", Policy.allTokens()]
  ] as const) {
    const dir = path.join(tmpRoot, `harvest-${policyName}`)
    const rss = trackPeakRss()
    const r = yield* harvest({
      models,
      sites: [blockOutput(1)],
      source: fromSamples("bench", samples),
      policy,
      store: { dir, shardRows: 2048, dtype: "f32" },
      batchSize: 8,
      progress: { log: false }
    })
    records.push({
      name: "activations.harvest",
      backend: backend.name,
      shape: {
        model: modelName,
        models: 2,
        sites: 1,
        policy: policyName,
        batch: 8,
        texts,
        meanTokens: Math.round(tokens / texts)
      },
      value: r.rowsPerSecond,
      unit: "rows/s",
      extra: {
        rows: r.rows,
        seconds: Number(r.seconds.toFixed(3)),
        tokensPerSecond: Number((tokens / r.seconds).toFixed(1))
      },
      peakRssBytes: rss.stop()
    })
  }
})

const writeSynthetic = (dir: string, dtype: StoreDtype, rows: number, dim: number) =>
  Effect.gen(function* () {
    const w = yield* StoreWriter.open({
      dir,
      dtype,
      shardRows: 2048,
      models: [
        { label: "A", name: "synthetic-a", family: "synthetic", hiddenSize: dim, numLayers: 36 },
        { label: "B", name: "synthetic-b", family: "synthetic", hiddenSize: dim, numLayers: 36 }
      ],
      sites: ["block_output.13"],
      dim,
      policy: { _tag: "LastToken" },
      padding: "right",
      maxLength: 512,
      addSpecialTokens: true,
      storeText: "none",
      textSource: "synthetic"
    })
    const rng = Rng.seeded(7)
    const chunk = 512
    const width = 2 * dim
    const data = new Float32Array(chunk * width)
    const d0 = w.datasetIndex("fineweb")
    const d1 = w.datasetIndex("toolrl")
    const started = Date.now()
    for (let start = 0; start < rows; start += chunk) {
      const k = Math.min(chunk, rows - start)
      for (let i = 0; i < k * width; i++) data[i] = (rng.uniform() - 0.5) * 8
      const textIndex = Int32Array.from({ length: k }, (_, i) => start + i)
      yield* w.append({
        count: k,
        data: data.subarray(0, k * width),
        textIndex,
        position: new Int32Array(k),
        datasetIds: Int32Array.from({ length: k }, (_, i) => ((start + i) % 2 === 0 ? d0 : d1)),
        texts: new Map(
          Array.from(textIndex, (t) => [t, { t, id: `t${t}`, dataset: t % 2 === 0 ? "fineweb" : "toolrl" }] as const)
        )
      })
    }
    yield* w.finish("sourceExhausted")
    return (Date.now() - started) / 1000
  })

const readBench = Effect.gen(function* () {
  const dim = 2048
  const rows = small ? 4096 : 16384
  for (const dtype of ["f16", "f32"] as const) {
    const dir = path.join(tmpRoot, `read-${dtype}`)
    const writeRss = trackPeakRss()
    const writeSeconds = yield* writeSynthetic(dir, dtype, rows, dim)
    records.push({
      name: "activations.store_write",
      backend: "node",
      shape: { sources: 2, dim, dtype, shardRows: 2048, rows },
      value: rows / writeSeconds,
      unit: "rows/s",
      extra: {
        seconds: Number(writeSeconds.toFixed(3)),
        note: "StoreWriter.append+commit incl. encode, Welford, sha256, fsync"
      },
      peakRssBytes: writeRss.stop()
    })
    const store = yield* ActivationStore.open(dir)
    for (const normalize of ["none", "zscore"] as const) {
      const rss = trackPeakRss()
      const t0 = performance.now()
      let n = 0
      yield* Stream.runForEach(store.batches({ batchSize: 1024, seed: 1, normalize, shuffleBufferRows: 8192 }), (b) =>
        Effect.sync(() => {
          n += b.rows
        })
      )
      const s = (performance.now() - t0) / 1000
      records.push({
        name: "activations.read_batches",
        backend: "node",
        shape: { sources: 2, dim, dtype, shardRows: 2048, rows, batch: 1024, shuffleBufferRows: 8192, normalize },
        value: n / s,
        unit: "rows/s",
        extra: {
          seconds: Number(s.toFixed(3)),
          MBps: Number(((n * 2 * dim * (dtype === "f16" ? 2 : 4)) / s / 1e6).toFixed(1))
        },
        peakRssBytes: rss.stop()
      })
    }
    const rng = Rng.seeded(3)
    const rowRss = trackPeakRss()
    const t0 = performance.now()
    const k = 2000
    for (let i = 0; i < k; i++) yield* store.row(rng.int(rows))
    const s = (performance.now() - t0) / 1000
    records.push({
      name: "activations.row",
      backend: "node",
      shape: { sources: 2, dim, dtype, shardRows: 2048, rows, access: "uniform random", cacheShards: 2 },
      value: k / s,
      unit: "rows/s",
      peakRssBytes: rowRss.stop()
    })
  }
})

/**
 * `harvestFromDirs` on two models of Qwen2.5-3B's width (hidden 2048, intermediate 11008, 16/2
 * heads, vocab 151936, tied, BF16 on disk) with 3 blocks, harvested at block 1: each is loaded
 * partially (embeddings compact + blocks 0..1). Both labels read the same synthetic directory.
 */
const harvestWideBench = Effect.gen(function* () {
  const backend = yield* TensorBackend
  const dir = path.join(tmpRoot, "wide-model")
  const config = yield* makeQwen2Config({
    vocab_size: 151936,
    hidden_size: 2048,
    intermediate_size: 11008,
    num_hidden_layers: 3,
    num_attention_heads: 16,
    num_key_value_heads: 2,
    tie_word_embeddings: true,
    rope_theta: 1e6
  }).pipe(Effect.orDie)
  mkdirSync(dir, { recursive: true })
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(qwen2ConfigToJson(config, "bfloat16")))
  let seed = 0x2545f491
  yield* writeSafetensors(
    path.join(dir, "model.safetensors"),
    [...qwen2WeightShapes(config)].map(([name, shape]) => ({
      name,
      dtype: "BF16" as const,
      shape,
      data: () => syntheticQwen2Weight(name, shape, seed++)
    }))
  ).pipe(Effect.orDie)
  const rng = Rng.seeded(5)
  const texts = small ? 8 : 16
  const samples = Array.from({ length: texts }, (_, i) => ({
    text: "",
    dataset: i % 2 === 0 ? "a" : "b",
    id: `w${i}`,
    tokenIds: Array.from({ length: 24 + rng.int(48) }, () => rng.int(151936))
  }))
  const tokens = samples.reduce((a, s) => a + s.tokenIds.length, 0)
  const rss = trackPeakRss()
  const t0 = performance.now()
  const r = yield* harvestFromDirs({
    models: [
      { label: "A", dir },
      { label: "B", dir }
    ],
    sites: [blockOutput(1)],
    source: fromSamples("bench-wide", samples),
    policy: Policy.allTokens(),
    store: { dir: path.join(tmpRoot, "harvest-wide"), shardRows: 2048, dtype: "f16" },
    batchSize: 8,
    progress: { log: false }
  })
  const total = (performance.now() - t0) / 1000
  records.push({
    name: "activations.harvest",
    backend: backend.name,
    shape: {
      model: "synthetic-2048x3L-v151936 (3B width), harvestFromDirs",
      hidden: 2048,
      models: 2,
      sites: 1,
      site: "block_output.1",
      loadedBlocks: 2,
      policy: "allTokens",
      batch: 8,
      texts,
      meanTokens: Math.round(tokens / texts)
    },
    value: r.rowsPerSecond,
    unit: "rows/s",
    extra: {
      rows: r.rows,
      seconds: Number(r.seconds.toFixed(3)),
      secondsWithLoad: Number(total.toFixed(3)),
      tokensPerSecond: Number((tokens / r.seconds).toFixed(2)),
      tokenBlocksPerSecond: Number(((2 * 2 * tokens) / r.seconds).toFixed(2))
    },
    peakRssBytes: rss.stop()
  })
})

const program = Effect.gen(function* () {
  yield* Effect.scoped(harvestBench)
  yield* readBench
  if (!process.argv.includes("--no-wide")) yield* harvestWideBench
}).pipe(
  Effect.provide(
    Layer.merge(
      Layer.orDie(TensorBackend.layerFor(process.env.CROSSCODE_BACKEND === undefined ? "wasm" : "auto")),
      NodeServices.layer
    )
  )
)

try {
  await Effect.runPromise(program)
  writeBenchRecords("activations", records)
} finally {
  rmSync(tmpRoot, { recursive: true, force: true })
}
