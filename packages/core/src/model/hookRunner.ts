/**
 * Runs `Hook`s at the sites of one pass with the right `HookContext`, and checks what they return.
 *
 * A pass is described by segments of columns: a plain forward or a prefill is one "prefill"
 * segment; a cached decode step is one "decode" segment of width 1. A full recompute without KV
 * cache (generation with `useCache: false`) is the prompt segment followed by one width-1 decode
 * segment per generated token, so every hook sees exactly the calls (shapes, phases, steps) it
 * would see with the cache.
 */
import type * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { wasmXnnFailureCount } from "../backend/TensorBackend.js"
import { type Hook, type HookContext, type HookSite, siteKey } from "./hooks.js"
import { ModelInputError } from "./LanguageModel.js"

/** A hook failed or returned a bad tensor; becomes a ModelInputError. */
export class HookFailure extends Error {
  override readonly name = "HookFailure"
}

export interface HookSegment {
  /** First column of the pass covered by this segment. */
  readonly start: number
  /** The context for this segment (its `seqLen` is the segment width). */
  readonly ctx: Omit<HookContext, "site">
}

const isPhase = (hook: Hook, phase: "prefill" | "decode") => hook.when === "always" || hook.when === phase

export const validateHooks = (hooks: ReadonlyArray<Hook>, numLayers: number): ModelInputError | undefined => {
  for (const h of hooks) {
    const s = h.site
    if (s === undefined || !Number.isInteger(s.layer) || s.layer < 0 || s.layer >= numLayers) {
      return new ModelInputError({ message: `hook site layer ${s?.layer} is out of range [0, ${numLayers})` })
    }
    if (s.point !== "block_input" && s.point !== "block_output") {
      return new ModelInputError({
        message: `hook site point "${String(s.point)}" is not "block_input" or "block_output"`
      })
    }
    if (h.when !== "prefill" && h.when !== "decode" && h.when !== "always") {
      return new ModelInputError({
        message: `hook at ${siteKey(s)} has when = "${String(h.when)}" (want prefill | decode | always)`
      })
    }
    if (typeof h.run !== "function")
      return new ModelInputError({ message: `hook at ${siteKey(s)} has no run function` })
  }
  return undefined
}

const applyHooks = (
  hooks: ReadonlyArray<Hook>,
  site: HookSite,
  h: tf.Tensor3D,
  ctx: Omit<HookContext, "site">,
  tf: typeof import("@tensorflow/tfjs-core"),
  readAfterPass: HookContext["readAfterPass"]
): tf.Tensor3D => {
  let x = h
  for (const hook of hooks) {
    if (!isPhase(hook, ctx.phase)) continue
    let out: tf.Tensor3D | undefined
    try {
      out = hook.run(x, { ...ctx, site, ...(readAfterPass !== undefined ? { readAfterPass } : {}) })
    } catch (e) {
      throw new HookFailure(
        `hook at ${siteKey(site)} (${ctx.phase} step ${ctx.step}) threw: ${e instanceof Error ? e.message : String(e)}`
      )
    }
    if (out === undefined) continue
    if (!(out instanceof tf.Tensor) || out.rank !== 3 || out.shape.some((d, i) => d !== x.shape[i])) {
      const shape = out instanceof tf.Tensor ? `[${out.shape.join(", ")}]` : typeof out
      throw new HookFailure(
        `hook at ${siteKey(site)} returned ${shape}, expected a tensor of shape [${x.shape.join(", ")}]`
      )
    }
    x = out.dtype === "float32" ? out : tf.cast(out, "float32")
  }
  return x
}

/**
 * The engine callback for one pass, or `undefined` when no hook fires in it. `segments` cover the
 * pass's columns in order (their widths sum to the pass's seqLen). `readAfterPass` is handed to
 * every hook in its context.
 */
export const makeHookCallback = (
  tfjs: typeof import("@tensorflow/tfjs-core"),
  hooks: ReadonlyArray<Hook>,
  segments: ReadonlyArray<HookSegment>,
  readAfterPass?: HookContext["readAfterPass"]
): ((site: HookSite, h: tf.Tensor3D) => tf.Tensor3D) | undefined => {
  const bySite = new Map<string, Array<Hook>>()
  for (const hook of hooks) {
    if (!segments.some((s) => isPhase(hook, s.ctx.phase))) continue
    const k = siteKey(hook.site)
    const list = bySite.get(k)
    if (list === undefined) bySite.set(k, [hook])
    else list.push(hook)
  }
  if (bySite.size === 0) return undefined
  return (site, h) => {
    const list = bySite.get(siteKey(site))
    if (list === undefined) return h
    if (segments.length === 1) return applyHooks(list, site, h, segments[0]!.ctx, tfjs, readAfterPass)
    const [B, , H] = h.shape
    const parts = segments.map((seg) => {
      const part = tfjs.slice(h, [0, seg.start, 0], [B, seg.ctx.seqLen, H])
      return applyHooks(list, site, part, seg.ctx, tfjs, readAfterPass)
    })
    return tfjs.concat(parts, 1)
  }
}

/**
 * Runs a synchronous tensor computation: a hook failure becomes a typed ModelInputError, and so
 * does a pass during which the wasm backend's XNNPACK could not allocate (its matMul result would be
 * uninitialised memory: the batch is too large for the 4 GiB wasm heap). Anything else (an engine
 * bug) is a defect.
 */
export const attemptPass = <A>(f: () => A): Effect.Effect<A, ModelInputError> =>
  Effect.suspend(() => {
    const xnnBefore = wasmXnnFailureCount()
    try {
      const a = f()
      if (wasmXnnFailureCount() !== xnnBefore) {
        return Effect.fail(
          new ModelInputError({
            message:
              "the wasm heap is full: XNNPACK could not allocate, so this pass's result would be garbage; use smaller batches, shorter sequences, or a native backend"
          })
        )
      }
      return Effect.succeed(a)
    } catch (e) {
      return e instanceof HookFailure ? Effect.fail(new ModelInputError({ message: e.message })) : Effect.die(e)
    }
  })
