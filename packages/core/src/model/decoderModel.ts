/**
 * `makeDecoderLanguageModel(engine, info)`: everything of `LanguageModelShape` that does not depend
 * on the architecture — input validation, padding, hook registration and contexts, per-sequence
 * results, batched generation (left padding, KV cache, per-row stop tokens, greedy or seeded
 * sampling) — on top of a `DecoderEngine`'s forward pass. Results are read after each pass with
 * asynchronous reads (`passRead.ts`), so every backend (webgpu included) runs it.
 */
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { describeNonFinite, firstNonFinite } from "../util/finite.js"
import { Rng } from "../util/rng.js"
import { type PaddedBatch, padBatch, validateTokenIds } from "./batching.js"
import { type DecoderEngine, disposeKVCache, type KVCache } from "./engine.js"
import { type HookSegment, makeHookCallback, validateHooks } from "./hookRunner.js"
import type { Hook, HookContext } from "./hooks.js"
import {
  type ForwardRequest,
  type GenerateRequest,
  type LanguageModelShape,
  type ModelInfo,
  ModelInputError,
  type SequenceForward,
  type SequenceGeneration
} from "./LanguageModel.js"
import { runPassAndRead } from "./passRead.js"
import { argmax, sampleToken, validateSampling } from "./sampling.js"

/** Concatenates row-major `[B, w_i]` column blocks into `[B, sum w_i]`. */
const concatColumns = (
  B: number,
  blocks: ReadonlyArray<{ readonly data: Int32Array; readonly width: number }>
): Int32Array => {
  const total = blocks.reduce((a, b) => a + b.width, 0)
  const out = new Int32Array(B * total)
  let col = 0
  for (const blk of blocks) {
    for (let b = 0; b < B; b++) out.set(blk.data.subarray(b * blk.width, (b + 1) * blk.width), b * total + col)
    col += blk.width
  }
  return out
}

export interface DecoderModelOptions {
  /** Id used for padding positions (masked out; any valid id works). Default: info.padTokenId ?? 0. */
  readonly padId?: number
}

/** What forward, generate and the hook registry share. */
interface ModelState {
  readonly engine: DecoderEngine
  readonly info: ModelInfo
  readonly padId: number
  readonly V: number
  readonly L: number
  /** Hooks added with `addHooks` (run before a call's own hooks). */
  readonly registered: Array<{ readonly hook: Hook }>
  disposed: boolean
}

const checkAlive = (m: ModelState) =>
  m.disposed ? new ModelInputError({ message: `model ${m.info.name} has been disposed` }) : undefined

/** Partial load (`maxLayer`): blocks past it, the final norm and the LM head do not exist. */
const partialNote = (m: ModelState) =>
  `model ${m.info.name} was loaded with maxLayer ${m.engine.maxLayer} (blocks 0..${m.engine.maxLayer} of ${m.L}; no final norm or LM head)`

/** A hook that could never fire on a partially loaded model. */
const hookPastMaxLayer = (m: ModelState, hooks: ReadonlyArray<Hook>): ModelInputError | undefined => {
  const maxLayer = m.engine.maxLayer
  if (maxLayer === undefined) return undefined
  const h = hooks.find((x) => x.site.layer > maxLayer)
  return h === undefined
    ? undefined
    : new ModelInputError({
        message: `hook site ${h.site.point}.${h.site.layer} is past maxLayer: ${partialNote(m)}; load it with a larger maxLayer`
      })
}

const allHooks = (m: ModelState, callHooks: ReadonlyArray<Hook>) => [...m.registered.map((r) => r.hook), ...callHooks]

// ---------------------------------------------------------------------------------------------
// forward

type LogitsMode = "all" | "last" | "none"

/** A validated forward request. */
interface ForwardPlan {
  readonly batch: PaddedBatch
  readonly stop: number | undefined
  readonly logitsMode: LogitsMode
  readonly hooks: ReadonlyArray<Hook>
  readonly hiddenStates: boolean
}

/** Checks a forward request against the model (ids, stopAtLayer, padding, partial load, hooks, logits). */
const planForward = (m: ModelState, request: ForwardRequest): ForwardPlan | ModelInputError => {
  const { engine, info, L } = m
  const sequences = request.inputIds
  const bad = validateTokenIds(sequences, m.V)
  if (bad) return bad
  const stop = request.stopAtLayer
  if (stop !== undefined && (!Number.isInteger(stop) || stop < 0 || stop >= L)) {
    return new ModelInputError({ message: `stopAtLayer ${stop} is out of range [0, ${L})` })
  }
  const padding = request.padding ?? "right"
  if (padding !== "left" && padding !== "right") {
    return new ModelInputError({ message: `padding must be "left" or "right", got "${String(padding)}"` })
  }
  const maxLayer = engine.maxLayer
  if (maxLayer !== undefined && (stop === undefined || stop > maxLayer)) {
    return new ModelInputError({
      message:
        stop === undefined
          ? `a forward pass without stopAtLayer needs every block and the final norm, but ${partialNote(m)}; pass stopAtLayer ≤ ${maxLayer}`
          : `stopAtLayer ${stop} is past maxLayer: ${partialNote(m)}; pass stopAtLayer ≤ ${maxLayer} or load it with a larger maxLayer`
    })
  }
  const callHooks = request.hooks ?? []
  const badHook = validateHooks(callHooks, L) ?? hookPastMaxLayer(m, callHooks)
  if (badHook) return badHook
  const hasLogits = engine.hasLogits !== false
  const logitsMode: LogitsMode = stop !== undefined ? "none" : (request.logits ?? (hasLogits ? "all" : "none"))
  if (logitsMode !== "none" && !hasLogits) {
    return new ModelInputError({ message: `model ${info.name} was loaded without an LM head; it cannot return logits` })
  }
  return {
    batch: padBatch(sequences, padding, m.padId),
    stop,
    logitsMode,
    hooks: allHooks(m, callHooks),
    hiddenStates: request.hiddenStates === true
  }
}

/** Flattened `[B * T]` rows whose logits the request wants (undefined: none). */
const logitRowsFor = (batch: PaddedBatch, mode: LogitsMode): Int32Array | undefined => {
  const { batchSize: B, seqLen: T } = batch
  if (mode === "last") return Int32Array.from(batch.lastIndex, (t, b) => b * T + t)
  if (mode === "none") return undefined
  const rows: Array<number> = []
  for (let b = 0; b < B; b++) for (let t = 0; t < batch.lengths[b]!; t++) rows.push(b * T + batch.offsets[b]! + t)
  return Int32Array.from(rows)
}

/** Cuts the pass's host arrays into one result per input sequence (padding removed). */
const splitSequences = (
  plan: ForwardPlan,
  V: number,
  H: number,
  logits: Float32Array | undefined,
  hidden: ReadonlyArray<Float32Array>
): Array<SequenceForward> => {
  const { batch, logitsMode } = plan
  const T = batch.seqLen
  const out: Array<SequenceForward> = []
  let row = 0
  for (let b = 0; b < batch.batchSize; b++) {
    const len = batch.lengths[b]!
    const off = batch.offsets[b]!
    let seqLogits: Float32Array | undefined
    let lastLogits: Float32Array | undefined
    if (logits !== undefined && logitsMode === "all") {
      seqLogits = logits.slice(row * V, (row + len) * V)
      row += len
    } else if (logits !== undefined && logitsMode === "last") {
      lastLogits = logits.slice(b * V, (b + 1) * V)
    }
    const hs = plan.hiddenStates ? hidden.map((h) => h.slice((b * T + off) * H, (b * T + off + len) * H)) : undefined
    out.push({
      length: len,
      ...(seqLogits !== undefined ? { logits: seqLogits } : {}),
      ...(lastLogits !== undefined ? { lastLogits } : {}),
      ...(hs !== undefined ? { hiddenStates: hs } : {})
    })
  }
  return out
}

const makeForward =
  (m: ModelState) =>
  (request: ForwardRequest): Effect.Effect<ReadonlyArray<SequenceForward>, ModelInputError> =>
    Effect.suspend(() => {
      const dead = checkAlive(m)
      if (dead) return Effect.fail(dead)
      if (request.inputIds.length === 0) return Effect.succeed([])
      const plan = planForward(m, request)
      if (plan instanceof ModelInputError) return Effect.fail(plan)
      const { batch, stop } = plan
      const ctx: Omit<HookContext, "site"> = {
        phase: "prefill",
        step: 0,
        batchSize: batch.batchSize,
        seqLen: batch.seqLen,
        attentionMask: batch.mask,
        positionIds: batch.positions,
        lastPromptIndex: batch.lastIndex
      }
      const logitRows = logitRowsFor(batch, plan.logitsMode)
      return runPassAndRead((readAfterPass) => {
        const hook = makeHookCallback(tf, plan.hooks, [{ start: 0, ctx }], readAfterPass)
        return m.engine.run({
          inputIds: batch.ids,
          batchSize: batch.batchSize,
          seqLen: batch.seqLen,
          keyMask: batch.mask,
          positionIds: batch.positions,
          ...(stop !== undefined ? { stopAtLayer: stop } : {}),
          hiddenStates: plan.hiddenStates,
          ...(logitRows !== undefined ? { logitRows } : {}),
          ...(hook !== undefined ? { hook } : {})
        })
      }, false).pipe(Effect.map(({ logits, hidden }) => splitSequences(plan, m.V, m.engine.hiddenSize, logits, hidden)))
    })

// ---------------------------------------------------------------------------------------------
// generate

/** A validated generate request (maxNewTokens ≥ 1). */
interface GeneratePlan {
  readonly prompts: ReadonlyArray<ReadonlyArray<number>>
  readonly maxNew: number
  readonly sampling: NonNullable<GenerateRequest["sampling"]>
  readonly hooks: ReadonlyArray<Hook>
  readonly stopSet: ReadonlySet<number>
  readonly useCache: boolean
  readonly returnStepLogits: boolean
}

/** Checks a generate request; `"empty"` when there is nothing to generate. */
const planGenerate = (
  m: ModelState,
  request: GenerateRequest
): GeneratePlan | ModelInputError | { readonly empty: ReadonlyArray<SequenceGeneration> } => {
  const { engine, info, L } = m
  if (engine.maxLayer !== undefined) {
    return new ModelInputError({ message: `generation needs every block and the LM head, but ${partialNote(m)}` })
  }
  if (engine.hasLogits === false) {
    return new ModelInputError({ message: `model ${info.name} was loaded without an LM head; it cannot generate` })
  }
  const prompts = request.prompts
  if (prompts.length === 0) return { empty: [] }
  const bad = validateTokenIds(prompts, m.V, "prompt")
  if (bad) return bad
  const maxNew = request.maxNewTokens
  if (!Number.isInteger(maxNew) || maxNew < 0) {
    return new ModelInputError({ message: `maxNewTokens must be a non-negative integer, got ${maxNew}` })
  }
  const sampling = request.sampling ?? { _tag: "Greedy" as const }
  const badSampling = validateSampling(sampling)
  if (badSampling) return badSampling
  const callHooks = request.hooks ?? []
  const badHook = validateHooks(callHooks, L)
  if (badHook) return badHook
  const stopIds = request.stopTokenIds ?? info.eosTokenIds
  for (const id of stopIds) {
    if (!Number.isInteger(id)) return new ModelInputError({ message: `stop token id ${id} is not an integer` })
  }
  if (maxNew === 0) return { empty: prompts.map(() => ({ tokens: [], stopReason: "max_new_tokens" as const })) }
  return {
    prompts,
    maxNew,
    sampling,
    hooks: allHooks(m, callHooks),
    stopSet: new Set(stopIds),
    useCache: request.useCache ?? true,
    returnStepLogits: request.returnStepLogits === true
  }
}

/** One pass of a generation: the columns it feeds and the hook contexts that cover them. */
interface GenerationPass {
  readonly ids: Int32Array
  readonly seqLen: number
  readonly keyMask: Int32Array
  readonly positions: Int32Array
  readonly segments: ReadonlyArray<HookSegment>
  readonly withCache: boolean
}

/** A fed generated token (decode step s = its index + 1). */
interface DecodeColumn {
  readonly ids: Int32Array
  readonly mask: Int32Array
  readonly positions: Int32Array
  readonly ctx: Omit<HookContext, "site">
}

/** Per-row generation state: tokens so far, step logits, which rows stopped or finished. */
interface RowState {
  readonly tokens: Array<Array<number>>
  readonly stepLogits: Array<Array<Float32Array>>
  readonly stopped: Array<boolean>
  readonly done: Array<boolean>
}

/** Picks each live row's next token from `[B * V]` last-position logits; fails on non-finite logits. */
const chooseTokens = (
  m: ModelState,
  plan: GeneratePlan,
  rows: RowState,
  rngs: ReadonlyArray<Rng> | undefined,
  logits: Float32Array,
  step: number
): ModelInputError | undefined => {
  const V = m.V
  for (let b = 0; b < plan.prompts.length; b++) {
    if (rows.done[b]) continue
    // A NaN/Inf logit would pick a meaningless token (or none): fail naming the step instead.
    if (firstNonFinite(logits, b * V, V) >= 0) {
      return new ModelInputError({
        message: `model ${m.info.name} produced non-finite logits (${describeNonFinite(logits, b * V, V)}) for new token ${step} of prompt ${b}; the weights or a hook produced NaN/Inf`
      })
    }
    const tok =
      rngs !== undefined && plan.sampling._tag === "Sample"
        ? sampleToken(logits, b * V, V, plan.sampling, rngs[b]!)
        : argmax(logits, b * V, V)
    rows.tokens[b]!.push(tok)
    if (plan.returnStepLogits) rows.stepLogits[b]!.push(logits.slice(b * V, (b + 1) * V))
    if (plan.stopSet.has(tok)) {
      rows.stopped[b] = true
      rows.done[b] = true
    } else if (rows.tokens[b]!.length >= plan.maxNew) {
      rows.done[b] = true
    }
  }
  return undefined
}

/** The column fed at decode step `step`: each live row's last token (finished rows are masked). */
const decodeColumn = (m: ModelState, batch: PaddedBatch, rows: RowState, step: number): DecodeColumn => {
  const B = batch.batchSize
  const ids = new Int32Array(B)
  const mask = new Int32Array(B)
  const positions = new Int32Array(B)
  for (let b = 0; b < B; b++) {
    ids[b] = rows.done[b] ? m.padId : rows.tokens[b]![rows.tokens[b]!.length - 1]!
    mask[b] = rows.done[b] ? 0 : 1
    positions[b] = batch.lengths[b]! + step - 1
  }
  const ctx: Omit<HookContext, "site"> = {
    phase: "decode",
    step,
    batchSize: B,
    seqLen: 1,
    attentionMask: mask,
    positionIds: positions,
    lastPromptIndex: new Int32Array(B).fill(-1)
  }
  return { ids, mask, positions, ctx }
}

/**
 * The next pass after `columns` were fed: with the cache, the newest column alone; without it, the
 * prompt and every generated column again (hooks see the same segments as with the cache).
 */
const nextPass = (
  batch: PaddedBatch,
  prefillCtx: Omit<HookContext, "site">,
  columns: ReadonlyArray<DecodeColumn>,
  useCache: boolean
): GenerationPass => {
  const B = batch.batchSize
  const P = batch.seqLen
  const last = columns[columns.length - 1]!
  const keyMask = concatColumns(B, [
    { data: batch.mask, width: P },
    ...columns.map((c) => ({ data: c.mask, width: 1 }))
  ])
  if (useCache) {
    return {
      ids: last.ids,
      seqLen: 1,
      keyMask,
      positions: last.positions,
      segments: [{ start: 0, ctx: last.ctx }],
      withCache: true
    }
  }
  return {
    ids: concatColumns(B, [{ data: batch.ids, width: P }, ...columns.map((c) => ({ data: c.ids, width: 1 }))]),
    seqLen: P + columns.length,
    keyMask,
    positions: concatColumns(B, [
      { data: batch.positions, width: P },
      ...columns.map((c) => ({ data: c.positions, width: 1 }))
    ]),
    segments: [{ start: 0, ctx: prefillCtx }, ...columns.map((c, i) => ({ start: P + i, ctx: c.ctx }))],
    withCache: false
  }
}

const makeGenerate =
  (m: ModelState) =>
  (request: GenerateRequest): Effect.Effect<ReadonlyArray<SequenceGeneration>, ModelInputError> =>
    Effect.gen(function* () {
      const dead = checkAlive(m)
      if (dead) return yield* dead
      const plan = planGenerate(m, request)
      if (plan instanceof ModelInputError) return yield* plan
      if ("empty" in plan) return plan.empty
      const B = plan.prompts.length
      const batch = padBatch(plan.prompts, "left", m.padId)
      const sampling = plan.sampling
      const rngs = sampling._tag === "Sample" ? plan.prompts.map((_, b) => Rng.seeded(sampling.seed, b)) : undefined
      const rows: RowState = {
        tokens: plan.prompts.map(() => []),
        stepLogits: plan.prompts.map(() => []),
        stopped: plan.prompts.map(() => false),
        done: plan.prompts.map(() => false)
      }
      const prefillCtx: Omit<HookContext, "site"> = {
        phase: "prefill",
        step: 0,
        batchSize: B,
        seqLen: batch.seqLen,
        attentionMask: batch.mask,
        positionIds: batch.positions,
        lastPromptIndex: batch.lastIndex
      }
      const columns: Array<DecodeColumn> = []
      const state: { cache: KVCache | undefined } = { cache: undefined }

      /** One pass; returns the `[B * V]` last-position logits and keeps the new cache. */
      const runPass = (pass: GenerationPass) =>
        Effect.gen(function* () {
          const logitRows = Int32Array.from({ length: B }, (_, b) => b * pass.seqLen + pass.seqLen - 1)
          const values = yield* runPassAndRead((readAfterPass) => {
            const hook = makeHookCallback(tf, plan.hooks, pass.segments, readAfterPass)
            return m.engine.run({
              inputIds: pass.ids,
              batchSize: B,
              seqLen: pass.seqLen,
              keyMask: pass.keyMask,
              positionIds: pass.positions,
              logitRows,
              ...(pass.withCache ? { useCache: true } : {}),
              ...(pass.withCache && state.cache !== undefined ? { cache: state.cache } : {}),
              ...(hook !== undefined ? { hook } : {})
            })
          }, pass.withCache)
          if (pass.withCache) {
            disposeKVCache(state.cache)
            state.cache = values.cache
          }
          return values.logits!
        })

      const loop = Effect.gen(function* () {
        let logits = yield* runPass({
          ids: batch.ids,
          seqLen: batch.seqLen,
          keyMask: batch.mask,
          positions: batch.positions,
          segments: [{ start: 0, ctx: prefillCtx }],
          withCache: plan.useCache
        })
        for (let step = 1; ; step++) {
          const bad = chooseTokens(m, plan, rows, rngs, logits, step)
          if (bad) return yield* bad
          if (rows.done.every(Boolean)) return
          columns.push(decodeColumn(m, batch, rows, step))
          logits = yield* runPass(nextPass(batch, prefillCtx, columns, plan.useCache))
        }
      })
      yield* loop.pipe(Effect.ensuring(Effect.sync(() => disposeKVCache(state.cache))))
      return rows.tokens.map((t, b) => ({
        tokens: t,
        stopReason: rows.stopped[b] ? ("stop_token" as const) : ("max_new_tokens" as const),
        ...(plan.returnStepLogits ? { stepLogits: rows.stepLogits[b]! } : {})
      }))
    })

// ---------------------------------------------------------------------------------------------
// hooks registry, dispose

const makeAddHooks = (m: ModelState) => (hooks: ReadonlyArray<Hook>) =>
  Effect.suspend(() => {
    const bad = validateHooks(hooks, m.L) ?? hookPastMaxLayer(m, hooks)
    if (bad) return Effect.fail(bad)
    const entries = hooks.map((hook) => ({ hook }))
    return Effect.asVoid(
      Effect.acquireRelease(
        Effect.sync(() => {
          m.registered.push(...entries)
        }),
        () =>
          Effect.sync(() => {
            for (const e of entries) {
              const i = m.registered.indexOf(e)
              if (i >= 0) m.registered.splice(i, 1)
            }
          })
      )
    )
  })

export const makeDecoderLanguageModel = (
  engine: DecoderEngine,
  info: ModelInfo,
  options: DecoderModelOptions = {}
): LanguageModelShape => {
  const V = engine.vocabSize
  const wantedPad = options.padId ?? info.padTokenId ?? 0
  const m: ModelState = {
    engine,
    info,
    // Padding positions are masked out, but their id is still looked up: keep it in range.
    padId: Number.isInteger(wantedPad) && wantedPad >= 0 && wantedPad < V ? wantedPad : 0,
    V,
    L: engine.numLayers,
    registered: [],
    disposed: false
  }
  const dispose = Effect.sync(() => {
    if (m.disposed) return
    m.disposed = true
    m.registered.length = 0
    engine.dispose()
  })
  return { info, forward: makeForward(m), generate: makeGenerate(m), addHooks: makeAddHooks(m), dispose }
}
