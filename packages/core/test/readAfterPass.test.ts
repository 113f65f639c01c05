/**
 * `HookContext.readAfterPass`: tensors a hook hands over are read after the pass (asynchronously,
 * as webgpu needs), delivered before `forward`/`generate` returns, and freed — also when a
 * callback throws (a typed ModelInputError) or a hook fails.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import {
  blockOutput,
  captureHook,
  type Hook,
  loadModel,
  ModelInputError,
  Positions,
  sharedMissingMessage,
  TensorBackend
} from "../src/index.js"
import { goldenDir, run, shared } from "./helpers.js"

describe.skipIf(!shared)(`readAfterPass${shared ? "" : ` (${sharedMissingMessage})`}`, () => {
  it("delivers hook reads before forward/generate return, in call order, and leaks no tensor", async () => {
    await run(
      Effect.gen(function* () {
        const { tf } = yield* TensorBackend
        const lm = yield* loadModel(goldenDir("qwen2-tiny-gqa"))
        const seen: Array<string> = []
        const norms: Hook = {
          site: blockOutput(0),
          when: "always",
          run: (h, ctx) => {
            ctx.readAfterPass!(tf.sum(tf.square(h), 2), (v) => seen.push(`norms ${ctx.phase} ${ctx.step} ${v.length}`))
            ctx.readAfterPass!(tf.cast(tf.ones([2]), "int32"), (v) => seen.push(`ints ${v.constructor.name}`))
            return undefined
          }
        }
        const capture = captureHook(blockOutput(1), Positions.all, (c) => seen.push(`capture ${c.values.length}`))
        const before = tf.memory().numTensors
        yield* lm.forward({ inputIds: [[1, 2, 3]], hooks: [norms, capture] })
        expect(seen).toEqual(["norms prefill 0 3", "ints Float32Array", `capture ${3 * 64}`])
        seen.length = 0
        yield* lm.generate({ prompts: [[1, 2, 3]], maxNewTokens: 2, stopTokenIds: [], hooks: [norms] })
        expect(seen).toEqual(["norms prefill 0 3", "ints Float32Array", "norms decode 1 1", "ints Float32Array"])
        expect(tf.memory().numTensors).toBe(before)
      })
    )
  })

  it("a throwing readAfterPass callback is a ModelInputError, and its tensors are freed", async () => {
    await run(
      Effect.gen(function* () {
        const { tf } = yield* TensorBackend
        const lm = yield* loadModel(goldenDir("qwen2-tiny-gqa"))
        const bad = captureHook(blockOutput(0), Positions.all, () => {
          throw new Error("sink full")
        })
        const before = tf.memory().numTensors
        const e = yield* Effect.flip(lm.forward({ inputIds: [[1, 2, 3]], hooks: [bad] }))
        expect(e).toBeInstanceOf(ModelInputError)
        expect(e.message).toContain("sink full")
        const e2 = yield* Effect.flip(lm.generate({ prompts: [[1, 2]], maxNewTokens: 3, hooks: [bad] }))
        expect(e2.message).toContain("sink full")
        expect(tf.memory().numTensors).toBe(before)
      })
    )
  })
})
