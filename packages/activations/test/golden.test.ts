/**
 * Harvest from the golden tiny Qwen2 models (../shared/golden) into a store and check the stored
 * activations against the Hugging Face reference: `layer_outputs[l][t]` is the residual stream
 * after decoder block l at position t (= our `blockOutput(l)`), each sequence run alone.
 * The two golden sequences (7 and 13 tokens) are harvested in one batch, so padding is exercised.
 */

import { readFileSync } from "node:fs"
import * as path from "node:path"
import { blockOutput, findSharedDir, loadModel, sharedMissingMessage, TensorBackend } from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { ActivationStore, fromSamples, type HarvestResult, harvest, Policy, type PositionPolicy } from "../src/index.js"
import { tempDir } from "./helpers.js"

interface Golden {
  readonly forward: ReadonlyArray<{
    readonly input_ids: ReadonlyArray<number>
    readonly layer_outputs: ReadonlyArray<ReadonlyArray<ReadonlyArray<number>>>
  }>
}

interface Out {
  readonly result: HarvestResult
  readonly store: ActivationStore.ActivationStoreShape
  readonly data: Float32Array
  readonly meta: ReadonlyArray<{ readonly id?: string; readonly position?: number }>
}

const shared = findSharedDir()
const tmp = tempDir("golden")
afterAll(() => tmp.cleanup())
const TOL = 5e-4 // golden/README.md: hidden states |Δ| ≤ 5e-4 for a float32 implementation

describe.skipIf(!shared)("harvest from the golden tiny Qwen2 models", () => {
  if (!shared) console.warn(sharedMissingMessage)
  const dirA = path.join(shared ?? "", "golden/qwen2-tiny-gqa")
  const dirB = path.join(shared ?? "", "golden/qwen2-tiny-gqa-bf16")
  const goldenA = (): Golden => JSON.parse(readFileSync(path.join(dirA, "golden.json"), "utf8")) as Golden
  const goldenB = (): Golden => JSON.parse(readFileSync(path.join(dirB, "golden.json"), "utf8")) as Golden
  const layers = [0, 1, 2]

  const harvestGolden = (policy: PositionPolicy, padding: "left" | "right", dir: string): Effect.Effect<Out, unknown> =>
    Effect.scoped(
      Effect.gen(function* () {
        const a = yield* loadModel(dirA)
        const b = yield* loadModel(dirB)
        const g = goldenA()
        const source = fromSamples(
          "golden-forward",
          g.forward.map((f, i) => ({ text: "", dataset: "golden", id: `forward[${i}]`, tokenIds: f.input_ids }))
        )
        const result = yield* harvest({
          models: [
            { label: "f32", model: a },
            { label: "bf16", model: b }
          ],
          sites: layers.map(blockOutput),
          source,
          policy,
          padding,
          batchSize: 2,
          store: { dir, dtype: "f32", shardRows: 5 },
          progress: { log: false }
        })
        const store = yield* ActivationStore.open(dir, { verify: "full" })
        const data = yield* store.rowRange(0, store.rows)
        const meta = yield* Effect.forEach(
          Array.from({ length: store.rows }, (_, i) => i),
          (i) => store.rowText(i)
        )
        return { result, store, data, meta }
      })
    ).pipe(Effect.provide(Layer.merge(Layer.orDie(TensorBackend.layerFor("wasm")), NodeServices.layer)))

  const check = (out: Out, expectedRows: number) => {
    const ga = goldenA()
    const gb = goldenB()
    const dim = 64
    const S = 2 * layers.length
    expect(out.store.rows).toBe(expectedRows)
    expect(out.store.dim).toBe(dim)
    expect(out.store.sources.map((s) => `${s.model}/${s.site}`)).toEqual([
      "f32/block_output.0",
      "f32/block_output.1",
      "f32/block_output.2",
      "bf16/block_output.0",
      "bf16/block_output.1",
      "bf16/block_output.2"
    ])
    let maxErr = 0
    for (let r = 0; r < out.store.rows; r++) {
      const m = out.meta[r] as { id?: string; position?: number }
      const seq = Number(/forward\[(\d)\]/.exec(m.id ?? "")?.[1])
      const p = m.position as number
      for (const [mi, g] of [ga, gb].entries()) {
        for (const l of layers) {
          const want = g.forward[seq]?.layer_outputs[l]?.[p] as ReadonlyArray<number>
          const off = (r * S + mi * layers.length + l) * dim
          for (let j = 0; j < dim; j++)
            maxErr = Math.max(maxErr, Math.abs((out.data[off + j] as number) - Math.fround(want[j] as number)))
        }
      }
    }
    expect(maxErr).toBeLessThan(TOL)
    return maxErr
  }

  for (const padding of ["left", "right"] as const) {
    it(`allTokens, ${padding} padding: every stored row equals the golden layer outputs`, async () => {
      const out = await Effect.runPromise(
        harvestGolden(Policy.allTokens(), padding, path.join(tmp.dir, `all-${padding}`))
      )
      expect(out.result.shards).toBe(4) // 20 rows in shards of 5
      expect(out.meta.map((m) => m.position)).toEqual([
        ...Array.from({ length: 7 }, (_, i) => i),
        ...Array.from({ length: 13 }, (_, i) => i)
      ])
      check(out, 20)
    })

    it(`lastToken, ${padding} padding: one row per sequence at its last real token`, async () => {
      const out = await Effect.runPromise(
        harvestGolden(Policy.lastToken, padding, path.join(tmp.dir, `last-${padding}`))
      )
      expect(out.meta.map((m) => m.position)).toEqual([6, 12])
      check(out, 2)
    })
  }
})
