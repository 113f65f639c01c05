/**
 * A forward pass frees each decoder block's intermediates (attention scores, MLP activations) when
 * the block ends, so live tensor memory grows by about one residual-stream tensor per block, not
 * by everything the block computed.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import {
  blockOutput,
  disposeQwen2Weights,
  initQwen2Weights,
  makeQwen2Config,
  makeQwen2LanguageModel,
  TensorBackend
} from "../src/index.js"
import { run } from "./helpers.js"

describe("activation memory of a forward pass", () => {
  it("grows by about one residual tensor per block (intermediates are freed per block)", async () => {
    const config = await Effect.runPromise(
      makeQwen2Config({
        vocab_size: 50,
        hidden_size: 32,
        intermediate_size: 256,
        num_hidden_layers: 6,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        tie_word_embeddings: true,
        rope_theta: 10000
      })
    )
    await run(
      Effect.gen(function* () {
        const { tf } = yield* TensorBackend
        const weights = initQwen2Weights(config, 3)
        const model = makeQwen2LanguageModel(config, weights)
        const B = 4
        const T = 32
        const ids = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 7 + t * 3) % 50))
        const live: Array<number> = []
        const hooks = Array.from({ length: 6 }, (_, l) => ({
          site: blockOutput(l),
          when: "prefill" as const,
          run: () => {
            live.push(tf.memory().numBytes)
            return undefined
          }
        }))
        yield* model.forward({ inputIds: ids, stopAtLayer: 5, hooks })
        const residual = B * T * 32 * 4
        const perBlock = (live[5]! - live[1]!) / 4
        // Everything one block computes is ~40 residual-sized tensors plus the [B,T,256] MLP
        // activations and [B,heads,T,T] scores; only its output (and input) may stay alive.
        expect(perBlock).toBeLessThanOrEqual(2 * residual)
        yield* model.dispose
        disposeQwen2Weights(weights)
      })
    )
  })
})
