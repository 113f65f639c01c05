/** Runs the worked example of docs/extending-intervention.md exactly as written there. */
import * as path from "node:path"
import {
  captureHook,
  type Intervention,
  type LanguageModelShape,
  type ModelInputError,
  Positions,
  sharedMissingMessage
} from "@crosscode/core"
import type { Crosscoder } from "@crosscode/crosscoder"
import { makeEvalRunner } from "@crosscode/eval"
import { Cause, Effect, Exit, type Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { importDocExample, removeGenDir } from "../../../test-support/docExample.js"
import {
  codeAt,
  compose,
  featureDirection,
  generateWith,
  type InterventionError,
  PairEncoder,
  steerFeatures
} from "../src/index.js"
import {
  asciiTokenizer,
  bitsEqual,
  loadPair,
  longScope,
  maxAbsDiff,
  pairLayer,
  prompts,
  SITE,
  shared,
  tinyCrosscoder
} from "./helpers.js"

const genDir = path.join(import.meta.dirname, ".cache")

type Boost = (o: {
  target: string
  candidates: ReadonlyArray<number>
  beta: number
}) => Intervention<InterventionError | ModelInputError, PairEncoder>

describe.skipIf(shared === undefined)("docs/extending-intervention.md", () => {
  if (shared === undefined) console.warn(sharedMissingMessage)
  const scope = longScope()
  let A: LanguageModelShape
  let cc: Crosscoder
  let layer: Layer.Layer<PairEncoder, InterventionError>
  let boostMostActive: Boost
  const d = 64

  beforeAll(async () => {
    const pair = await scope.use(loadPair)
    A = pair.A
    cc = await scope.use(tinyCrosscoder())
    layer = pairLayer(pair, cc)
    boostMostActive = (
      await importDocExample<{ boostMostActive: Boost }>("extending-intervention.md", "boost-most-active", genDir)
    ).boostMostActive
  })
  afterAll(async () => {
    await scope.close()
    removeGenDir(genDir)
  })

  it("the boost-most-active example adds beta · W_dec[best, A] at the last prompt token", async () => {
    const ids = prompts(1, 8, 5)[0]!
    const candidates = Array.from({ length: 32 }, (_, i) => i)
    const r = await scope.use(
      Effect.provide(
        Effect.gen(function* () {
          const pe = yield* PairEncoder
          const enc = yield* pe.encodePrompt(ids, "last")
          const capture = (hooks: ReadonlyArray<import("@crosscode/core").Hook>) =>
            Effect.gen(function* () {
              let out: Float32Array = new Float32Array(0)
              const cap = captureHook(SITE, Positions.all, (c) => void (out = c.values), "prefill")
              yield* A.forward({ inputIds: [ids], hooks: [...hooks, cap], stopAtLayer: SITE.layer })
              return out
            })
          const boost = boostMostActive({ target: "A", candidates, beta: 20 })
          const hooks = yield* boost.hooks({ promptIds: ids })
          const none = yield* boostMostActive({ target: "A", candidates: [], beta: 20 }).hooks({ promptIds: ids })
          const bad = yield* Effect.exit(
            boostMostActive({ target: "A", candidates: [99], beta: 1 }).hooks({ promptIds: ids })
          )
          // It composes and runs through generateWith and the eval runner like a built-in.
          const composed = compose(steerFeatures({ target: "A", features: candidates, alpha: 1 }), boost)
          const viaCompose = yield* capture(yield* composed.hooks({ promptIds: ids }))
          const gen = yield* generateWith(A, boost, ids, { maxNewTokens: 3, stopTokenIds: [] })
          const runner = makeEvalRunner({ model: A, tokenizer: asciiTokenizer })
          const task = {
            name: "t",
            items: [
              { id: "x", source: "t", category: "t", messages: [], tools: [], expected: { _tag: "Unknown" as const } }
            ],
            prompt: { _tag: "Custom" as const, name: "fixed", render: () => String.fromCharCode(...ids) },
            scorers: []
          }
          const evalRun = yield* runner.run({
            run: "boost",
            task,
            intervention: boost,
            settings: { maxNewTokens: 3, stopTokenIds: [] }
          })
          return {
            enc,
            clean: yield* capture([]),
            steered: yield* capture(hooks),
            none,
            bad,
            viaCompose,
            gen,
            evalRun,
            name: boost.name
          }
        }),
        layer
      )
    )
    const T = ids.length
    let best = -1
    let bestCode = 0
    for (let f = 0; f < 32; f++) {
      const c = codeAt(r.enc.codes, 0, f)
      if (c > bestCode) {
        best = f
        bestCode = c
      }
    }
    expect(best).toBeGreaterThanOrEqual(0)
    const v = featureDirection(cc, best, "A")
    const expected = Float32Array.from(r.clean.subarray((T - 1) * d), (x, j) => x + 20 * v[j]!)
    expect(maxAbsDiff(r.steered.subarray((T - 1) * d), expected)).toBeLessThanOrEqual(1e-5)
    expect(bitsEqual(r.steered.subarray(0, (T - 1) * d), r.clean.subarray(0, (T - 1) * d))).toBe(true)
    expect(bitsEqual(r.viaCompose, r.steered)).toBe(true) // α = 1 adds an exact 0 first
    expect(r.none).toEqual([])
    expect(Exit.isFailure(r.bad) && Cause.pretty(r.bad.cause)).toContain("candidate 99 is not a feature id")
    expect(r.gen.tokens).toHaveLength(3)
    expect(r.evalRun.records[0]?.intervention).toEqual({
      name: "boost-most-active-A-b20",
      settings: { kind: "boostMostActive", target: "A", candidates, beta: 20 }
    })
    expect(r.name).toBe("boost-most-active-A-b20")
  })
})
