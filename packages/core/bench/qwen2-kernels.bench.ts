/**
 * Where a Qwen2 prefill spends its time, kernel by kernel (`pnpm bench qwen2-kernels`): the
 * 2-block synthetic model of Qwen2.5-3B's width (as `pnpm bench qwen2`), one forward per batch size
 * under `tf.profile`, kernel times summed by kernel name, beside the wall time of unprofiled
 * forwards (median of 3). The difference between the two is what runs outside kernels.
 *
 *   pnpm bench qwen2-kernels                                   (native, B = 1 and 4, T = 128)
 *   pnpm bench qwen2-kernels -- --backend wasm --batches 1 --seq 64
 *   CROSSCODE_FUSED_KERNELS=0 pnpm bench qwen2-kernels         (the composite ops, to compare)
 *
 * Records go to bench-results/qwen2-kernels.jsonl (wall ms per forward, kernel total, the top
 * kernels' ms). On a machine that forces OPENBLAS_CORETYPE (see ../shared/bench/README.md), run it
 * with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` as `pnpm bench:compare` does.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { NodeServices } from "@effect/platform-node"
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Layer } from "effect"
import {
  type BackendName,
  type BenchRecord,
  initTensorBackend,
  loadModel,
  TensorBackend,
  writeBenchRecords
} from "../src/index.js"
import { qwen25_3bShape, writeSyntheticQwen2 } from "./syntheticCheckpoint.js"

const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(name)
  return i === -1 ? undefined : process.argv[i + 1]
}
const backend = (flag("--backend") ?? "native") as BackendName
const batches = (flag("--batches") ?? "1,4").split(",").map(Number)
const T = Number(flag("--seq") ?? "128")
const fused = process.env.CROSSCODE_FUSED_KERNELS === "0" ? "off" : "on"

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const profileModel = (dir: string, records: Array<BenchRecord>) =>
  Effect.gen(function* () {
    const model = yield* loadModel(dir)
    const V = model.info.vocabSize
    for (const B of batches) {
      const inputIds = Array.from({ length: B }, (_, b) =>
        Array.from({ length: T }, (_, t) => (b * 131 + t * 17 + 1) % V)
      )
      const forward = () => Effect.runPromise(model.forward({ inputIds, logits: "last" }))
      yield* Effect.promise(forward) // warm-up
      const wall: Array<number> = []
      for (let r = 0; r < 3; r++) {
        const t0 = performance.now()
        yield* Effect.promise(forward)
        wall.push(performance.now() - t0)
      }
      const info = yield* Effect.promise(() =>
        tf.profile(async () => {
          await forward()
          return []
        })
      )
      const byKernel = new Map<string, { ms: number; calls: number }>()
      for (const k of info.kernels) {
        const a = byKernel.get(k.name) ?? { ms: 0, calls: 0 }
        a.ms += Number(k.kernelTimeMs)
        a.calls++
        byKernel.set(k.name, a)
      }
      const sorted = [...byKernel].sort((x, y) => y[1].ms - x[1].ms)
      const total = sorted.reduce((s, [, a]) => s + a.ms, 0)
      console.log(
        `\n${backend}, fused kernels ${fused}, B=${B} T=${T}: ${median(wall).toFixed(1)} ms per forward (median of 3), kernels ${total.toFixed(1)} ms (one profiled forward)`
      )
      for (const [name, a] of sorted.slice(0, 16))
        console.log(`  ${name.padEnd(28)} ${a.ms.toFixed(1).padStart(8)} ms  ${String(a.calls).padStart(3)} calls`)
      const extra: Record<string, number | string> = { kernelMs: Number(total.toFixed(1)), fused }
      for (const [name, a] of sorted.slice(0, 12)) extra[`ms.${name}`] = Number(a.ms.toFixed(1))
      records.push({
        name: "qwen2.prefill_kernels",
        backend,
        shape: { model: "synthetic-2048x2L-v151936", B, T },
        value: median(wall),
        unit: "ms/forward",
        extra
      })
    }
    yield* model.dispose
  })

const main = async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "crosscode-bench-kernels-"))
  const records: Array<BenchRecord> = []
  try {
    await writeSyntheticQwen2(dir, await qwen25_3bShape(2))
    await Effect.runPromise(initTensorBackend(backend, { allowCpu: true }))
    await Effect.runPromise(
      Effect.scoped(profileModel(dir, records)).pipe(
        Effect.provide(Layer.merge(TensorBackend.layerFor(backend), NodeServices.layer))
      )
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  writeBenchRecords("qwen2-kernels", records)
}

await main()
