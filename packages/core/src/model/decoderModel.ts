/**
 * `makeDecoderLanguageModel(engine, info)`: everything of `LanguageModelShape` that does not depend
 * on the architecture — input validation, padding, hook registration and contexts, per-sequence
 * results, batched generation (left padding, KV cache, per-row stop tokens, greedy or seeded
 * sampling) — on top of a `DecoderEngine`'s forward pass.
 */
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { describeNonFinite, firstNonFinite } from "../util/finite.js"
import { Rng } from "../util/rng.js"
import { padBatch, validateTokenIds } from "./batching.js"
import { type DecoderEngine, disposeKVCache, type EngineResult, type KVCache } from "./engine.js"
import { attemptPass, type HookSegment, makeHookCallback, validateHooks } from "./hookRunner.js"
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
import { argmax, sampleToken, validateSampling } from "./sampling.js"

/** `tf.tidy` over an engine pass: the returned tensors (logits, hidden states, cache) survive. */
const tidyPass = (f: () => EngineResult): EngineResult =>
  tf.tidy(() => f() as unknown as tf.TensorContainer) as unknown as EngineResult

const disposeResult = (r: EngineResult | undefined): void => {
  if (r === undefined) return
  r.logits?.dispose()
  for (const h of r.hiddenStates ?? []) h.dispose()
}

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

export const makeDecoderLanguageModel = (
  engine: DecoderEngine,
  info: ModelInfo,
  options: DecoderModelOptions = {}
): LanguageModelShape => {
  const V0 = engine.vocabSize
  const wantedPad = options.padId ?? info.padTokenId ?? 0
  // Padding positions are masked out, but their id is still looked up: keep it in range.
  const padId = Number.isInteger(wantedPad) && wantedPad >= 0 && wantedPad < V0 ? wantedPad : 0
  const registered: Array<{ readonly hook: Hook }> = []
  let disposed = false
  const V = engine.vocabSize
  const L = engine.numLayers

  const checkAlive = () =>
    disposed ? new ModelInputError({ message: `model ${info.name} has been disposed` }) : undefined

  /** Partial load (`maxLayer`): blocks past it, the final norm and the LM head do not exist. */
  const maxLayer = engine.maxLayer
  const partialNote = () =>
    `model ${info.name} was loaded with maxLayer ${maxLayer} (blocks 0..${maxLayer} of ${L}; no final norm or LM head)`
  /** A hook that could never fire on a partially loaded model. */
  const hookPastMaxLayer = (hooks: ReadonlyArray<Hook>): ModelInputError | undefined => {
    if (maxLayer === undefined) return undefined
    const h = hooks.find((x) => x.site.layer > maxLayer)
    return h === undefined
      ? undefined
      : new ModelInputError({
          message: `hook site ${h.site.point}.${h.site.layer} is past maxLayer: ${partialNote()}; load it with a larger maxLayer`
        })
  }

  const forward = (request: ForwardRequest): Effect.Effect<ReadonlyArray<SequenceForward>, ModelInputError> =>
    Effect.suspend(() => {
      const dead = checkAlive()
      if (dead) return Effect.fail(dead)
      const sequences = request.inputIds
      if (sequences.length === 0) return Effect.succeed([])
      const bad = validateTokenIds(sequences, V)
      if (bad) return Effect.fail(bad)
      const stop = request.stopAtLayer
      if (stop !== undefined && (!Number.isInteger(stop) || stop < 0 || stop >= L)) {
        return Effect.fail(new ModelInputError({ message: `stopAtLayer ${stop} is out of range [0, ${L})` }))
      }
      const padding = request.padding ?? "right"
      if (padding !== "left" && padding !== "right") {
        return Effect.fail(
          new ModelInputError({ message: `padding must be "left" or "right", got "${String(padding)}"` })
        )
      }
      if (maxLayer !== undefined && (stop === undefined || stop > maxLayer)) {
        return Effect.fail(
          new ModelInputError({
            message:
              stop === undefined
                ? `a forward pass without stopAtLayer needs every block and the final norm, but ${partialNote()}; pass stopAtLayer ≤ ${maxLayer}`
                : `stopAtLayer ${stop} is past maxLayer: ${partialNote()}; pass stopAtLayer ≤ ${maxLayer} or load it with a larger maxLayer`
          })
        )
      }
      const callHooks = request.hooks ?? []
      const badHook = validateHooks(callHooks, L) ?? hookPastMaxLayer(callHooks)
      if (badHook) return Effect.fail(badHook)
      const hasLogits = engine.hasLogits !== false
      const logitsMode = stop !== undefined ? "none" : (request.logits ?? (hasLogits ? "all" : "none"))
      if (logitsMode !== "none" && !hasLogits) {
        return Effect.fail(
          new ModelInputError({ message: `model ${info.name} was loaded without an LM head; it cannot return logits` })
        )
      }
      const batch = padBatch(sequences, padding, padId)
      const { batchSize: B, seqLen: T } = batch
      let logitRows: Int32Array | undefined
      if (logitsMode === "last") {
        logitRows = Int32Array.from(batch.lastIndex, (t, b) => b * T + t)
      } else if (logitsMode === "all") {
        const rows: Array<number> = []
        for (let b = 0; b < B; b++) for (let t = 0; t < batch.lengths[b]!; t++) rows.push(b * T + batch.offsets[b]! + t)
        logitRows = Int32Array.from(rows)
      }
      const ctx: Omit<HookContext, "site"> = {
        phase: "prefill",
        step: 0,
        batchSize: B,
        seqLen: T,
        attentionMask: batch.mask,
        positionIds: batch.positions,
        lastPromptIndex: batch.lastIndex
      }
      const hooks = [...registered.map((r) => r.hook), ...callHooks]
      const hook = makeHookCallback(tf, hooks, [{ start: 0, ctx }])
      return attemptPass(() => {
        const result = tidyPass(() =>
          engine.run({
            inputIds: batch.ids,
            batchSize: B,
            seqLen: T,
            keyMask: batch.mask,
            positionIds: batch.positions,
            ...(stop !== undefined ? { stopAtLayer: stop } : {}),
            hiddenStates: request.hiddenStates === true,
            ...(logitRows !== undefined ? { logitRows } : {}),
            ...(hook !== undefined ? { hook } : {})
          })
        )
        try {
          const logits = result.logits?.dataSync() as Float32Array | undefined
          const hidden = (result.hiddenStates ?? []).map((h) => h.dataSync() as Float32Array)
          const H = engine.hiddenSize
          const out: Array<SequenceForward> = []
          let row = 0
          for (let b = 0; b < B; b++) {
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
            const hs =
              request.hiddenStates === true
                ? hidden.map((h) => h.slice((b * T + off) * H, (b * T + off + len) * H))
                : undefined
            out.push({
              length: len,
              ...(seqLogits !== undefined ? { logits: seqLogits } : {}),
              ...(lastLogits !== undefined ? { lastLogits } : {}),
              ...(hs !== undefined ? { hiddenStates: hs } : {})
            })
          }
          return out
        } finally {
          disposeResult(result)
          disposeKVCache(result.cache)
        }
      })
    })

  const generate = (request: GenerateRequest): Effect.Effect<ReadonlyArray<SequenceGeneration>, ModelInputError> =>
    Effect.gen(function* () {
      const dead = checkAlive()
      if (dead) return yield* dead
      if (maxLayer !== undefined) {
        return yield* new ModelInputError({
          message: `generation needs every block and the LM head, but ${partialNote()}`
        })
      }
      if (engine.hasLogits === false) {
        return yield* new ModelInputError({
          message: `model ${info.name} was loaded without an LM head; it cannot generate`
        })
      }
      const prompts = request.prompts
      if (prompts.length === 0) return []
      const bad = validateTokenIds(prompts, V, "prompt")
      if (bad) return yield* bad
      const maxNew = request.maxNewTokens
      if (!Number.isInteger(maxNew) || maxNew < 0) {
        return yield* new ModelInputError({ message: `maxNewTokens must be a non-negative integer, got ${maxNew}` })
      }
      const sampling = request.sampling ?? { _tag: "Greedy" as const }
      const badSampling = validateSampling(sampling)
      if (badSampling) return yield* badSampling
      const callHooks = request.hooks ?? []
      const badHook = validateHooks(callHooks, L)
      if (badHook) return yield* badHook
      const stopIds = request.stopTokenIds ?? info.eosTokenIds
      for (const id of stopIds) {
        if (!Number.isInteger(id))
          return yield* new ModelInputError({ message: `stop token id ${id} is not an integer` })
      }
      const stopSet = new Set(stopIds)
      const B = prompts.length
      if (maxNew === 0) return prompts.map(() => ({ tokens: [], stopReason: "max_new_tokens" as const }))

      const useCache = request.useCache ?? true
      const returnStepLogits = request.returnStepLogits === true
      const batch = padBatch(prompts, "left", padId)
      const P = batch.seqLen
      const hooks = [...registered.map((r) => r.hook), ...callHooks]
      const rngs = sampling._tag === "Sample" ? prompts.map((_, b) => Rng.seeded(sampling.seed, b)) : undefined

      const tokens: Array<Array<number>> = prompts.map(() => [])
      const stepLogits: Array<Array<Float32Array>> = prompts.map(() => [])
      const stopped: Array<boolean> = prompts.map(() => false)
      const done: Array<boolean> = prompts.map(() => false)
      const noPrompt = new Int32Array(B).fill(-1)
      const prefillCtx: Omit<HookContext, "site"> = {
        phase: "prefill",
        step: 0,
        batchSize: B,
        seqLen: P,
        attentionMask: batch.mask,
        positionIds: batch.positions,
        lastPromptIndex: batch.lastIndex
      }
      // One entry per fed generated token (decode step s = index + 1).
      const columns: Array<{
        readonly ids: Int32Array
        readonly mask: Int32Array
        readonly positions: Int32Array
        readonly ctx: Omit<HookContext, "site">
      }> = []
      const state: { cache: KVCache | undefined } = { cache: undefined }

      const runPass = (pass: {
        ids: Int32Array
        seqLen: number
        keyMask: Int32Array
        positions: Int32Array
        segments: ReadonlyArray<HookSegment>
        withCache: boolean
      }) =>
        attemptPass(() => {
          const hook = makeHookCallback(tf, hooks, pass.segments)
          const logitRows = Int32Array.from({ length: B }, (_, b) => b * pass.seqLen + pass.seqLen - 1)
          const result = tidyPass(() =>
            engine.run({
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
          )
          try {
            if (pass.withCache) {
              disposeKVCache(state.cache)
              state.cache = result.cache
            }
            return result.logits!.dataSync() as Float32Array
          } finally {
            disposeResult(result)
            if (!pass.withCache) disposeKVCache(result.cache)
          }
        })

      const loop = Effect.gen(function* () {
        let logits = yield* runPass({
          ids: batch.ids,
          seqLen: P,
          keyMask: batch.mask,
          positions: batch.positions,
          segments: [{ start: 0, ctx: prefillCtx }],
          withCache: useCache
        })
        for (let step = 1; ; step++) {
          for (let b = 0; b < B; b++) {
            if (done[b]) continue
            // A NaN/Inf logit would pick a meaningless token (or none): fail naming the step instead.
            if (firstNonFinite(logits, b * V, V) >= 0) {
              return yield* new ModelInputError({
                message: `model ${info.name} produced non-finite logits (${describeNonFinite(logits, b * V, V)}) for new token ${step} of prompt ${b}; the weights or a hook produced NaN/Inf`
              })
            }
            const tok =
              rngs !== undefined && sampling._tag === "Sample"
                ? sampleToken(logits, b * V, V, sampling, rngs[b]!)
                : argmax(logits, b * V, V)
            tokens[b]!.push(tok)
            if (returnStepLogits) stepLogits[b]!.push(logits.slice(b * V, (b + 1) * V))
            if (stopSet.has(tok)) {
              stopped[b] = true
              done[b] = true
            } else if (tokens[b]!.length >= maxNew) {
              done[b] = true
            }
          }
          if (done.every(Boolean)) return
          const ids = new Int32Array(B)
          const mask = new Int32Array(B)
          const positions = new Int32Array(B)
          for (let b = 0; b < B; b++) {
            ids[b] = done[b] ? padId : tokens[b]![tokens[b]!.length - 1]!
            mask[b] = done[b] ? 0 : 1
            positions[b] = batch.lengths[b]! + step - 1
          }
          const ctx: Omit<HookContext, "site"> = {
            phase: "decode",
            step,
            batchSize: B,
            seqLen: 1,
            attentionMask: mask,
            positionIds: positions,
            lastPromptIndex: noPrompt
          }
          columns.push({ ids, mask, positions, ctx })
          const maskBlocks = [{ data: batch.mask, width: P }, ...columns.map((c) => ({ data: c.mask, width: 1 }))]
          const keyMask = concatColumns(B, maskBlocks)
          if (useCache) {
            logits = yield* runPass({
              ids,
              seqLen: 1,
              keyMask,
              positions,
              segments: [{ start: 0, ctx }],
              withCache: true
            })
          } else {
            const allIds = concatColumns(B, [
              { data: batch.ids, width: P },
              ...columns.map((c) => ({ data: c.ids, width: 1 }))
            ])
            const allPos = concatColumns(B, [
              { data: batch.positions, width: P },
              ...columns.map((c) => ({ data: c.positions, width: 1 }))
            ])
            const segments: Array<HookSegment> = [
              { start: 0, ctx: prefillCtx },
              ...columns.map((c, i) => ({ start: P + i, ctx: c.ctx }))
            ]
            logits = yield* runPass({
              ids: allIds,
              seqLen: P + columns.length,
              keyMask,
              positions: allPos,
              segments,
              withCache: false
            })
          }
        }
      })
      yield* loop.pipe(Effect.ensuring(Effect.sync(() => disposeKVCache(state.cache))))
      return tokens.map((t, b) => ({
        tokens: t,
        stopReason: stopped[b] ? ("stop_token" as const) : ("max_new_tokens" as const),
        ...(returnStepLogits ? { stepLogits: stepLogits[b]! } : {})
      }))
    })

  const addHooks = (hooks: ReadonlyArray<Hook>) =>
    Effect.suspend(() => {
      const bad = validateHooks(hooks, L) ?? hookPastMaxLayer(hooks)
      if (bad) return Effect.fail(bad)
      const entries = hooks.map((hook) => ({ hook }))
      return Effect.asVoid(
        Effect.acquireRelease(
          Effect.sync(() => {
            registered.push(...entries)
          }),
          () =>
            Effect.sync(() => {
              for (const e of entries) {
                const i = registered.indexOf(e)
                if (i >= 0) registered.splice(i, 1)
              }
            })
        )
      )
    })

  const dispose = Effect.sync(() => {
    if (disposed) return
    disposed = true
    registered.length = 0
    engine.dispose()
  })

  return { info, forward, generate, addHooks, dispose }
}
