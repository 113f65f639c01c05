/**
 * Every built-in family (Qwen2, Llama with and without Llama 3 RoPE scaling, Gemma 2) against
 * transformers' outputs (../shared/golden, see its README):
 * logits |Δ| ≤ 1e-4, hidden states and layer outputs ≤ 5e-4, greedy tokens exact with and without
 * the KV cache, and the steered forward/greedy (vector added to block 1's output everywhere).
 * Gemma 2's greedy references are full recomputes (transformers' own cached decoding is wrong past
 * the sliding window); our cached generation must match them too.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import {
  addVectorHook,
  blockOutput,
  captureHook,
  type Hook,
  type LanguageModelShape,
  loadModel,
  Positions,
  sharedMissingMessage
} from "../src/index.js"
import {
  ALL_GOLDEN_MODELS,
  type GoldenForward,
  type GoldenGreedy,
  goldenDir,
  maxAbsDiff,
  readGolden,
  run,
  shared
} from "./helpers.js"

const LOGIT_TOL = 1e-4
const HIDDEN_TOL = 5e-4

/** Measured max |Δ| per model, printed once at the end (for the report). */
const measured: Record<string, Record<string, number>> = {}
const note = (model: string, what: string, value: number) => {
  const m = (measured[model] ??= {})
  m[what] = Math.max(m[what] ?? 0, value)
}

const checkForward = (
  model: string,
  lm: LanguageModelShape,
  cases: ReadonlyArray<GoldenForward>,
  extraHooks: (h: Array<Hook>) => void,
  tag: string
) =>
  Effect.gen(function* () {
    for (const f of cases) {
      const L = lm.info.numLayers
      const outputs: Array<Float32Array> = []
      const hooks: Array<Hook> = []
      extraHooks(hooks)
      for (let l = 0; l < L; l++)
        hooks.push(captureHook(blockOutput(l), Positions.all, (c) => (outputs[l] = c.values), "prefill"))
      const [r] = yield* lm.forward({ inputIds: [f.input_ids], hiddenStates: true, hooks })
      const logitErr = maxAbsDiff(r!.logits!, f.logits)
      note(model, `${tag}logits`, logitErr)
      expect(logitErr).toBeLessThanOrEqual(LOGIT_TOL)
      expect(r!.hiddenStates).toHaveLength(L + 1)
      for (let i = 0; i <= L; i++) {
        const e = maxAbsDiff(r!.hiddenStates![i]!, f.hidden_states[i]!)
        note(model, `${tag}hidden_states`, e)
        expect(e, `hidden_states[${i}]`).toBeLessThanOrEqual(HIDDEN_TOL)
      }
      // Embeddings are bitwise the stored rows (Gemma 2: the rows × float32 sqrt(hidden)).
      expect(maxAbsDiff(r!.hiddenStates![0]!, f.hidden_states[0]!)).toBe(0)
      for (let l = 0; l < L; l++) {
        const e = maxAbsDiff(outputs[l]!, f.layer_outputs[l]!)
        note(model, `${tag}layer_outputs`, e)
        expect(e, `layer_outputs[${l}]`).toBeLessThanOrEqual(HIDDEN_TOL)
      }
    }
  })

const checkGreedy = (model: string, lm: LanguageModelShape, g: GoldenGreedy, hooks: ReadonlyArray<Hook>, tag: string) =>
  Effect.gen(function* () {
    for (const useCache of [true, false]) {
      const [r] = yield* lm.generate({
        prompts: [g.prompt],
        maxNewTokens: g.max_new_tokens,
        useCache,
        returnStepLogits: true,
        stopTokenIds: [],
        hooks
      })
      expect(r!.tokens, `${tag}greedy useCache=${useCache}`).toEqual(g.new_tokens)
      expect(r!.stopReason).toBe("max_new_tokens")
      let e = 0
      r!.stepLogits!.forEach((s, k) => {
        e = Math.max(e, maxAbsDiff(s, g.step_logits[k]!))
      })
      note(model, `${tag}step_logits`, e)
      expect(e).toBeLessThanOrEqual(LOGIT_TOL)
    }
  })

describe.skipIf(!shared)(
  `Qwen2 / Llama / Gemma 2 vs transformers goldens${shared ? "" : ` (${sharedMissingMessage})`}`,
  () => {
    for (const model of ALL_GOLDEN_MODELS) {
      it(`${model}: forward, greedy (cached and not), steering`, async () => {
        const g = readGolden(model)
        await run(
          Effect.gen(function* () {
            const lm = yield* loadModel(goldenDir(model))
            expect(lm.info.family).toBe(model.split("-")[0])
            expect(lm.info.weightDtype).toBe(g.weights.dtype === "BF16" ? "bfloat16" : "float32")
            yield* checkForward(model, lm, g.forward, () => undefined, "")
            yield* checkGreedy(model, lm, g.greedy, [], "")
            const steer = addVectorHook(blockOutput(g.steering.layer), g.steering.vector, Positions.all, "always")
            yield* checkForward(model, lm, g.steering.forward, (h) => h.push(steer), "steered ")
            yield* checkGreedy(model, lm, g.steering.greedy, [steer], "steered ")
            // The same steering registered with addHooks (scoped) instead of per call.
            yield* Effect.scoped(
              Effect.gen(function* () {
                yield* lm.addHooks([steer])
                yield* checkGreedy(model, lm, g.steering.greedy, [], "steered ")
              })
            )
            yield* checkGreedy(model, lm, g.greedy, [], "")
          })
        )
      })
    }

    it("the [out, in] (transposed matMul) weight layout matches too", async () => {
      for (const model of ALL_GOLDEN_MODELS) {
        const g = readGolden(model)
        await run(
          Effect.gen(function* () {
            const lm = yield* loadModel(goldenDir(model), { linearLayout: "outIn" })
            yield* checkForward(model, lm, g.forward, () => undefined, "outIn ")
            yield* checkGreedy(model, lm, g.greedy, [], "outIn ")
          })
        )
      }
    })

    it("reports the measured errors", () => {
      console.log(
        `max |Δ| vs goldens:\n${JSON.stringify(measured, (_k, v) => (typeof v === "number" ? Number(v.toExponential(2)) : v), 2)}`
      )
    })
  }
)
