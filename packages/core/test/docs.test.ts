/** Runs the worked example of docs/extending-model-family.md exactly as written there. */

import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { importDocExample, removeGenDir } from "../../../test-support/docExample.js"
import { blockOutput, captureHook, loadModel, type ModelFamily, Positions, writeSafetensors } from "../src/index.js"
import { goldenDir, maxAbs, run, shared } from "./helpers.js"

const genDir = path.join(import.meta.dirname, ".cache")
afterAll(() => removeGenDir(genDir))

describe("docs/extending-model-family.md", () => {
  it("the toy family and the alias family load through loadModel once registered", async () => {
    const mod = await importDocExample<{ toyFamily: ModelFamily; qwen2AliasFamily: ModelFamily }>(
      "extending-model-family.md",
      "model-family",
      genDir
    )
    const { withModelFamilies } = await import("../src/index.js")

    const dir = mkdtempSync(path.join(tmpdir(), "crosscode-toy-"))
    const V = 11
    const H = 8
    const L = 2
    writeFileSync(
      path.join(dir, "config.json"),
      JSON.stringify({ model_type: "toy-mlp", vocab_size: V, hidden_size: H, num_hidden_layers: L })
    )
    const rnd = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 0.8)
    await Effect.runPromise(
      writeSafetensors(path.join(dir, "model.safetensors"), [
        { name: "embed.weight", dtype: "F32", shape: [V, H], data: rnd(V * H, 1) },
        { name: "layers.0.weight", dtype: "F32", shape: [H, H], data: rnd(H * H, 2) },
        { name: "layers.1.weight", dtype: "F32", shape: [H, H], data: rnd(H * H, 3) }
      ])
    )
    // Unregistered: a typed error naming model_type.
    const unknown = await run(Effect.flip(loadModel(dir)))
    expect(unknown).toMatchObject({ _tag: "UnsupportedConfigError", field: "model_type", value: "toy-mlp" })

    await run(
      Effect.gen(function* () {
        const model = yield* loadModel(dir)
        expect(model.info.family).toBe("toy-mlp")
        const caps: Array<Float32Array> = []
        const [r] = yield* model.forward({
          inputIds: [[1, 2, 3]],
          hiddenStates: true,
          hooks: [captureHook(blockOutput(1), Positions.all, (c) => caps.push(c.values))]
        })
        expect(r!.hiddenStates).toHaveLength(L + 1)
        expect(r!.logits!.length).toBe(3 * V)
        expect(maxAbs(caps[0]!, r!.hiddenStates![2]!)).toBe(0)
        // Reference computation for position 0.
        const expected = tf.tidy(() => {
          const e = tf.tensor2d(rnd(V * H, 1), [V, H])
          let x = tf.slice(e, [1, 0], [1, H])
          for (const s of [2, 3]) x = tf.add(x, tf.tanh(tf.matMul(x, tf.tensor2d(rnd(H * H, s), [H, H]))))
          return tf.matMul(x, e, false, true).dataSync()
        })
        expect(maxAbs(r!.logits!.subarray(0, V), expected)).toBeLessThan(1e-5)
        const gen = yield* model.generate({ prompts: [[1, 2], [3]], maxNewTokens: 4 })
        const genNoCache = yield* model.generate({ prompts: [[1, 2], [3]], maxNewTokens: 4, useCache: false })
        expect(gen.map((g) => g.tokens)).toEqual(genNoCache.map((g) => g.tokens))
        expect(gen[0]!.tokens).toHaveLength(4)
        expect((yield* Effect.flip(model.forward({ inputIds: [[V]] }))).message).toContain(`token id ${V}`)

        if (shared) {
          const alias = mkdtempSync(path.join(tmpdir(), "crosscode-alias-"))
          copyFileSync(
            path.join(goldenDir("qwen2-tiny-gqa"), "model.safetensors"),
            path.join(alias, "model.safetensors")
          )
          const cfg = JSON.parse(readFileSync(path.join(goldenDir("qwen2-tiny-gqa"), "config.json"), "utf8"))
          writeFileSync(path.join(alias, "config.json"), JSON.stringify({ ...cfg, model_type: "my-qwen2-finetune" }))
          const a = yield* loadModel(alias)
          const q = yield* loadModel(goldenDir("qwen2-tiny-gqa"))
          const [ra] = yield* a.forward({ inputIds: [[5, 6, 7]] })
          const [rq] = yield* q.forward({ inputIds: [[5, 6, 7]] })
          expect(maxAbs(ra!.logits!, rq!.logits!)).toBe(0)
        }
      }).pipe(withModelFamilies(mod.toyFamily, mod.qwen2AliasFamily))
    )
  })
})
