/**
 * Ranking and steering on the webgpu backend (Dawn; without a GPU, its software adapter — see
 * core's test/webgpuSetup.ts), on the tiny model pair with a tiny random DFC: `rankPromptSets`
 * (PairEncoder batches → codes → Cohen's d), a feature-steered greedy generation and a
 * reconstruction-patched forward, compared with the same calls on wasm done first in this process.
 * Skips, saying why, where Dawn finds no adapter or ../shared is absent.
 */
import { captureHook, initTensorBackend, Positions, sharedMissingMessage, TensorBackend } from "@crosscode/core"
import { Plugins } from "@crosscode/crosscoder"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Logger } from "effect"
import { describe, expect, it } from "vitest"
import { startWebgpu, webgpuOptions } from "../../core/test/webgpuSetup.js"
import { generateWith, PairEncoder, rankPromptSets, reconstruct, steerFeatures } from "../src/index.js"
import { loadPair, maxAbsDiff, pairLayer, prompts, SITE, shared, tinyCrosscoder } from "./helpers.js"

interface Measured {
  readonly cohenD: ReadonlyArray<number>
  readonly steeredTokens: ReadonlyArray<number>
  readonly patched: Float32Array
}

const quiet = Logger.layer([Logger.make(() => undefined)])

/** Ranking, a steered generation and a reconstruction-patched activation on `backend`. */
const measure = (backend: "wasm" | "webgpu"): Promise<Measured> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        expect((yield* TensorBackend).tf.getBackend()).toBe(backend)
        const pair = yield* loadPair
        const cc = yield* tinyCrosscoder({ seed: 3 })
        const ids = prompts(1, 7, 5)[0]!
        return yield* Effect.gen(function* () {
          const ranking = yield* rankPromptSets({ tool: prompts(4, 6, 11), general: prompts(4, 6, 99) })
          const pe = yield* PairEncoder
          const enc = yield* pe.encodePrompt(ids, "last")
          const steer = steerFeatures({ target: "A", features: [...enc.codes.index], alpha: 4 })
          const g = yield* generateWith(pair.A, steer, ids, { maxNewTokens: 4, stopTokenIds: [] })
          let patched: Float32Array = new Float32Array(0)
          const hooks = yield* reconstruct({ target: "B" }).hooks({ promptIds: ids })
          const cap = captureHook(SITE, Positions.all, (c) => void (patched = c.values), "prefill")
          yield* pair.B.forward({ inputIds: [ids], hooks: [...hooks, cap], stopAtLayer: SITE.layer })
          return { cohenD: ranking.features.map((f) => f.cohenD), steeredTokens: g.tokens, patched }
        }).pipe(Effect.provide(pairLayer(pair, cc)))
      })
    ).pipe(
      Effect.provide(
        Layer.mergeAll(
          TensorBackend.layerFor(backend, backend === "webgpu" ? { webgpu: webgpuOptions } : {}),
          Plugins.layer,
          NodeServices.layer,
          quiet
        )
      )
    )
  )

// wasm first (the engine is global: everything on wasm is done before switching to webgpu)
const onWasm =
  shared === undefined ? undefined : await Effect.runPromise(initTensorBackend("wasm")).then(() => measure("wasm"))
const wg = await startWebgpu()
const skip = wg.skip ?? (shared === undefined ? sharedMissingMessage : undefined)
if (skip !== undefined) console.warn(`webgpu tests skipped: ${skip}`)

describe.skipIf(skip !== undefined)(`ranking and steering on webgpu (${wg.detail ?? skip})`, () => {
  it("rankPromptSets, a feature-steered generation and a reconstruction patch equal wasm's", async () => {
    const onGpu = await measure("webgpu")
    const ref = onWasm!
    const dErr = maxAbsDiff(onGpu.cohenD, ref.cohenD)
    const patchErr = maxAbsDiff(onGpu.patched, ref.patched)
    console.log(
      `webgpu vs wasm: Cohen's d max |Δ| ${dErr.toExponential(2)}, patched activation max |Δ| ${patchErr.toExponential(2)}`
    )
    expect(dErr).toBeLessThanOrEqual(1e-4)
    expect(onGpu.steeredTokens).toEqual(ref.steeredTokens)
    expect(patchErr).toBeLessThanOrEqual(1e-4)
    expect(onGpu.patched.length).toBe(7 * 64)
  })
})
