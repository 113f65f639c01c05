/**
 * Behaviour of the Qwen2 LanguageModel beyond the goldens: padding invariance, hook contexts and
 * scoping, batched generation with per-row stops, sampling, typed errors for bad input and bad
 * checkpoints, and the training-side API (init → save → load, gradients).
 */

import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import {
  blockInput,
  blockOutput,
  type CapturedActivations,
  captureHook,
  disposeQwen2Weights,
  groupedAttention,
  type HookContext,
  initQwen2Weights,
  loadModel,
  ModelInputError,
  makeQwen2Config,
  makeQwen2LanguageModel,
  Positions,
  parseQwen2Config,
  qwen2Forward,
  readSafetensors,
  replaceHook,
  saveQwen2,
  sharedMissingMessage,
  sparseCrossEntropy,
  writeSafetensors
} from "../src/index.js"
import { failureOf, goldenDir, maxAbs, maxAbsDiff, readGolden, run, shared } from "./helpers.js"

const GQA = "qwen2-tiny-gqa"
const tmp = () => mkdtempSync(path.join(tmpdir(), "crosscode-qwen2-"))

/** Copies a golden model dir so a test can break it. */
const copyGolden = (model: string) => {
  const dir = tmp()
  for (const f of ["config.json", "generation_config.json", "model.safetensors"])
    copyFileSync(path.join(goldenDir(model), f), path.join(dir, f))
  return dir
}
const editConfig = (dir: string, patch: Record<string, unknown>) => {
  const file = path.join(dir, "config.json")
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, "utf8")), ...patch }))
}
const rewriteWeights = async (
  dir: string,
  edit: (names: Array<string>) => Array<{ name: string; shape?: Array<number> }>
) => {
  const file = path.join(dir, "model.safetensors")
  const { tensors } = await Effect.runPromise(readSafetensors(file))
  const kept = edit([...tensors.keys()])
  await Effect.runPromise(
    writeSafetensors(
      file,
      kept.map(({ name, shape }) => {
        const t = tensors.get(name) ?? tensors.get("model.norm.weight")!
        const s = shape ?? [...t.shape]
        return {
          name,
          dtype: "F32",
          shape: s,
          data: (t.data as Float32Array).slice(
            0,
            s.reduce((a, b) => a * b, 1)
          )
        }
      }),
      { format: "pt" }
    )
  )
}

describe.skipIf(!shared)(`Qwen2 LanguageModel${shared ? "" : ` (${sharedMissingMessage})`}`, () => {
  const g = shared ? readGolden(GQA) : undefined
  const seqs = g ? [g.forward[0]!.input_ids, g.forward[1]!.input_ids, g.greedy.prompt] : []

  it("gives the same results alone, right-padded and left-padded in a batch", async () => {
    await run(
      Effect.gen(function* () {
        const lm = yield* loadModel(goldenDir(GQA))
        const alone = yield* Effect.forEach(seqs, (s) =>
          Effect.map(lm.forward({ inputIds: [s], hiddenStates: true }), (r) => r[0]!)
        )
        for (const padding of ["right", "left"] as const) {
          const batch = yield* lm.forward({ inputIds: seqs, hiddenStates: true, padding })
          batch.forEach((r, i) => {
            expect(r.length).toBe(seqs[i]!.length)
            expect(maxAbs(r.logits!, alone[i]!.logits!), `${padding} logits ${i}`).toBeLessThan(2e-5)
            r.hiddenStates!.forEach((h, j) => {
              expect(maxAbs(h, alone[i]!.hiddenStates![j]!)).toBeLessThan(1e-4)
            })
          })
          const last = yield* lm.forward({ inputIds: seqs, logits: "last", padding })
          last.forEach((r, i) => {
            const V = lm.info.vocabSize
            const T = seqs[i]!.length
            expect(maxAbs(r.lastLogits!, alone[i]!.logits!.subarray((T - 1) * V, T * V))).toBeLessThan(2e-5)
            expect(r.logits).toBeUndefined()
          })
        }
        // The golden values themselves, from inside a padded batch.
        const left = yield* lm.forward({
          inputIds: [g!.forward[0]!.input_ids, g!.forward[1]!.input_ids],
          padding: "left"
        })
        expect(maxAbsDiff(left[0]!.logits!, g!.forward[0]!.logits)).toBeLessThan(1e-4)
      })
    )
  })

  it("long sequences (attention per (row, KV head) on wasm) stay causal and exact", async () => {
    await run(
      Effect.gen(function* () {
        const lm = yield* loadModel(goldenDir(GQA))
        const f = g!.forward[1]!
        const long = [...f.input_ids, ...Array.from({ length: 400 }, (_, i) => (i * 37) % 512)]
        const [r] = yield* lm.forward({ inputIds: [long] })
        const V = lm.info.vocabSize
        expect(maxAbsDiff(r!.logits!.subarray(0, f.input_ids.length * V), f.logits)).toBeLessThan(1e-4)
        // the per-group schedule (wasm, large products) equals the batched one, values and gradients
        const [B, nKV, nG, T, S, D] = [2, 2, 2, 300, 400, 40]
        const q = tf.randomNormal([B, nKV, nG * T, D]) as tf.Tensor4D
        const k = tf.randomNormal([B, nKV, S, D]) as tf.Tensor4D
        const v = tf.randomNormal([B, nKV, S, D]) as tf.Tensor4D
        const maskBits = Array.from({ length: B * T * S }, (_, i) => ((i * 7) % 11 === 0 ? -1e9 : 0))
        const bias = tf.tensor(maskBits, [B, 1, 1, T, S])
        const reference = (qq: tf.Tensor4D, kk: tf.Tensor4D, vv: tf.Tensor4D) => {
          const scores = tf.mul(tf.matMul(qq, kk, false, true), 1 / Math.sqrt(D))
          const p = tf.softmax(tf.add(tf.reshape(scores, [B, nKV, nG, T, S]), bias))
          return tf.matMul(tf.reshape(p, [B, nKV, nG * T, S]), vv)
        }
        expect(maxAbs(groupedAttention(q, k, v, bias).dataSync(), reference(q, k, v).dataSync())).toBeLessThan(1e-4)
        const w = tf.randomNormal([B, nKV, nG * T, D])
        const grads = (f: typeof reference) =>
          tf.grads((qq, kk, vv) => tf.sum(tf.mul(f(qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D), w)))([
            q,
            k,
            v
          ])
        const mine = grads((qq, kk, vv) => groupedAttention(qq, kk, vv, bias))
        const ref = grads(reference)
        mine.forEach((gr, i) => {
          expect(maxAbs(gr.dataSync(), ref[i]!.dataSync())).toBeLessThan(1e-3)
        })
        tf.dispose([q, k, v, bias, w, ...mine, ...ref])
      })
    )
  })

  it("stopAtLayer returns hidden states up to that block's output and no logits", async () => {
    await run(
      Effect.gen(function* () {
        const lm = yield* loadModel(goldenDir(GQA))
        const f = g!.forward[1]!
        const [r] = yield* lm.forward({ inputIds: [f.input_ids], stopAtLayer: 1, hiddenStates: true, padding: "left" })
        expect(r!.logits).toBeUndefined()
        expect(r!.hiddenStates).toHaveLength(3)
        expect(maxAbsDiff(r!.hiddenStates![2]!, f.layer_outputs[1]!)).toBeLessThan(5e-4)
        const [last] = yield* lm.forward({ inputIds: [f.input_ids], stopAtLayer: 2, hiddenStates: true })
        expect(maxAbsDiff(last!.hiddenStates![3]!, f.layer_outputs[2]!)).toBeLessThan(5e-4)
      })
    )
  })

  it("hook contexts: lastPromptIndex, masks and positions under left and right padding", async () => {
    await run(
      Effect.gen(function* () {
        const lm = yield* loadModel(goldenDir(GQA))
        const inputs = [[1, 2, 3], [4, 5, 6, 7, 8], [9]]
        const [alone] = yield* lm.forward({ inputIds: [inputs[1]!], hiddenStates: true })
        for (const padding of ["left", "right"] as const) {
          const ctxs: Array<HookContext> = []
          const caps: Array<CapturedActivations> = []
          yield* lm.forward({
            inputIds: inputs,
            padding,
            hooks: [
              {
                site: blockInput(0),
                when: "prefill",
                run: (_h, ctx) => {
                  ctxs.push(ctx)
                  return undefined
                }
              },
              captureHook(blockOutput(0), Positions.lastPrompt, (c) => caps.push(c))
            ]
          })
          const ctx = ctxs[0]!
          expect(ctx).toMatchObject({ phase: "prefill", step: 0, batchSize: 3, seqLen: 5, site: blockInput(0) })
          if (padding === "left") {
            expect([...ctx.lastPromptIndex]).toEqual([4, 4, 4])
            expect([...ctx.attentionMask]).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1])
            expect([...ctx.positionIds.subarray(0, 5)]).toEqual([0, 0, 0, 1, 2])
          } else {
            expect([...ctx.lastPromptIndex]).toEqual([2, 4, 0])
            expect([...ctx.attentionMask]).toEqual([1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
            expect([...ctx.positionIds.subarray(0, 5)]).toEqual([0, 1, 2, 0, 0])
          }
          const cap = caps[0]!
          expect([...cap.rows]).toEqual([0, 1, 2])
          expect([...cap.positions]).toEqual(padding === "left" ? [4, 4, 4] : [2, 4, 0])
          const H = lm.info.hiddenSize
          // Row 1's last token = the sequence alone's output of block 0 at its last position.
          expect(maxAbs(cap.values.subarray(H, 2 * H), alone!.hiddenStates![1]!.subarray(4 * H, 5 * H))).toBeLessThan(
            1e-4
          )
        }
      })
    )
  })

  it("hooks registered with addHooks are removed when the scope closes, also on failure", async () => {
    await run(
      Effect.gen(function* () {
        const lm = yield* loadModel(goldenDir(GQA))
        const input = { inputIds: [[1, 2, 3]] }
        const [clean] = yield* lm.forward(input)
        let calls = 0
        const zero = {
          site: blockOutput(0),
          when: "always" as const,
          run: (h: tf.Tensor3D) => {
            calls++
            return tf.zerosLike(h)
          }
        }
        const inScope = yield* Effect.scoped(
          Effect.gen(function* () {
            yield* lm.addHooks([zero])
            return (yield* lm.forward(input))[0]!
          })
        )
        expect(calls).toBe(1)
        expect(maxAbs(inScope.logits!, clean!.logits!)).toBeGreaterThan(0.1)
        const failed = yield* Effect.exit(
          Effect.scoped(
            Effect.gen(function* () {
              yield* lm.addHooks([zero])
              yield* lm.forward(input)
              return yield* Effect.fail("boom" as const)
            })
          )
        )
        expect(Exit.isFailure(failed)).toBe(true)
        expect(calls).toBe(2)
        const [after] = yield* lm.forward(input)
        expect(calls).toBe(2)
        expect(maxAbs(after!.logits!, clean!.logits!)).toBe(0)
        // A bad site is refused before anything is registered.
        const bad = yield* Effect.flip(Effect.scoped(lm.addHooks([{ ...zero, site: blockOutput(3) }])))
        expect(bad).toBeInstanceOf(ModelInputError)
        expect(bad.message).toContain("layer 3")
      })
    )
  })

  it("replaceHook touches only the selected positions; hook errors are typed", async () => {
    await run(
      Effect.gen(function* () {
        const lm = yield* loadModel(goldenDir(GQA))
        const H = lm.info.hiddenSize
        let before: Float32Array | undefined
        let after: Float32Array | undefined
        yield* lm.forward({
          inputIds: [[5, 6, 7, 8]],
          hooks: [
            captureHook(blockOutput(1), Positions.all, (c) => (before = c.values)),
            replaceHook(blockOutput(1), Positions.lastPrompt, (sel) => tf.onesLike(sel)),
            captureHook(blockOutput(1), Positions.all, (c) => (after = c.values))
          ]
        })
        expect(maxAbs(after!.subarray(0, 3 * H), before!.subarray(0, 3 * H))).toBe(0)
        expect([...after!.subarray(3 * H)]).toEqual(new Array(H).fill(1))
        const wrong = yield* Effect.flip(
          lm.forward({
            inputIds: [[1, 2]],
            hooks: [{ site: blockOutput(0), when: "always", run: () => tf.zeros([1, 2, 3]) as tf.Tensor3D }]
          })
        )
        expect(wrong.message).toContain("block_output.0")
        expect(wrong.message).toContain("[1, 2, 3]")
        const thrown = yield* Effect.flip(
          lm.forward({
            inputIds: [[1, 2]],
            hooks: [
              {
                site: blockInput(2),
                when: "prefill",
                run: () => {
                  throw new Error("kaput")
                }
              }
            ]
          })
        )
        expect(thrown.message).toContain("kaput")
      })
    )
  })

  it("rejects bad input with ModelInputError naming it", async () => {
    await run(
      Effect.gen(function* () {
        const lm = yield* loadModel(goldenDir(GQA))
        const e1 = yield* Effect.flip(
          lm.forward({
            inputIds: [
              [1, 2],
              [3, 512, 4]
            ]
          })
        )
        expect(e1.message).toContain("token id 512")
        expect(e1.message).toContain("sequence 1, position 1")
        const e2 = yield* Effect.flip(lm.generate({ prompts: [[-1]], maxNewTokens: 2 }))
        expect(e2.message).toContain("token id -1")
        expect(e2.message).toContain("prompt 0, position 0")
        const e3 = yield* Effect.flip(lm.forward({ inputIds: [[1]], stopAtLayer: 3 }))
        expect(e3.message).toContain("stopAtLayer 3")
        const e4 = yield* Effect.flip(lm.forward({ inputIds: [[]] }))
        expect(e4.message).toContain("empty")
        const e5 = yield* Effect.flip(lm.forward({ inputIds: [[1.5]] }))
        expect(e5.message).toContain("1.5")
        const e6 = yield* Effect.flip(
          lm.generate({ prompts: [[1]], maxNewTokens: 1, sampling: { _tag: "Sample", temperature: 0, seed: 1 } })
        )
        expect(e6.message).toContain("temperature")
        expect(yield* lm.forward({ inputIds: [] })).toEqual([])
      })
    )
  })

  it("batched generation equals generation alone; per-row stop tokens; sampling is seeded", async () => {
    await run(
      Effect.gen(function* () {
        const lm = yield* loadModel(goldenDir(GQA))
        const prompts = [[3, 4, 5, 6, 7, 8, 9], [10], [11, 12, 13]]
        const alone = yield* Effect.forEach(prompts, (p) =>
          Effect.map(lm.generate({ prompts: [p], maxNewTokens: 6 }), (r) => r[0]!.tokens)
        )
        const batched = yield* lm.generate({ prompts, maxNewTokens: 6 })
        expect(batched.map((r) => r.tokens)).toEqual(alone)
        const uncached = yield* lm.generate({ prompts, maxNewTokens: 6, useCache: false })
        expect(uncached.map((r) => r.tokens)).toEqual(alone)
        // Row 0 stops at its third token; the others run to max unless they emit it too.
        const stop = alone[0]![2]!
        const stopped = yield* lm.generate({ prompts, maxNewTokens: 6, stopTokenIds: [stop] })
        stopped.forEach((r, i) => {
          const k = alone[i]!.indexOf(stop)
          expect(r.tokens).toEqual(k < 0 ? alone[i] : alone[i]!.slice(0, k + 1))
          expect(r.stopReason).toBe(k < 0 ? "max_new_tokens" : "stop_token")
        })
        // Sampling.
        const sample = (seed: number, extra: object = {}) =>
          Effect.map(
            lm.generate({ prompts, maxNewTokens: 8, sampling: { _tag: "Sample", temperature: 1, seed, ...extra } }),
            (r) => r.map((x) => x.tokens)
          )
        const a = yield* sample(7)
        expect(yield* sample(7)).toEqual(a)
        expect(yield* sample(8)).not.toEqual(a)
        const greedy = (yield* lm.generate({ prompts, maxNewTokens: 8 })).map((r) => r.tokens)
        expect(yield* sample(3, { topK: 1 })).toEqual(greedy)
        expect(yield* sample(3, { topP: 1e-6 })).toEqual(greedy)
        expect((yield* lm.generate({ prompts, maxNewTokens: 0 })).map((r) => r.tokens)).toEqual([[], [], []])
      })
    )
  })

  it("decode-only hooks see every step with its context, with and without KV cache", async () => {
    await run(
      Effect.gen(function* () {
        const lm = yield* loadModel(goldenDir(GQA))
        for (const useCache of [true, false]) {
          const seen: Array<string> = []
          const r = yield* lm.generate({
            prompts: [[1, 2, 3], [4]],
            maxNewTokens: 3,
            useCache,
            hooks: [
              {
                site: blockOutput(2),
                when: "decode",
                run: (_h, c) => {
                  seen.push(
                    `${c.phase}${c.step}:${c.seqLen}:${[...c.positionIds].join(",")}:${[...c.lastPromptIndex].join(",")}`
                  )
                  return undefined
                }
              },
              {
                site: blockOutput(2),
                when: "prefill",
                run: (_h, c) => {
                  seen.push(`${c.phase}${c.step}:${c.seqLen}`)
                  return undefined
                }
              }
            ]
          })
          expect(r.map((x) => x.tokens.length)).toEqual([3, 3])
          const p = "prefill0:3"
          const d1 = "decode1:1:3,1:-1,-1"
          const d2 = "decode2:1:4,2:-1,-1"
          // Without the cache every recompute replays the earlier segments with their own contexts.
          expect(seen).toEqual(useCache ? [p, d1, d2] : [p, p, d1, p, d1, d2])
        }
      })
    )
  })
})

describe.skipIf(!shared)(`Qwen2 loading errors${shared ? "" : ` (${sharedMissingMessage})`}`, () => {
  it("missing weight, shape mismatch, unexpected tensor, unsupported config, unknown model_type", async () => {
    const d1 = copyGolden(GQA)
    await rewriteWeights(d1, (names) =>
      names.filter((n) => n !== "model.layers.1.mlp.up_proj.weight").map((name) => ({ name }))
    )
    const e1 = await failureOf(loadModel(d1))
    expect(e1._tag).toBe("ModelLoadError")
    expect(e1.message).toContain('"model.layers.1.mlp.up_proj.weight"')
    expect(e1.message).toContain("model.safetensors")

    const d2 = copyGolden(GQA)
    await rewriteWeights(d2, (names) =>
      names.map((name) => (name === "model.layers.0.self_attn.k_proj.weight" ? { name, shape: [16, 64] } : { name }))
    )
    const e2 = await failureOf(loadModel(d2))
    expect(e2.message).toContain('"model.layers.0.self_attn.k_proj.weight"')
    expect(e2.message).toContain("[16, 64]")
    expect(e2.message).toContain("[32, 64]")

    const d3 = copyGolden(GQA)
    await rewriteWeights(d3, (names) => [
      ...names.map((name) => ({ name })),
      { name: "model.layers.0.self_attn.o_proj.bias", shape: [64] }
    ])
    const e3 = await failureOf(loadModel(d3))
    expect(e3.message).toContain('"model.layers.0.self_attn.o_proj.bias"')

    const d4 = copyGolden(GQA)
    editConfig(d4, { intermediate_size: 100 })
    const e4 = await failureOf(loadModel(d4))
    expect(e4.message).toContain("mlp.gate_proj.weight")
    expect(e4.message).toContain("[100, 64]")

    const d5 = copyGolden(GQA)
    editConfig(d5, { use_sliding_window: true })
    expect(await failureOf(loadModel(d5))).toMatchObject({
      _tag: "UnsupportedConfigError",
      field: "use_sliding_window"
    })
    editConfig(d5, { use_sliding_window: false, model_type: "mamba" })
    expect(await failureOf(loadModel(d5))).toMatchObject({
      _tag: "UnsupportedConfigError",
      field: "model_type",
      value: "mamba"
    })
    editConfig(d5, { model_type: "qwen2", num_hidden_layers: "3" })
    const e6 = await failureOf(loadModel(d5))
    expect(e6._tag).toBe("ModelLoadError")
    expect(e6.message).toContain('"num_hidden_layers"')
    expect((await failureOf(loadModel(tmp())))._tag).toBe("ModelLoadError")
  })

  it("compact embeddings and logits: false", async () => {
    await run(
      Effect.gen(function* () {
        for (const model of ["qwen2-tiny-untied", "qwen2-tiny-gqa-bf16"]) {
          const f = readGolden(model).forward[0]!
          const compact = yield* loadModel(goldenDir(model), { embeddings: "compact" })
          const [r] = yield* compact.forward({ inputIds: [f.input_ids] })
          expect(maxAbsDiff(r!.logits!, f.logits)).toBeLessThan(1e-4)
          const noHead = yield* loadModel(goldenDir(model), { embeddings: "compact", logits: false })
          const [h] = yield* noHead.forward({ inputIds: [f.input_ids], stopAtLayer: 1, hiddenStates: true })
          expect(maxAbsDiff(h!.hiddenStates![2]!, f.layer_outputs[1]!)).toBeLessThan(5e-4)
          const [none] = yield* noHead.forward({ inputIds: [f.input_ids] })
          expect(none!.logits).toBeUndefined()
          expect((yield* Effect.flip(noHead.forward({ inputIds: [f.input_ids], logits: "all" }))).message).toContain(
            "LM head"
          )
          expect((yield* Effect.flip(noHead.generate({ prompts: [f.input_ids], maxNewTokens: 1 }))).message).toContain(
            "LM head"
          )
        }
      })
    )
  })
})

describe("Qwen2 training-side API", () => {
  const tiny = (tied: boolean) =>
    Effect.runPromise(
      makeQwen2Config({
        vocab_size: 97,
        hidden_size: 32,
        intermediate_size: 48,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        tie_word_embeddings: tied,
        initializer_range: 0.2,
        rope_theta: 10000,
        eos_token_id: 3
      })
    )
  const ids = [
    [5, 17, 33, 2, 90, 41],
    [8, 8, 1, 64, 12, 7]
  ]

  it("init → save (F32, BF16, sharded) → loadModel gives the logits of qwen2Forward", async () => {
    for (const tied of [true, false]) {
      const config = await tiny(tied)
      const weights = initQwen2Weights(config, 42)
      const expected = tf.tidy(() => qwen2Forward(config, weights, ids).logits!.arraySync())
      for (const opts of [{}, { maxShardBytes: 20_000 }, { dtype: "BF16" as const }]) {
        const dir = tmp()
        await Effect.runPromise(saveQwen2(dir, config, weights, opts))
        await run(
          Effect.gen(function* () {
            const lm = yield* loadModel(dir)
            expect(lm.info.eosTokenIds).toEqual([3])
            const r = yield* lm.forward({ inputIds: ids })
            if ("dtype" in opts) {
              // Compare with the same model after the BF16 rounding.
              const rounded = Object.fromEntries(
                Object.entries(weights).map(([k, t]) => [
                  k,
                  tf.tensor(
                    new Float32Array(
                      new Uint32Array(Float32Array.from(t.dataSync()).buffer).map(
                        (u) => (u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000
                      ).buffer
                    ),
                    t.shape
                  )
                ])
              )
              const exp2 = tf.tidy(() => qwen2Forward(config, rounded, ids).logits!.arraySync())
              r.forEach((s, b) => {
                expect(maxAbsDiff(s.logits!, exp2[b]!)).toBeLessThan(1e-4)
              })
              disposeQwen2Weights(rounded)
              expect(lm.info.weightDtype).toBe("bfloat16")
            } else {
              r.forEach((s, b) => {
                expect(maxAbsDiff(s.logits!, expected[b]!), `tied=${tied} ${JSON.stringify(opts)}`).toBeLessThan(1e-5)
              })
            }
          })
        )
      }
      // The in-memory wrapper agrees too.
      const lm = makeQwen2LanguageModel(config, weights)
      const r = await run(lm.forward({ inputIds: ids }))
      r.forEach((s, b) => {
        expect(maxAbsDiff(s.logits!, expected[b]!)).toBeLessThan(1e-5)
      })
      await Effect.runPromise(lm.dispose)
      disposeQwen2Weights(weights)
    }
  })

  it("is differentiable with tf.variableGrads on wasm (gradients match finite differences)", async () => {
    const config = await tiny(true)
    await run(Effect.void)
    const weights = initQwen2Weights(config, 7, { variables: true })
    const labels = tf.tensor1d([17, 33, 2, 90, 41, 0, 8, 1, 64, 12, 7, 0], "int32")
    const mask = tf.tensor1d([1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0], "float32")
    const loss = () =>
      tf.tidy(() => {
        const logits = qwen2Forward(config, weights, ids).logits!
        return sparseCrossEntropy(tf.reshape(logits, [-1, config.vocab_size]) as tf.Tensor2D, labels, mask)
      })
    const { value, grads } = tf.variableGrads(loss)
    expect(Number.isFinite(value.dataSync()[0])).toBe(true)
    expect(Object.keys(grads).length).toBe(Object.keys(weights).length)
    for (const g of Object.values(grads)) expect(g.dataSync().every(Number.isFinite)).toBe(true)
    // Finite differences (float32: h = 1e-2, loose tolerance) on a few coordinates.
    const probe = [
      "model.embed_tokens.weight",
      "model.layers.1.self_attn.q_proj.weight",
      "model.layers.0.mlp.down_proj.weight",
      "model.layers.0.self_attn.k_proj.bias"
    ]
    for (const name of probe) {
      const v = weights[name] as tf.Variable
      const flatIdx = name.includes("embed") ? 17 * 32 + 3 : 5
      const base = v.dataSync().slice()
      const at = (delta: number) => {
        const d = base.slice()
        d[flatIdx] = d[flatIdx]! + delta
        v.assign(tf.tensor(d, v.shape))
        return loss().dataSync()[0]!
      }
      const h = 1e-2
      const fd = (at(h) - at(-h)) / (2 * h)
      v.assign(tf.tensor(base, v.shape))
      const an = grads[v.name]!.dataSync()[flatIdx]!
      expect(Math.abs(fd - an), `${name}: fd ${fd} vs analytic ${an}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(an))
    }
    tf.dispose([value, labels, mask, ...Object.values(grads)])
    disposeQwen2Weights(weights)
  })

  it("sparseCrossEntropy's gradient survives labels made inside the taped function", async () => {
    await run(Effect.void)
    const logits = tf.variable(tf.tensor2d([0.5, -1, 2, 0.1, 0.3, -0.2], [2, 3]))
    // labels created inside f are disposed when f returns, before the backward pass
    const { value, grads } = tf.variableGrads(
      () => sparseCrossEntropy(logits as unknown as tf.Tensor2D, tf.tensor1d([2, 0], "int32")),
      [logits]
    )
    const p = tf.softmax(logits).arraySync() as Array<Array<number>>
    const expected = [
      [p[0]![0]! / 2, p[0]![1]! / 2, (p[0]![2]! - 1) / 2],
      [(p[1]![0]! - 1) / 2, p[1]![1]! / 2, p[1]![2]! / 2]
    ]
    expect(maxAbsDiff(grads[logits.name]!.dataSync(), expected.flat())).toBeLessThan(1e-6)
    tf.dispose([value, logits, ...Object.values(grads)])
  })

  it.skipIf(!shared)("qwen2Forward over the golden weights matches the goldens", async () => {
    const { tensors } = await Effect.runPromise(
      readSafetensors(path.join(goldenDir("qwen2-tiny-untied"), "model.safetensors"))
    )
    const config = await Effect.runPromise(
      parseQwen2Config(JSON.parse(readFileSync(path.join(goldenDir("qwen2-tiny-untied"), "config.json"), "utf8")))
    )
    await run(Effect.void)
    const weights = Object.fromEntries(
      [...tensors].map(([k, t]) => [k, tf.tensor(t.data as Float32Array, [...t.shape])])
    )
    const f = readGolden("qwen2-tiny-untied").forward[1]!
    const logits = tf.tidy(() => qwen2Forward(config, weights, [f.input_ids]).logits!.dataSync())
    expect(maxAbsDiff(logits, f.logits)).toBeLessThan(1e-4)
    expect(() => qwen2Forward(config, { ...weights, "model.norm.weight": tf.zeros([3]) }, [[1]])).toThrow(
      /model\.norm\.weight/
    )
    expect(() => qwen2Forward(config, weights, [[400]])).toThrow(/token id 400/)
    disposeQwen2Weights(weights)
  })
})
