/**
 * `harvestFromDirs`: models given as directories are loaded partially (blocks up to the deepest
 * site, no LM head) and give exactly the store that fully loaded models give; blocks past the
 * deepest site are never read (their shards may be missing).
 */
import { readFileSync, rmSync } from "node:fs"
import * as path from "node:path"
import {
  blockInput,
  blockOutput,
  disposeQwen2Weights,
  initQwen2Weights,
  loadModel,
  makeQwen2Config,
  saveQwen2,
  TensorBackend
} from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, type FileSystem, Layer, type Path } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { harvestLoadOptions, harvestMaxLayer, loadHarvestModels } from "../src/harvest/fromDirs.js"
import { ActivationStore, fromSamples, harvest, harvestFromDirs } from "../src/index.js"
import { getTf, tempDir } from "./helpers.js"

const tmp = tempDir("fromdirs")
beforeAll(async () => {
  await getTf() // wasm before any tensor is created
})
afterAll(() => tmp.cleanup())
const Wasm = Layer.merge(TensorBackend.layerFor("wasm"), NodeServices.layer)
const runWasm = <A, E>(eff: Effect.Effect<A, E, TensorBackend | FileSystem.FileSystem | Path.Path>) =>
  Effect.runPromise(eff.pipe(Effect.provide(Wasm)))

const saveModel = async (name: string, seed: number) => {
  const config = await Effect.runPromise(
    makeQwen2Config({
      vocab_size: 61,
      hidden_size: 16,
      intermediate_size: 24,
      num_hidden_layers: 4,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      tie_word_embeddings: true,
      initializer_range: 0.2,
      rope_theta: 10000,
      eos_token_id: 2
    })
  )
  const dir = path.join(tmp.dir, name)
  const weights = initQwen2Weights(config, seed)
  // Small shards, so that blocks 2 and 3 live in shards of their own.
  await Effect.runPromise(saveQwen2(dir, config, weights, { maxShardBytes: 6_000 }))
  disposeQwen2Weights(weights)
  return dir
}

const samples = Array.from({ length: 11 }, (_, i) => ({
  text: `t${i}`,
  dataset: i % 3 === 0 ? "tool" : "web",
  id: `s${i}`,
  tokenIds: Array.from({ length: 2 + ((i * 5) % 7) }, (_, k) => (i * 13 + k * 7 + 1) % 61)
}))
const source = fromSamples("samples", samples)
const sites = [blockOutput(1), blockInput(1)]

const readRows = (dir: string) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const store = yield* ActivationStore.open(dir)
      return { manifest: store.manifest, rows: Array.from(yield* store.rowRange(0, store.rows)) }
    })
  )

describe("harvestFromDirs", () => {
  it("loads blocks up to the deepest site only and gives the store of fully loaded models", async () => {
    const a = await saveModel("a", 1)
    const b = await saveModel("b", 2)
    expect(harvestMaxLayer(sites)).toBe(1)
    expect(harvestLoadOptions(sites)).toEqual({ maxLayer: 1, logits: false, embeddings: "compact" })

    // Reference: fully loaded models through `harvest`.
    const refDir = path.join(tmp.dir, "ref")
    await runWasm(
      Effect.scoped(
        Effect.gen(function* () {
          const models = [
            { label: "A", model: yield* loadModel(a) },
            { label: "B", model: yield* loadModel(b) }
          ]
          return yield* harvest({
            models,
            sites,
            source,
            policy: { _tag: "AllTokens" },
            batchSize: 4,
            store: { dir: refDir },
            progress: { log: false }
          })
        })
      )
    )

    // Break every shard that holds only blocks ≥ 2 / the final norm: a partial load never opens them.
    for (const dir of [a, b]) {
      const index = JSON.parse(readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8")) as {
        weight_map: Record<string, string>
      }
      const byShard = new Map<string, Array<string>>()
      for (const [name, shard] of Object.entries(index.weight_map))
        byShard.set(shard, [...(byShard.get(shard) ?? []), name])
      const late = (n: string) => n === "model.norm.weight" || Number(/^model\.layers\.(\d+)\./.exec(n)?.[1] ?? -1) >= 2
      const removed = [...byShard].filter(([, names]) => names.every(late))
      expect(removed.length).toBeGreaterThan(0)
      for (const [shard] of removed) rmSync(path.join(dir, shard))
    }

    const dir = path.join(tmp.dir, "dirs")
    const result = await runWasm(
      harvestFromDirs({
        models: [
          { label: "A", dir: a },
          { label: "B", dir: b }
        ],
        sites,
        source,
        policy: { _tag: "AllTokens" },
        batchSize: 4,
        store: { dir },
        progress: { log: false }
      })
    )
    const ref = await readRows(refDir)
    const got = await readRows(dir)
    expect(result.rows).toBe(ref.rows.length / (4 * 16))
    expect(got.rows).toEqual(ref.rows)
    // Same models as far as the manifest (and resume) is concerned: numLayers is the architecture's.
    expect(got.manifest.models).toEqual(ref.manifest.models)

    // A site past an explicit maxLayer fails the harvest naming it.
    const e = await runWasm(
      Effect.flip(
        harvestFromDirs({
          models: [{ label: "A", dir: a, load: { maxLayer: 0 } }],
          sites,
          source,
          store: { dir: path.join(tmp.dir, "bad") },
          progress: { log: false }
        })
      )
    )
    expect(e._tag).toBe("HarvestError")
    expect(e.message).toContain("maxLayer 0")

    // The loaded models are partial.
    const infos = await runWasm(
      Effect.scoped(
        Effect.map(loadHarvestModels([{ label: "A", dir: a }], [blockOutput(1)]), (ms) => ms[0]!.model.info)
      )
    )
    expect(infos.maxLayer).toBe(1)
    expect(infos.numLayers).toBe(4)
  })
})
