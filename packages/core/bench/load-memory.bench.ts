/**
 * Memory of loading a Qwen2 model whole vs partially (`pnpm bench load-memory`).
 *
 * Writes a synthetic checkpoint of Qwen2.5-3B's width (hidden 2048, 16/2 heads, intermediate
 * 11008, vocab 151936, tied, BF16 on disk, sharded at 1 GiB like HF) with `--layers N` blocks
 * (default 4; 3B has 36), then loads it in a fresh child process per configuration — full, full
 * without LM head (`logits: false`, compact embeddings), and `maxLayer` 0..N-2 — runs one
 * `stopAtLayer` forward (B=1, T=16) and records (also for two copies loaded at once, as a harvest
 * holds models A and B):
 * - `peakRssBytes`: the child's peak RSS (`process.resourceUsage().maxRSS`, kernel high-water mark);
 * - `extra.baselineRssBytes`: RSS before loading (Node + TensorFlow.js + the backend);
 * - `extra.tensorBytes`: bytes held by tensors after loading (`tf.memory().numBytes`);
 * - `extra.diskBytesRead`: bytes read from files during the load (`/proc/self/io` rchar delta);
 * - `extra.checkpointBytes`: the checkpoint's size on disk.
 *
 * Options: `-- --layers N`, `-- --cases full,harvest` (a subset of full | nologits | partial |
 * tensor-embed | 2full | 2partial | harvest; default all but harvest), `-- --harvest-layer L`
 * (harvest: two models with `maxLayer L` and compact embeddings, as a harvest at block L holds;
 * default 13, issue 17's Qwen2.5-3B site), `-- --backends cpu,wasm,native` (default cpu: tensors are plain typed
 * arrays there, so RSS shows the weights as native TensorFlow would hold them, with no wasm heap
 * cap and no XNNPACK packed copies; wasm adds those, see packages/core/README.md#memory).
 */

import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import {
  type BackendName,
  type BenchRecord,
  type LoadModelOptions,
  loadModel,
  type Qwen2Config,
  TensorBackend,
  writeBenchRecords
} from "../src/index.js"
import { qwen25_3bShape, writeSyntheticQwen2 } from "./syntheticCheckpoint.js"

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? undefined : process.argv[i + 1]
}

const SHARD_BYTES = 2 ** 30

const configFor = qwen25_3bShape

/** BF16 shards (+ index), streamed (`writeSyntheticQwen2`: N(0, 0.02), norms 1). */
const writeCheckpoint = (dir: string, config: Qwen2Config) =>
  writeSyntheticQwen2(dir, config, { shardBytes: SHARD_BYTES, seed: 0x9e3779b9 })

const rchar = (): number => {
  const m = /rchar:\s*(\d+)/.exec(readFileSync("/proc/self/io", "utf8"))
  return m === null ? Number.NaN : Number(m[1])
}

interface ChildCase {
  readonly dir: string
  readonly backend: BackendName
  readonly label: string
  readonly options: LoadModelOptions
  readonly stopAtLayer: number
  /** Load the model this many times (2 = a harvest's A and B). Default 1. */
  readonly copies?: number
}

interface ChildResult {
  readonly baselineRssBytes: number
  readonly peakRssBytes: number
  readonly tensorBytes: number
  readonly diskBytesRead: number
  readonly loadMs: number
  readonly forwardMs: number
}

/** One configuration, in this (fresh) process. */
const child = async (c: ChildCase): Promise<ChildResult> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const { tf } = yield* TensorBackend
        tf.tidy(() => tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])).dataSync()) // kernels up
        const baselineRssBytes = process.memoryUsage.rss()
        const r0 = rchar()
        const t0 = performance.now()
        const models = []
        for (let i = 0; i < (c.copies ?? 1); i++) models.push(yield* loadModel(c.dir, c.options))
        const model = models[0]!
        const loadMs = performance.now() - t0
        const diskBytesRead = rchar() - r0
        const tensorBytes = tf.memory().numBytes
        const ids = [Array.from({ length: 16 }, (_, i) => (i * 7919 + 11) % 151936)]
        const t1 = performance.now()
        const [out] = yield* model.forward({ inputIds: ids, stopAtLayer: c.stopAtLayer, hiddenStates: true })
        const forwardMs = performance.now() - t1
        const last = out!.hiddenStates![out!.hiddenStates!.length - 1]!
        if (!last.every(Number.isFinite)) throw new Error("non-finite activations")
        return {
          baselineRssBytes,
          peakRssBytes: process.resourceUsage().maxRSS * 1024,
          tensorBytes,
          diskBytesRead,
          loadMs,
          forwardMs
        }
      })
    ).pipe(Effect.provide(Layer.merge(TensorBackend.layerFor(c.backend), NodeServices.layer)))
  )

const main = async () => {
  const layers = Number(arg("layers") ?? 4)
  const backends = (arg("backends") ?? "cpu").split(",") as Array<BackendName>
  const config = await configFor(layers)
  const dir = mkdtempSync(path.join(tmpdir(), "crosscode-bench-loadmem-"))
  const records: Array<BenchRecord> = []
  try {
    const t0 = performance.now()
    const shards = await writeCheckpoint(dir, config)
    const files = JSON.parse(readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8")) as {
      weight_map: Record<string, string>
    }
    const checkpointBytes = [...new Set(Object.values(files.weight_map))].reduce(
      (a, f) => a + statSync(path.join(dir, f)).size,
      0
    )
    console.log(
      `synthetic checkpoint: ${layers} layers, ${shards} shards, ${(checkpointBytes / 1e9).toFixed(2)} GB, written in ${((performance.now() - t0) / 1000).toFixed(1)} s`
    )
    const harvestLayer = Math.min(layers - 1, Number(arg("harvest-layer") ?? 13))
    const wanted = (arg("cases") ?? "full,nologits,partial,tensor-embed,2full,2partial").split(",")
    const named: Array<[string, Omit<ChildCase, "dir" | "backend">]> = [
      ["full", { label: "full", options: {}, stopAtLayer: layers - 1 }],
      [
        "nologits",
        {
          label: "full, logits: false, compact",
          options: { logits: false, embeddings: "compact" },
          stopAtLayer: layers - 1
        }
      ],
      ...Array.from({ length: layers - 1 }, (_, l): [string, Omit<ChildCase, "dir" | "backend">] => [
        "partial",
        {
          label: `maxLayer ${l}, compact`,
          options: { maxLayer: l, embeddings: "compact" } as LoadModelOptions,
          stopAtLayer: l
        }
      ]),
      ["tensor-embed", { label: `maxLayer 0, tensor embeddings`, options: { maxLayer: 0 }, stopAtLayer: 0 }],
      // A harvest holds both models (A and B) at once.
      ["2full", { label: "2 models, full", options: {}, stopAtLayer: layers - 1, copies: 2 }],
      [
        "2partial",
        {
          label: "2 models, maxLayer 1, compact",
          options: { maxLayer: 1, embeddings: "compact" },
          stopAtLayer: 1,
          copies: 2
        }
      ],
      [
        "harvest",
        {
          label: `2 models, maxLayer ${harvestLayer}, compact (harvest at block ${harvestLayer})`,
          options: { maxLayer: harvestLayer, embeddings: "compact" },
          stopAtLayer: harvestLayer,
          copies: 2
        }
      ]
    ]
    const cases = named.filter(([n]) => wanted.includes(n)).map(([, c]) => c)
    for (const backend of backends) {
      for (const c of cases) {
        const spec: ChildCase = { ...c, dir, backend }
        const r = spawnSync(
          process.execPath,
          [...process.execArgv, process.argv[1]!, "--child", JSON.stringify(spec)],
          { encoding: "utf8", maxBuffer: 1 << 24 }
        )
        const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "))
        if (r.status !== 0 || line === undefined) {
          console.log(`${backend} ${c.label}: failed (${r.status})\n${r.stderr.slice(-2000)}`)
          continue
        }
        const res = JSON.parse(line.slice(7)) as ChildResult
        const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`
        console.log(
          `${backend} ${c.label}: peak RSS ${gib(res.peakRssBytes)} (baseline ${gib(res.baselineRssBytes)}), tensors ${gib(res.tensorBytes)}, read ${gib(res.diskBytesRead)} of ${gib(checkpointBytes)}, load ${(res.loadMs / 1000).toFixed(1)} s`
        )
        records.push({
          name: "qwen2.load_memory",
          backend,
          shape: {
            model: `synthetic-2048x${layers}L-v151936`,
            hidden: 2048,
            layers,
            vocab: 151936,
            weights: "BF16",
            load: c.label,
            models: c.copies ?? 1,
            maxLayer: c.options.maxLayer ?? "all",
            embeddings: c.options.embeddings ?? "tensor",
            logits: c.options.maxLayer !== undefined ? "none" : c.options.logits === false ? "none" : "tied"
          },
          value: res.loadMs / 1000,
          unit: "s to load",
          peakRssBytes: res.peakRssBytes,
          peakTensorBytes: res.tensorBytes,
          extra: {
            baselineRssBytes: res.baselineRssBytes,
            tensorBytes: res.tensorBytes,
            diskBytesRead: res.diskBytesRead,
            checkpointBytes,
            forwardMs: Number(res.forwardMs.toFixed(1)),
            stopAtLayer: c.stopAtLayer
          }
        })
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  writeBenchRecords("load-memory", records)
}

const childSpec = arg("child")
if (childSpec !== undefined) {
  const r = await child(JSON.parse(childSpec) as ChildCase)
  console.log(`RESULT ${JSON.stringify(r)}`)
} else {
  await main()
}
