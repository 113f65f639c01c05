/**
 * Partial loading (`loadModel(dir, { maxLayer })`): only the embeddings and blocks 0..maxLayer are
 * loaded, the bytes of later blocks / final norm / LM head are never read, passes that need them
 * fail with ModelInputError naming maxLayer, and `stopAtLayer ≤ maxLayer` gives exactly the full
 * model's activations.
 */

import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { qwen2Arch } from "../src/config/qwen2Config.js"
import { decoderTensorsUpTo } from "../src/decoder/arch.js"
import { disposeTensors, loadDecoderParams, paramTensors } from "../src/decoder/load.js"
import {
  blockInput,
  blockOutput,
  captureHook,
  disposeQwen2Weights,
  initQwen2Weights,
  loadModel,
  makeQwen2Config,
  openCheckpoint,
  openSafetensors,
  Positions,
  type Qwen2Config,
  qwen2WeightShapes,
  saveQwen2
} from "../src/index.js"
import { failureOf, run } from "./helpers.js"

const tmp = () => mkdtempSync(path.join(tmpdir(), "crosscode-partial-"))
const ids = [
  [5, 17, 33, 2, 90, 41],
  [8, 8, 1, 64]
]

const makeConfig = (tied: boolean) =>
  Effect.runPromise(
    makeQwen2Config({
      vocab_size: 97,
      hidden_size: 32,
      intermediate_size: 48,
      num_hidden_layers: 4,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      tie_word_embeddings: tied,
      initializer_range: 0.2,
      rope_theta: 10000,
      eos_token_id: 3
    })
  )

const save = async (config: Qwen2Config, options: Parameters<typeof saveQwen2>[3] = {}) => {
  const dir = tmp()
  const weights = initQwen2Weights(config, 11)
  await Effect.runPromise(saveQwen2(dir, config, weights, options))
  disposeQwen2Weights(weights)
  return dir
}

/** Hidden states (embeddings, blocks 0..stop) of the full model at `stopAtLayer`. */
const hiddenAt = (dir: string, stop: number, options: Parameters<typeof loadModel>[1] = {}) =>
  run(
    Effect.gen(function* () {
      const m = yield* loadModel(dir, options)
      const r = yield* m.forward({ inputIds: ids, stopAtLayer: stop, hiddenStates: true, padding: "left" })
      return r.map((s) => s.hiddenStates!.map((h) => Array.from(h)))
    })
  )

/** Layer index of a tensor name, or undefined for embeddings / final norm / LM head. */
const layerOf = (name: string) => {
  const m = /^model\.layers\.(\d+)\./.exec(name)
  return m === null ? undefined : Number(m[1])
}
/** A tensor a load with maxLayer 1 must not read: blocks ≥ 2, the final norm, the LM head. */
const afterLayer1 = (name: string) =>
  name === "model.norm.weight" || name === "lm_head.weight" || (layerOf(name) ?? -1) >= 2

describe("partial load (maxLayer)", () => {
  // The weights are made before any loadModel: start the wasm backend first (tfjs-core has none by default).
  beforeAll(() => run(Effect.void))
  it("gives exactly the full model's activations up to maxLayer, and reports maxLayer", async () => {
    for (const tied of [true, false]) {
      const config = await makeConfig(tied)
      const dir = await save(config)
      const full = await hiddenAt(dir, 1)
      const partial = await hiddenAt(dir, 1, { maxLayer: 1 })
      expect(partial).toEqual(full)
      expect(await hiddenAt(dir, 0, { maxLayer: 1 })).toEqual(await hiddenAt(dir, 0))
      // The last block is allowed too (no final norm / LM head).
      expect(await hiddenAt(dir, 3, { maxLayer: 3 })).toEqual(await hiddenAt(dir, 3))
      await run(
        Effect.gen(function* () {
          const m = yield* loadModel(dir, { maxLayer: 1, embeddings: "compact" })
          expect(m.info.maxLayer).toBe(1)
          expect(m.info.numLayers).toBe(4)
          // One row on both models (a row's activations may differ in the last bits with the
          // batch it shares on BLAS backends, so the batch of `full` is not the reference here).
          const single = { inputIds: [ids[0]!], stopAtLayer: 1, hiddenStates: true } as const
          const [r] = yield* m.forward(single)
          const [f] = yield* (yield* loadModel(dir)).forward(single)
          expect(r!.hiddenStates!.map((h) => Array.from(h))).toEqual(f!.hiddenStates!.map((h) => Array.from(h)))
          // Hooks at or before maxLayer fire as on the full model.
          const seen: Array<Float32Array> = []
          yield* m.forward({
            inputIds: ids,
            stopAtLayer: 1,
            hooks: [captureHook(blockOutput(1), Positions.lastPrompt, (c) => seen.push(c.values))]
          })
          expect(seen).toHaveLength(1)
          expect((yield* loadModel(dir)).info.maxLayer).toBeUndefined()
        })
      )
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("rejects passes, hooks and generation that need blocks past maxLayer with ModelInputError", async () => {
    const dir = await save(await makeConfig(true))
    await run(
      Effect.gen(function* () {
        const m = yield* loadModel(dir, { maxLayer: 1 })
        const errors = [
          yield* Effect.flip(m.forward({ inputIds: ids })),
          yield* Effect.flip(m.forward({ inputIds: ids, logits: "none", hiddenStates: true })),
          yield* Effect.flip(m.forward({ inputIds: ids, stopAtLayer: 2 })),
          yield* Effect.flip(
            m.forward({
              inputIds: ids,
              stopAtLayer: 1,
              hooks: [captureHook(blockInput(2), Positions.all, () => undefined)]
            })
          ),
          yield* Effect.flip(m.generate({ prompts: ids, maxNewTokens: 2 })),
          yield* Effect.flip(Effect.scoped(m.addHooks([captureHook(blockOutput(3), Positions.all, () => undefined)])))
        ]
        for (const e of errors) {
          expect(e._tag).toBe("ModelInputError")
          expect(e.message).toContain("maxLayer 1")
        }
        expect(errors[2]!.message).toContain("stopAtLayer 2")
        expect(errors[3]!.message).toContain("block_input.2")
        // stopAtLayer's own range check is unchanged.
        expect((yield* Effect.flip(m.forward({ inputIds: ids, stopAtLayer: 9 }))).message).toContain("out of range")
      })
    )
    for (const bad of [4, -1, 1.5]) {
      const e = await failureOf(loadModel(dir, { maxLayer: bad }))
      expect(e._tag).toBe("ModelLoadError")
      expect(e.message).toContain(`maxLayer ${bad} is out of range [0, 4)`)
    }
    const e = await failureOf(loadModel(dir, { maxLayer: 1, logits: true }))
    expect(e._tag).toBe("ModelLoadError")
    expect(e.message).toContain("logits: true")
    rmSync(dir, { recursive: true, force: true })
  })

  it("never opens a shard that holds only later layers (missing or truncated shards still load)", async () => {
    const config = await makeConfig(false)
    const dir = await save(config, { maxShardBytes: 20_000 })
    const index = JSON.parse(readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8")) as {
      weight_map: Record<string, string>
    }
    const shardsOf = new Map<string, Array<string>>()
    for (const [name, shard] of Object.entries(index.weight_map))
      shardsOf.set(shard, [...(shardsOf.get(shard) ?? []), name])
    // Shards whose tensors all belong to blocks 2, 3, the final norm or the LM head.
    const later = [...shardsOf].filter(([, names]) => names.every(afterLayer1)).map(([s]) => s)
    expect(later.length).toBeGreaterThanOrEqual(2)
    const reference = await hiddenAt(dir, 1)
    // Break them: truncate one to half its size, delete the others.
    const [first, ...rest] = later
    const firstPath = path.join(dir, first!)
    truncateSync(firstPath, Math.floor(readFileSync(firstPath).byteLength / 2))
    for (const s of rest) rmSync(path.join(dir, s))
    expect(await hiddenAt(dir, 1, { maxLayer: 1 })).toEqual(reference)
    // Without maxLayer the broken shards are read and the load fails.
    const e = await failureOf(loadModel(dir))
    expect(e._tag).toBe("ModelLoadError")
    rmSync(dir, { recursive: true, force: true })
  })

  it("reads exactly the bytes of the embeddings and blocks 0..maxLayer (corrupt later bytes are harmless)", async () => {
    const config = await makeConfig(true)
    const dir = await save(config)
    const file = path.join(dir, "model.safetensors")
    const reference = await hiddenAt(dir, 1)
    // Overwrite every tensor of block 2, block 3 and the final norm with 0xFF bytes (NaN in F32).
    const ranges = await Effect.runPromise(
      Effect.scoped(
        Effect.map(openSafetensors(file), (f) =>
          [...f.header.tensors].map(([name, t]) => ({
            name,
            begin: f.header.dataOffset + t.begin,
            end: f.header.dataOffset + t.end
          }))
        )
      )
    )
    const fd = openSync(file, "r+")
    for (const r of ranges) {
      if (afterLayer1(r.name)) writeSync(fd, Buffer.alloc(r.end - r.begin, 0xff), 0, r.end - r.begin, r.begin)
    }
    closeSync(fd)
    expect(await hiddenAt(dir, 1, { maxLayer: 1 })).toEqual(reference)
    // The corruption is real: loading the full model reads block 2 and refuses its NaN weights.
    const full = await failureOf(loadModel(dir))
    expect(full._tag).toBe("ModelLoadError")
    expect(full.message).toMatch(/weight "model\.layers\.2\..*" .*non-finite values/)

    // Byte accounting through the checkpoint: exactly the selected tensors' data.
    const shapes = qwen2WeightShapes(config)
    const wanted = decoderTensorsUpTo(1)
    let expectedBytes = 0
    for (const [name, shape] of shapes) if (wanted(name)) expectedBytes += shape.reduce((a, b) => a * b, 1) * 4
    const read = await run(
      Effect.gen(function* () {
        const checkpoint = yield* openCheckpoint(dir, { select: wanted })
        expect(checkpoint.names.some(afterLayer1)).toBe(false)
        const { params } = yield* loadDecoderParams(checkpoint, qwen2Arch(config), { maxLayer: 1 })
        expect(params.layers).toHaveLength(2)
        expect(params.norm).toBeUndefined()
        expect(params.lmHead).toBeUndefined()
        disposeTensors(paramTensors(params))
        return checkpoint.bytesRead()
      })
    )
    expect(read).toBe(expectedBytes)
    expect(existsSync(file)).toBe(true)
    rmSync(dir, { recursive: true, force: true })
  })
})
