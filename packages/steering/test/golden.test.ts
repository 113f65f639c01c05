/**
 * The fixed-vector intervention reproduces the golden steering of transformers: the golden
 * `steering.vector` added at the output of block 1 at every position, generated ones included.
 */
import { loadModel, sharedMissingMessage } from "@crosscode/core"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { addDirection, forwardWith, generateLockstep, generateWith } from "../src/index.js"
import { GOLDEN_MODELS, goldenDir, maxAbsDiff, readGolden, run, SITE, shared } from "./helpers.js"

describe.skipIf(shared === undefined)("addDirection reproduces the golden steering (Qwen2, Llama, Gemma 2)", () => {
  if (shared === undefined) console.warn(sharedMissingMessage)
  for (const model of GOLDEN_MODELS) {
    it(`${model}: steered logits (|Δ| ≤ 1e-4) and greedy tokens`, async () => {
      const g = readGolden(model)
      expect(g.steering.layer).toBe(SITE.layer)
      const steer = addDirection({ site: SITE, vector: g.steering.vector, positions: "all" })
      const { logits, tokens, cleanTokens } = await run(
        Effect.gen(function* () {
          const lm = yield* loadModel(goldenDir(model))
          const logits = []
          for (const f of g.steering.forward)
            logits.push((yield* forwardWith(lm, steer, f.input_ids, { logits: "all" })).logits!)
          const gen = yield* generateWith(lm, steer, g.steering.greedy.prompt, {
            maxNewTokens: g.steering.greedy.max_new_tokens,
            stopTokenIds: []
          })
          // Hooks are per call: the model is clean again afterwards.
          const [after] = yield* lm.generate({
            prompts: [g.greedy.prompt],
            maxNewTokens: g.greedy.max_new_tokens,
            stopTokenIds: []
          })
          return { logits, tokens: gen.tokens, cleanTokens: after!.tokens }
        })
      )
      g.steering.forward.forEach((f, i) => {
        expect(maxAbsDiff(logits[i]!, f.logits.flat().map(Math.fround))).toBeLessThanOrEqual(1e-4)
      })
      expect(tokens).toEqual(g.steering.greedy.new_tokens)
      expect(cleanTokens).toEqual(g.greedy.new_tokens)
    })
  }

  it("lockstep generation with the vector on every prompt position of the growing sequence is the same every-token steering", async () => {
    const g = readGolden("qwen2-tiny-gqa")
    const steer = addDirection({ site: SITE, vector: g.steering.vector, positions: "prompt" })
    const gen = await run(
      Effect.gen(function* () {
        const lm = yield* loadModel(goldenDir("qwen2-tiny-gqa"))
        return yield* generateLockstep(lm, steer, g.steering.greedy.prompt, {
          maxNewTokens: g.steering.greedy.max_new_tokens,
          stopTokenIds: [],
          returnStepLogits: true
        })
      })
    )
    expect(gen.tokens).toEqual(g.steering.greedy.new_tokens)
    gen.stepLogits!.forEach((l, k) => {
      expect(maxAbsDiff(l, g.steering.greedy.step_logits[k]!.map(Math.fround))).toBeLessThanOrEqual(1e-4)
    })
  })
})
