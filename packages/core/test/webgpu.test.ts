/**
 * The LanguageModel on the webgpu backend (Dawn; on a machine without a GPU, its software adapter:
 * Mesa llvmpipe through OpenGL ES, see webgpuSetup.ts): the Qwen2 goldens' forward (logits, hidden
 * states, every block output through a capture hook), greedy generation with and without the KV
 * cache, and a steered forward, at golden.test.ts's tolerances. Every result is read with
 * asynchronous reads — a synchronous one fails on this backend in Node. Skips, saying why, where
 * Dawn finds no adapter or ../shared is absent.
 */
import { NodeServices } from "@effect/platform-node"
import { Effect, type FileSystem, Layer, type Path, type Scope } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import {
  addVectorHook,
  blockOutput,
  captureHook,
  type Hook,
  loadModel,
  Positions,
  sharedMissingMessage,
  TensorBackend
} from "../src/index.js"
import { GOLDEN_MODELS, type GoldenForward, goldenDir, maxAbsDiff, readGolden, shared } from "./helpers.js"
import { startWebgpu, webgpuOptions } from "./webgpuSetup.js"

const LOGIT_TOL = 1e-4
const HIDDEN_TOL = 5e-4

const wg = await startWebgpu()
const skip = wg.skip ?? (shared ? undefined : sharedMissingMessage)
if (skip !== undefined) console.warn(`webgpu tests skipped: ${skip}`)

const run = <A, E>(effect: Effect.Effect<A, E, TensorBackend | Scope.Scope | FileSystem.FileSystem | Path.Path>) =>
  Effect.runPromise(
    Effect.scoped(effect).pipe(
      Effect.provide(Layer.merge(TensorBackend.layerFor("webgpu", { webgpu: webgpuOptions }), NodeServices.layer))
    )
  )

const measured: Record<string, number> = {}
const note = (what: string, e: number) => {
  measured[what] = Math.max(measured[what] ?? 0, e)
}

describe.skipIf(skip !== undefined)(`LanguageModel on webgpu (${wg.detail ?? skip})`, () => {
  afterAll(() => {
    console.log(`webgpu (${wg.detail}) max |Δ| vs goldens: ${JSON.stringify(measured)}`)
  })

  const checkForward = (model: string, f: GoldenForward, lmHooks: ReadonlyArray<Hook>, tag: string) =>
    Effect.gen(function* () {
      const lm = yield* loadModel(goldenDir(model))
      const L = lm.info.numLayers
      const outputs: Array<Float32Array> = []
      const hooks = [
        ...lmHooks,
        ...Array.from({ length: L }, (_, l) =>
          captureHook(blockOutput(l), Positions.all, (c) => (outputs[l] = c.values), "prefill")
        )
      ]
      const [r] = yield* lm.forward({ inputIds: [f.input_ids], hiddenStates: true, hooks })
      const logits = maxAbsDiff(r!.logits!, f.logits)
      note(`${tag}logits`, logits)
      expect(logits).toBeLessThanOrEqual(LOGIT_TOL)
      for (let i = 0; i <= L; i++) {
        const e = maxAbsDiff(r!.hiddenStates![i]!, f.hidden_states[i]!)
        note(`${tag}hidden_states`, e)
        expect(e, `hidden_states[${i}]`).toBeLessThanOrEqual(HIDDEN_TOL)
      }
      for (let l = 0; l < L; l++) {
        const e = maxAbsDiff(outputs[l]!, f.layer_outputs[l]!)
        note(`${tag}layer_outputs`, e)
        expect(e, `layer_outputs[${l}]`).toBeLessThanOrEqual(HIDDEN_TOL)
      }
      yield* lm.dispose
    })

  for (const model of GOLDEN_MODELS) {
    it(`${model}: golden forward (logits, hidden states, block outputs via hooks)`, async () => {
      const g = readGolden(model)
      await run(checkForward(model, g.forward[0]!, [], ""))
    })
  }

  it("qwen2-tiny-gqa: greedy generation with and without the KV cache, and a steered forward", async () => {
    const model = "qwen2-tiny-gqa"
    const g = readGolden(model)
    await run(
      Effect.gen(function* () {
        const lm = yield* loadModel(goldenDir(model))
        for (const useCache of [true, false]) {
          const [r] = yield* lm.generate({
            prompts: [g.greedy.prompt],
            maxNewTokens: g.greedy.max_new_tokens,
            useCache,
            returnStepLogits: true,
            stopTokenIds: []
          })
          expect(r!.tokens, `useCache=${useCache}`).toEqual(g.greedy.new_tokens)
          let e = 0
          r!.stepLogits!.forEach((s, k) => {
            e = Math.max(e, maxAbsDiff(s, g.greedy.step_logits[k]!))
          })
          note("step_logits", e)
          expect(e).toBeLessThanOrEqual(LOGIT_TOL)
        }
        yield* lm.dispose
        const steer = addVectorHook(blockOutput(g.steering.layer), g.steering.vector, Positions.all, "always")
        yield* checkForward(model, g.steering.forward[0]!, [steer], "steered ")
      })
    )
  })
})
