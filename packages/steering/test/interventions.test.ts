/**
 * Interventions on a real tiny model pair (qwen2-tiny-gqa as A, its bf16 copy as B) with a tiny
 * random DFC (dim 64, 32 features: A-excl [0, 8), B-excl [8, 16), shared [16, 32)).
 */
import {
  blockOutput,
  captureHook,
  type Hook,
  type HookRequest,
  type Intervention,
  type LanguageModelShape,
  ModelInputError,
  Positions,
  sharedMissingMessage,
  type TensorBackend
} from "@crosscode/core"
import { type Crosscoder, dfcSpec, makeCrosscoder, topK } from "@crosscode/crosscoder"
import { Cause, Effect, Exit, type Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  ablateFeature,
  addDirection,
  addFeatureDirection,
  clampFeature,
  codeAt,
  compose,
  featureDirection,
  forwardWith,
  generateLockstep,
  generateWith,
  InterventionError,
  lockstepModel,
  makePairEncoder,
  PairEncoder,
  projectOut,
  reconstruct,
  steerFeatures,
  steeringDelta,
  withIntervention
} from "../src/index.js"
import {
  bitsEqual,
  loadPair,
  longScope,
  maxAbsDiff,
  pairLayer,
  prompts,
  SITE,
  shared,
  testNormalization,
  tinyCrosscoder
} from "./helpers.js"

const d = 64
const S = 2
const A_EXCL = [0, 1, 2, 3, 4, 5, 6, 7]
const B_EXCL = [8, 9, 10, 11, 12, 13, 14, 15]
const ALL = Array.from({ length: 32 }, (_, i) => i)

describe.skipIf(shared === undefined)("interventions on a real tiny model pair", () => {
  if (shared === undefined) console.warn(sharedMissingMessage)
  const scope = longScope()
  let A: LanguageModelShape
  let B: LanguageModelShape
  let cc: Crosscoder
  let layer: Layer.Layer<PairEncoder, InterventionError>
  const ps = prompts(4, 7)

  beforeAll(async () => {
    const pair = await scope.use(loadPair)
    A = pair.A
    B = pair.B
    cc = await scope.use(tinyCrosscoder({ normalization: testNormalization(S, d) }))
    layer = pairLayer(pair, cc)
  })
  afterAll(() => scope.close())

  const withPair = <X, E>(eff: Effect.Effect<X, E, PairEncoder | TensorBackend>) =>
    scope.use(Effect.provide(eff, layer))

  /** The site's activation (`[T * d]`) after `hooks`, for one sequence. */
  const captureAfter = (model: LanguageModelShape, ids: ReadonlyArray<number>, hooks: ReadonlyArray<Hook>) =>
    Effect.gen(function* () {
      let out: Float32Array = new Float32Array(0)
      const cap = captureHook(SITE, Positions.all, (c) => void (out = c.values), "prefill")
      yield* model.forward({ inputIds: [ids], hooks: [...hooks, cap], stopAtLayer: SITE.layer })
      return out
    })

  const cleanGen = (model: LanguageModelShape, ids: ReadonlyArray<number>) =>
    Effect.map(
      model.generate({ prompts: [ids], maxNewTokens: 8, stopTokenIds: [], returnStepLogits: true }),
      ([g]) => g!
    )

  it("PairEncoder encodes [h_A, h_B] at the last prompt token with the crosscoder's own normalization, and caches", async () => {
    const ids = ps[0]!
    const { enc, enc2, hA, hB, stats } = await withPair(
      Effect.gen(function* () {
        const pe = yield* PairEncoder
        const enc = yield* pe.encodePrompt(ids, "last")
        const enc2 = yield* pe.encodePrompt(ids, "last")
        const [fa] = yield* A.forward({ inputIds: [ids], hiddenStates: true, logits: "none" })
        const [fb] = yield* B.forward({ inputIds: [ids], hiddenStates: true, logits: "none" })
        return {
          enc,
          enc2,
          hA: fa!.hiddenStates![SITE.layer + 1]!,
          hB: fb!.hiddenStates![SITE.layer + 1]!,
          stats: pe.cacheStats()
        }
      })
    )
    const T = ids.length
    expect(enc2).toBe(enc)
    expect(stats.entries).toBe(1)
    expect(enc.tokenIndex).toEqual(Int32Array.of(T - 1))
    expect(maxAbsDiff(enc.activations.subarray(0, d), hA.subarray((T - 1) * d))).toBeLessThanOrEqual(1e-5)
    expect(maxAbsDiff(enc.activations.subarray(d, 2 * d), hB.subarray((T - 1) * d))).toBeLessThanOrEqual(1e-5)
    expect(Array.from(hA.subarray((T - 1) * d))).not.toEqual(Array.from(hB.subarray((T - 1) * d))) // bf16 B differs
    const tf = cc.tf
    const direct = tf.tidy(() => cc.encode(tf.tensor3d(enc.activations, [1, S, d])).dataSync() as Float32Array)
    for (let j = 0; j < cc.features; j++) expect(codeAt(enc.codes, 0, j)).toBe(direct[j])
    expect(enc.codes.index.length).toBeGreaterThan(0)
    expect(enc.codes.index.length).toBeLessThanOrEqual(6)
  })

  it("α = 1 is a no-op: bit-identical logits and generations (lastPrompt and prompt positions)", async () => {
    for (const positions of ["lastPrompt", "prompt"] as const) {
      const steer = steerFeatures({ target: "A", features: ALL, alpha: 1, positions })
      for (const ids of ps.slice(0, 3)) {
        const r = await withPair(
          Effect.gen(function* () {
            const c = yield* A.forward({ inputIds: [ids], logits: "all" })
            const s = yield* forwardWith(A, steer, ids, { logits: "all" })
            const cg = yield* cleanGen(A, ids)
            const sg = yield* generateWith(A, steer, ids, { maxNewTokens: 8, stopTokenIds: [], returnStepLogits: true })
            return { c: c[0]!.logits!, s: s.logits!, cg, sg }
          })
        )
        expect(bitsEqual(r.s, r.c)).toBe(true)
        expect(r.sg.tokens).toEqual(r.cg.tokens)
        r.sg.stepLogits!.forEach((l, k) => {
          expect(bitsEqual(l, r.cg.stepLogits![k]!)).toBe(true)
        })
      }
    }
  })

  it("B-exclusive features have exactly zero effect on model A (and a non-zero one on B)", async () => {
    const r = await withPair(
      Effect.gen(function* () {
        const pe = yield* PairEncoder
        const out = []
        for (const ids of ps) {
          const enc = yield* pe.encodePrompt(ids, "last")
          const firing = B_EXCL.filter((f) => codeAt(enc.codes, 0, f) !== 0)
          const steer = steerFeatures({ target: "A", features: B_EXCL, alpha: 32 })
          const c = yield* A.forward({ inputIds: [ids], logits: "all" })
          const s = yield* forwardWith(A, steer, ids, { logits: "all" })
          const cg = yield* cleanGen(A, ids)
          const sg = yield* generateWith(A, steer, ids, { maxNewTokens: 8, stopTokenIds: [] })
          out.push({
            firing,
            deltaA: steeringDelta(cc, enc.codes, pe.sourcesOf("A")[0]!, B_EXCL, 32),
            deltaB: steeringDelta(cc, enc.codes, pe.sourcesOf("B")[0]!, B_EXCL, 32),
            sameLogits: bitsEqual(s.logits!, c[0]!.logits!),
            sameTokens: JSON.stringify(sg.tokens) === JSON.stringify(cg.tokens)
          })
        }
        return out
      })
    )
    // The test is not vacuous: B-exclusive features do fire on the pair for some prompts.
    expect(r.some((x) => x.firing.length > 0)).toBe(true)
    for (const x of r) {
      expect(x.deltaA.every((v) => v === 0)).toBe(true)
      expect(x.sameLogits).toBe(true)
      expect(x.sameTokens).toBe(true)
      if (x.firing.length > 0) expect(x.deltaB.some((v) => v !== 0)).toBe(true)
    }
  })

  it("feature steering adds (α − 1)·f_i·W_dec[i, A] (raw units) to the clean activation at the last prompt token only", async () => {
    const ids = ps[1]!
    const T = ids.length
    const r = await withPair(
      Effect.gen(function* () {
        const pe = yield* PairEncoder
        const enc = yield* pe.encodePrompt(ids, "last")
        const active = [...enc.codes.index].filter((f) => A_EXCL.includes(f) || f >= 16)
        const steer = steerFeatures({ target: "A", features: active, alpha: 6 })
        const hooks = yield* steer.hooks({ promptIds: ids })
        return { enc, active, clean: yield* captureAfter(A, ids, []), steered: yield* captureAfter(A, ids, hooks) }
      })
    )
    expect(r.active.length).toBeGreaterThan(0)
    // Manual: W_dec[i, 0, :] · divisor[0, :], the raw decoder row of model A.
    const expected = Float64Array.from(r.clean.subarray((T - 1) * d))
    for (const i of r.active) {
      const f = codeAt(r.enc.codes, 0, i)
      for (let j = 0; j < d; j++)
        expected[j] = expected[j]! + 5 * f * cc.W_dec.data[(i * S + 0) * d + j]! * cc.normalization.divisor[j]!
    }
    expect(maxAbsDiff(r.steered.subarray((T - 1) * d), expected)).toBeLessThanOrEqual(1e-4)
    expect(maxAbsDiff(r.steered.subarray((T - 1) * d), r.clean.subarray((T - 1) * d))).toBeGreaterThan(1e-2)
    expect(bitsEqual(r.steered.subarray(0, (T - 1) * d), r.clean.subarray(0, (T - 1) * d))).toBe(true)
  })

  it("reconstruction patches decode(encode([h_A, h_B]))[model]; B's depends on h_A", async () => {
    const ids = ps[2]!
    const T = ids.length
    const r = await withPair(
      Effect.gen(function* () {
        const pe = yield* PairEncoder
        const enc = yield* pe.encodePrompt(ids, "last")
        const hooksA = yield* reconstruct({ target: "A" }).hooks({ promptIds: ids })
        const hooksB = yield* reconstruct({ target: "B" }).hooks({ promptIds: ids })
        return {
          enc,
          cleanA: yield* captureAfter(A, ids, []),
          patchedA: yield* captureAfter(A, ids, hooksA),
          patchedB: yield* captureAfter(B, ids, hooksB)
        }
      })
    )
    const tf = cc.tf
    const pair = r.enc.activations
    const recon = (x: Float32Array) =>
      tf.tidy(() => cc.reconstruct(tf.tensor3d(x, [1, S, d])).dataSync() as Float32Array)
    const full = recon(pair)
    expect(maxAbsDiff(r.patchedA.subarray((T - 1) * d), full.subarray(0, d))).toBeLessThanOrEqual(1e-5)
    expect(maxAbsDiff(r.patchedB.subarray((T - 1) * d), full.subarray(d, 2 * d))).toBeLessThanOrEqual(1e-5)
    expect(bitsEqual(r.patchedA.subarray(0, (T - 1) * d), r.cleanA.subarray(0, (T - 1) * d))).toBe(true)
    // With h_A zeroed the B reconstruction changes: it is not a function of h_B alone.
    const noA = Float32Array.from(pair)
    noA.fill(0, 0, d)
    expect(maxAbsDiff(recon(noA).subarray(d, 2 * d), full.subarray(d, 2 * d))).toBeGreaterThan(1e-3)
  })

  it("normalization 'ignore' reproduces the paper's evaluation: raw activations into encodeNormalized, normalized outputs patched", async () => {
    const ids = ps[2]!
    const T = ids.length
    const ignoring = PairEncoder.layer({ crosscoder: cc, models: { A, B }, sites: SITE, normalization: "ignore" })
    const r = await scope.use(
      Effect.provide(
        Effect.gen(function* () {
          const pe = yield* PairEncoder
          const enc = yield* pe.encodePrompt(ids, "last")
          const recon = yield* reconstruct({ target: "A" }).hooks({ promptIds: ids })
          const feature = [...enc.codes.index][0]!
          const steer = yield* steerFeatures({ target: "A", features: [feature], alpha: 3 }).hooks({ promptIds: ids })
          return {
            enc,
            feature,
            space: pe.space,
            clean: yield* captureAfter(A, ids, []),
            recon: yield* captureAfter(A, ids, recon),
            steered: yield* captureAfter(A, ids, steer)
          }
        }),
        ignoring
      )
    )
    expect(r.space).toBe("normalized")
    const tf = cc.tf
    const expected = tf.tidy(
      () =>
        cc.decodeNormalized(cc.encodeNormalized(tf.tensor2d(r.enc.activations, [1, S * d]))).dataSync() as Float32Array
    )
    expect(maxAbsDiff(r.recon.subarray((T - 1) * d), expected.subarray(0, d))).toBeLessThanOrEqual(1e-5)
    const f = codeAt(r.enc.codes, 0, r.feature)
    const h = r.clean.subarray((T - 1) * d)
    const manual = Float64Array.from(h, (x, j) => x + 2 * f * cc.W_dec.data[(r.feature * S + 0) * d + j]!)
    expect(maxAbsDiff(r.steered.subarray((T - 1) * d), manual)).toBeLessThanOrEqual(1e-4)
  })

  it("clamping and ablation keep the reconstruction error: h' = h − x̂(f) + x̂(f')", async () => {
    const ids = ps[3]!
    const T = ids.length
    const r = await withPair(
      Effect.gen(function* () {
        const pe = yield* PairEncoder
        const enc = yield* pe.encodePrompt(ids, "last")
        const feature = [...enc.codes.index].find((f) => !B_EXCL.includes(f))!
        const clampH = yield* clampFeature({ target: "A", feature, value: 3 }).hooks({ promptIds: ids })
        const ablateH = yield* ablateFeature({ target: "A", feature }).hooks({ promptIds: ids })
        return {
          enc,
          feature,
          clean: yield* captureAfter(A, ids, []),
          clamped: yield* captureAfter(A, ids, clampH),
          ablated: yield* captureAfter(A, ids, ablateH)
        }
      })
    )
    const tf = cc.tf
    const decodeA = (codes: Float32Array) =>
      tf.tidy(
        () =>
          cc
            .decode(tf.tensor2d(codes, [1, cc.features]))
            .dataSync()
            .slice(0, d) as Float32Array
      )
    const f = new Float32Array(cc.features)
    for (let j = 0; j < cc.features; j++) f[j] = codeAt(r.enc.codes, 0, j)
    const base = decodeA(f)
    const h = r.clean.subarray((T - 1) * d)
    for (const [value, got] of [
      [3, r.clamped],
      [0, r.ablated]
    ] as const) {
      const f2 = Float32Array.from(f)
      f2[r.feature] = value
      const alt = decodeA(f2)
      const expected = Float64Array.from(h, (x, j) => x - base[j]! + alt[j]!)
      expect(maxAbsDiff(got.subarray((T - 1) * d), expected)).toBeLessThanOrEqual(1e-4)
    }
    expect(codeAt(r.enc.codes, 0, r.feature)).not.toBe(0)
  })

  it("positions 'prompt' steers every prompt token with its own codes", async () => {
    const ids = ps[0]!
    const T = ids.length
    const r = await withPair(
      Effect.gen(function* () {
        const pe = yield* PairEncoder
        const enc = yield* pe.encodePrompt(ids, "prompt")
        const hooks = yield* steerFeatures({ target: "A", features: ALL, alpha: 3, positions: "prompt" }).hooks({
          promptIds: ids
        })
        return {
          enc,
          clean: yield* captureAfter(A, ids, []),
          steered: yield* captureAfter(A, ids, hooks),
          src: pe.sourcesOf("A")[0]!
        }
      })
    )
    expect(r.enc.codes.rows).toBe(T)
    const delta = steeringDelta(cc, r.enc.codes, r.src, ALL, 3)
    const expected = Float32Array.from(r.clean, (x, i) => x + delta[i]!)
    expect(maxAbsDiff(r.steered, expected)).toBeLessThanOrEqual(1e-5)
    let changed = 0
    for (let t = 0; t < T; t++)
      if (maxAbsDiff(r.steered.subarray(t * d, (t + 1) * d), r.clean.subarray(t * d, (t + 1) * d)) > 0) changed++
    expect(changed).toBe(T)
  })

  it("pair-dependent interventions reject positions 'all'; bad features and targets are typed errors", async () => {
    const ids = ps[0]!
    const failureOf = async (i: Intervention<InterventionError | ModelInputError, PairEncoder>) => {
      const exit = await scope.use(Effect.exit(Effect.provide(i.hooks({ promptIds: ids }), layer)))
      expect(Exit.isFailure(exit)).toBe(true)
      return Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
    }
    expect(await failureOf(steerFeatures({ target: "A", features: [1], alpha: 2, positions: "all" }))).toContain(
      "partner model's activation at each generated position"
    )
    expect(await failureOf(reconstruct({ target: "A", positions: "all" }))).toContain("InterventionError")
    expect(await failureOf(steerFeatures({ target: "A", features: [32], alpha: 2 }))).toContain(
      "feature 32 is not an integer in [0, 32)"
    )
    expect(await failureOf(steerFeatures({ target: "A", features: [3, 3], alpha: 2 }))).toContain("listed twice")
    expect(await failureOf(steerFeatures({ target: "C", features: [3], alpha: 2 }))).toContain(
      'target "C" is not a crosscoder model'
    )
    expect(await failureOf(clampFeature({ target: "A", feature: 2, value: Number.NaN }))).toContain("not finite")
  })

  it("supports several sources per model at different sites (one hook per target source)", async () => {
    const ids = ps[1]!
    const T = ids.length
    const multi = await scope.use(
      makeCrosscoder(
        {
          architecture: {
            sources: [
              { model: "A", site: "block_output.0" },
              { model: "A", site: "block_output.1" },
              { model: "B", site: "block_output.1" }
            ],
            dim: d,
            features: 24
          },
          sparsity: topK(5),
          partition: dfcSpec(0.25)
        },
        { seed: 5 }
      )
    )
    const sites = [blockOutput(0), blockOutput(1), blockOutput(1)]
    const r = await scope.use(
      Effect.provide(
        Effect.gen(function* () {
          const pe = yield* PairEncoder
          const enc = yield* pe.encodePrompt(ids, "last")
          const hooks = yield* steerFeatures({
            target: "A",
            features: [0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16],
            alpha: 5
          }).hooks({
            promptIds: ids
          })
          const [fa] = yield* A.forward({ inputIds: [ids], hiddenStates: true, logits: "none" })
          return { enc, hooks, hs: fa!.hiddenStates!, sourcesA: pe.sourcesOf("A") }
        }),
        PairEncoder.layer({ crosscoder: multi, models: { A, B }, sites })
      )
    )
    expect(r.sourcesA).toEqual([0, 1])
    expect(r.hooks.map((h) => h.site)).toEqual([blockOutput(0), blockOutput(1)])
    expect(maxAbsDiff(r.enc.activations.subarray(0, d), r.hs[1]!.subarray((T - 1) * d))).toBeLessThanOrEqual(1e-5)
    expect(maxAbsDiff(r.enc.activations.subarray(d, 2 * d), r.hs[2]!.subarray((T - 1) * d))).toBeLessThanOrEqual(1e-5)
  })

  it("PairEncoder rejects models that do not fit the crosscoder", async () => {
    const small = await scope.use(tinyCrosscoder({ features: 16, k: 2 }))
    const exits = await scope.use(
      Effect.all([
        Effect.exit(makePairEncoder({ crosscoder: small, models: { A }, sites: SITE })),
        Effect.exit(
          makePairEncoder({ crosscoder: small, models: { A, B }, sites: { layer: 9, point: "block_output" } })
        ),
        Effect.exit(makePairEncoder({ crosscoder: small, models: { A, B }, sites: [SITE] }))
      ])
    )
    const messages = exits.map((e) => (Exit.isFailure(e) ? Cause.pretty(e.cause) : "ok"))
    expect(messages[0]).toContain('no model for crosscoder model "B"')
    expect(messages[1]).toContain("block_output.9")
    expect(messages[2]).toContain("1 sites for 2 crosscoder sources")
  })

  it("a hook built for one prompt refuses another prompt (ModelInputError), and only touches its own batch row", async () => {
    const [p0, p1] = [ps[0]!, ps[1]!]
    const r = await withPair(
      Effect.gen(function* () {
        const steer = steerFeatures({ target: "A", features: ALL, alpha: 4 })
        const ok = yield* Effect.exit(forwardWith(A, steer, p0))
        const hooks = yield* steer.hooks({ promptIds: p0 })
        const mismatch = yield* Effect.exit(A.forward({ inputIds: [p1], hooks }))
        // Row 1 of a left-padded batch of two prompts.
        const rowHooks = yield* steer.hooks({ promptIds: p1, row: 1, batchSize: 2 })
        const capture = (hs: ReadonlyArray<Hook>) =>
          Effect.gen(function* () {
            let out: Float32Array = new Float32Array(0)
            const cap = captureHook(SITE, Positions.all, (c) => void (out = c.values), "prefill")
            yield* A.forward({ inputIds: [p0, p1], padding: "left", hooks: [...hs, cap], stopAtLayer: SITE.layer })
            return out
          })
        return { ok, mismatch, clean: yield* capture([]), steered: yield* capture(rowHooks) }
      })
    )
    expect(Exit.isSuccess(r.ok)).toBe(true)
    expect(Exit.isFailure(r.mismatch) && Cause.pretty(r.mismatch.cause)).toContain("built for a prompt of")
    const T = Math.max(p0.length, p1.length)
    expect(bitsEqual(r.steered.subarray(0, T * d), r.clean.subarray(0, T * d))).toBe(true) // row 0 untouched
    const last = (T + T - 1) * d // row 1, last column (left padding)
    expect(bitsEqual(r.steered.subarray(T * d, last), r.clean.subarray(T * d, last))).toBe(true)
    expect(maxAbsDiff(r.steered.subarray(last), r.clean.subarray(last))).toBeGreaterThan(1e-3)
  })

  it("projectOut removes the direction at every position, generated ones included; compose applies in order", async () => {
    const ids = ps[0]!
    const u = featureDirection(cc, 20, "A", { unit: true })
    const r = await scope.use(
      Effect.gen(function* () {
        const dots: Array<number> = []
        const dot = (v: Float32Array, H: number) => {
          for (let k = 0; k < v.length / H; k++) {
            let s = 0
            for (let j = 0; j < H; j++) s += v[k * H + j]! * u[j]!
            dots.push(s)
          }
        }
        const cap = captureHook(SITE, Positions.all, (c) => dot(c.values, c.hidden), "always")
        const po = projectOut({ site: SITE, direction: u })
        const hooks = yield* po.hooks({ promptIds: ids })
        yield* A.generate({ prompts: [ids], maxNewTokens: 4, stopTokenIds: [], hooks: [...hooks, cap] })
        const projected = [...dots]
        dots.length = 0
        const thenAdd = yield* compose(po, addDirection({ site: SITE, vector: u, coefficient: 2.5 })).hooks({
          promptIds: ids
        })
        yield* A.forward({ inputIds: [ids], hooks: [...thenAdd, cap], stopAtLayer: SITE.layer })
        const composed = [...dots]
        dots.length = 0
        const addThen = yield* compose(addDirection({ site: SITE, vector: u, coefficient: 2.5 }), po).hooks({
          promptIds: ids
        })
        yield* A.forward({ inputIds: [ids], hooks: [...addThen, cap], stopAtLayer: SITE.layer })
        return { projected, composed, reversed: [...dots] }
      })
    )
    expect(r.projected.length).toBe(ids.length + 3) // prompt + 3 fed-back generated tokens
    for (const x of r.projected) expect(Math.abs(x)).toBeLessThan(1e-4)
    for (const x of r.composed) expect(Math.abs(x - 2.5)).toBeLessThan(1e-4)
    for (const x of r.reversed) expect(Math.abs(x)).toBeLessThan(1e-4)
    expect(compose(projectOut({ site: SITE, direction: u }), addDirection({ site: SITE, vector: u })).name).toBe(
      "project-out-block_output.1+add-block_output.1-c1"
    )
  })

  it("hooks are removed after a generation and after a failure (per-call hooks and scoped withIntervention)", async () => {
    const ids = ps[1]!
    const r = await withPair(
      Effect.gen(function* () {
        const before = yield* cleanGen(A, ids)
        yield* generateWith(A, steerFeatures({ target: "A", features: ALL, alpha: 16 }), ids, {
          maxNewTokens: 8,
          stopTokenIds: []
        })
        const afterSteer = yield* cleanGen(A, ids)
        // A hook that throws in the 3rd decode step: generation fails with a ModelInputError.
        const boom: Intervention = {
          name: "boom",
          hooks: () =>
            Effect.succeed([
              {
                site: SITE,
                when: "always",
                run: (_h, ctx) => {
                  if (ctx.step === 3) throw new Error("boom at step 3")
                  return undefined
                }
              }
            ])
        }
        const failed = yield* Effect.exit(generateWith(A, boom, ids, { maxNewTokens: 8, stopTokenIds: [] }))
        const afterFailure = yield* cleanGen(A, ids)
        // Scoped registration: steered inside the scope, clean after it closes, even when it fails.
        const big = addDirection({ site: SITE, vector: featureDirection(cc, 20, "A"), coefficient: 50 })
        const inside = yield* Effect.scoped(Effect.andThen(withIntervention(A, big), cleanGen(A, ids)))
        const scopedFailure = yield* Effect.exit(
          Effect.scoped(
            Effect.andThen(
              withIntervention(A, big),
              Effect.fail(new InterventionError({ intervention: "x", message: "fail inside" }))
            )
          )
        )
        const afterScoped = yield* cleanGen(A, ids)
        return { before, afterSteer, failed, afterFailure, inside, scopedFailure, afterScoped }
      })
    )
    expect(Exit.isFailure(r.failed) && Cause.pretty(r.failed.cause)).toContain("boom at step 3")
    expect(Exit.isFailure(r.failed) && Cause.squash(r.failed.cause)).toBeInstanceOf(ModelInputError)
    expect(Exit.isFailure(r.scopedFailure)).toBe(true)
    expect(r.inside.tokens).not.toEqual(r.before.tokens)
    for (const g of [r.afterSteer, r.afterFailure, r.afterScoped]) {
      expect(g.tokens).toEqual(r.before.tokens)
      g.stepLogits!.forEach((l, k) => {
        expect(bitsEqual(l, r.before.stepLogits![k]!)).toBe(true)
      })
    }
  })

  it("addFeatureDirection adds c · W_dec[i, target] at every position (generated ones included), without leaking tensors", async () => {
    const ids = ps[2]!
    const r = await withPair(
      Effect.gen(function* () {
        const tf = cc.tf
        const before = tf.memory().numTensors
        const i = addFeatureDirection({ target: "A", feature: 18, coefficient: 3 })
        const hooks = yield* i.hooks({ promptIds: ids })
        const steered = yield* captureAfter(A, ids, hooks)
        const clean = yield* captureAfter(A, ids, [])
        yield* generateWith(A, steerFeatures({ target: "A", features: ALL, alpha: 8, positions: "prompt" }), ids, {
          maxNewTokens: 4,
          stopTokenIds: []
        })
        yield* generateWith(A, compose(i, projectOut({ site: SITE, direction: featureDirection(cc, 3, "A") })), ids, {
          maxNewTokens: 4
        })
        const after = tf.memory().numTensors
        return { steered, clean, before, after, name: i.name }
      })
    )
    const v = featureDirection(cc, 18, "A")
    const expected = Float32Array.from(r.clean, (x, k) => x + 3 * v[k % d]!)
    expect(maxAbsDiff(r.steered, expected)).toBeLessThanOrEqual(1e-5)
    expect(r.after).toBe(r.before)
    expect(r.name).toBe("add-f18-A-c3")
  })

  it("lockstep generation supports pair-dependent steering at every token, and runs through the eval runner", async () => {
    const ids = ps[0]!
    const r = await withPair(
      Effect.gen(function* () {
        const noop = steerFeatures({ target: "A", features: ALL, alpha: 1, positions: "prompt" })
        const steer = steerFeatures({ target: "A", features: ALL, alpha: 16, positions: "prompt" })
        const opts = { maxNewTokens: 6, stopTokenIds: [], returnStepLogits: true }
        const cleanLs = yield* generateLockstep(A, { name: "clean", hooks: () => Effect.succeed([]) }, ids, opts)
        const noopLs = yield* generateLockstep(A, noop, ids, opts)
        const steered = yield* generateLockstep(A, steer, ids, opts)
        const promptOnly = yield* generateWith(A, steer, ids, opts)
        const cached = yield* cleanGen(A, ids)
        const wrapped = yield* lockstepModel(A, steer)
        const [viaWrapper] = yield* wrapped.generate({ prompts: [ids], maxNewTokens: 6, stopTokenIds: [] })
        const refused = yield* Effect.exit(
          wrapped.generate({ prompts: [ids], maxNewTokens: 2, hooks: [captureHook(SITE, Positions.all, () => {})] })
        )
        const badWrapped = yield* lockstepModel(
          A,
          steerFeatures({ target: "A", features: [99], alpha: 2, positions: "prompt" })
        )
        const badExit = yield* Effect.exit(badWrapped.generate({ prompts: [ids], maxNewTokens: 2 }))
        return {
          cleanLs,
          noopLs,
          steered,
          promptOnly,
          cached,
          viaWrapper: viaWrapper!,
          refused,
          badExit,
          wrappedName: wrapped.info.name
        }
      })
    )
    // α = 1 at every position is bit-identical to the clean lockstep run, and the clean lockstep run
    // picks the same tokens as cached generation.
    expect(r.noopLs.tokens).toEqual(r.cleanLs.tokens)
    r.noopLs.stepLogits!.forEach((l, k) => {
      expect(bitsEqual(l, r.cleanLs.stepLogits![k]!)).toBe(true)
    })
    expect(r.cleanLs.tokens).toEqual(r.cached.tokens.slice(0, 6))
    // Steering every generated position too differs from steering the prompt only (same first token).
    expect(r.steered.tokens[0]).toBe(r.promptOnly.tokens[0])
    expect(r.steered.stepLogits![1]).not.toEqual(r.promptOnly.stepLogits![1])
    expect(r.viaWrapper.tokens).toEqual(r.steered.tokens)
    expect(r.wrappedName).toContain("lockstep(steer-A-a16-")
    expect(Exit.isFailure(r.refused) && Cause.pretty(r.refused.cause)).toContain("extra hooks")
    expect(Exit.isFailure(r.badExit) && Cause.squash(r.badExit.cause)).toBeInstanceOf(ModelInputError)
    expect(Exit.isFailure(r.badExit) && Cause.pretty(r.badExit.cause)).toContain("feature 99")
  })

  it("is accepted by callers that pass a richer request (as the eval runner's InterventionContext)", () => {
    type InterventionContext = HookRequest & { readonly promptIndex: number; readonly item: { readonly id: string } }
    const asEval: Intervention<InterventionError | ModelInputError, PairEncoder, InterventionContext> = steerFeatures({
      target: "A",
      features: [1],
      alpha: 2
    })
    const asEval2: Intervention<InterventionError, never, InterventionContext> = addDirection({
      site: SITE,
      vector: new Float32Array(d)
    })
    expect(asEval.name).toBe("steer-A-a2-f1")
    expect(asEval2.settings).toMatchObject({ kind: "addDirection", positions: "all", coefficient: 1 })
  })
})
