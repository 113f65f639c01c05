/**
 * Ready-made hooks: read activations out (`captureHook`), add a steering vector (`addVectorHook`),
 * or overwrite selected positions (`replaceHook`). Positions are chosen with a `PositionSelector`
 * (`Positions.all`, `.lastPrompt`, `.real`, `.mask(...)`).
 */
import * as tf from "@tensorflow/tfjs-core"
import {
  type Hook,
  type HookContext,
  type HookSite,
  type HookWhen,
  type PositionSelector,
  positionMask,
  selectedPositions,
  siteKey
} from "./hooks.js"

/** Activations copied out of one hook call: `values` is `[rows.length * hidden]`, row-major. */
export interface CapturedActivations {
  readonly site: HookSite
  readonly phase: "prefill" | "decode"
  readonly step: number
  readonly hidden: number
  /** Batch row of each captured vector. */
  readonly rows: Int32Array
  /** Position within the pass (column of the padded batch) of each captured vector. */
  readonly positions: Int32Array
  readonly values: Float32Array
}

const selection = (selector: PositionSelector, ctx: HookContext) => {
  const sel = selectedPositions(selector, ctx)
  const rows = Int32Array.from(sel, (s) => s.row)
  const positions = Int32Array.from(sel, (s) => s.position)
  const flat = Int32Array.from(sel, (s) => s.row * ctx.seqLen + s.position)
  return { rows, positions, flat }
}

/**
 * Copies the selected positions out (as float32, in row-major order) and hands them to `sink`
 * once per hook call (calls selecting nothing are skipped). Leaves the activation unchanged.
 * Within a `LanguageModel` pass the copy is read after the pass (`ctx.readAfterPass`, which works
 * on webgpu too), so `sink` runs before `forward`/`generate` returns, not during the pass.
 */
export const captureHook = (
  site: HookSite,
  selector: PositionSelector,
  sink: (captured: CapturedActivations) => void,
  when: HookWhen = "always"
): Hook => ({
  site,
  when,
  run: (h, ctx) => {
    const { rows, positions, flat } = selection(selector, ctx)
    if (flat.length === 0) return undefined
    const [B, T, H] = h.shape
    const selected = flat.length === B * T ? h : tf.gather(tf.reshape(h, [B * T, H]), tf.tensor1d(flat, "int32"))
    // cpu/native hand out a tensor's own buffer: copy it when it is the activation itself.
    const deliver = (values: Float32Array) =>
      sink({
        site,
        phase: ctx.phase,
        step: ctx.step,
        hidden: H,
        rows,
        positions,
        values: selected === h ? values.slice() : values
      })
    if (ctx.readAfterPass !== undefined) ctx.readAfterPass(selected, deliver)
    else deliver(selected.dataSync() as Float32Array)
    return undefined
  }
})

/** A `[hidden]` vector given as numbers or a tensor (the caller keeps ownership of a tensor). */
export type VectorLike = ArrayLike<number> | tf.Tensor1D

const asTensor = (v: VectorLike, hidden: number, site: HookSite): tf.Tensor1D => {
  const n = v instanceof tf.Tensor ? v.size : v.length
  if (n !== hidden) throw new RangeError(`vector for ${siteKey(site)} has length ${n}, expected hidden size ${hidden}`)
  return v instanceof tf.Tensor ? v : tf.tensor1d(Float32Array.from(v))
}

/**
 * Adds `coefficient · vector` to the activation at the selected positions (the paper's steering;
 * with `Positions.all` and `"always"` this is transformers' `output[0] + vector` forward hook,
 * including every generated position).
 */
export const addVectorHook = (
  site: HookSite,
  vector: VectorLike,
  selector: PositionSelector,
  when: HookWhen,
  coefficient = 1
): Hook => ({
  site,
  when,
  run: (h, ctx) => {
    const [B, T, H] = h.shape
    const v = asTensor(vector, H, site)
    const scaled = coefficient === 1 ? v : tf.mul(v, coefficient)
    if (selector._tag === "All") return tf.add(h, scaled) as tf.Tensor3D
    const mask = positionMask(selector, ctx)
    if (!mask.some((m) => m !== 0)) return undefined
    return tf.add(h, tf.mul(tf.tensor3d(mask, [B, T, 1]), scaled)) as tf.Tensor3D
  }
})

/**
 * Replaces the selected positions by `fn(selected, info)`, where `selected` is `[n, hidden]`
 * (row-major over the selection) and the result is `[n, hidden]` (a tensor or numbers).
 * Unselected positions are untouched (bit for bit).
 */
export const replaceHook = (
  site: HookSite,
  selector: PositionSelector,
  fn: (
    selected: tf.Tensor2D,
    info: { readonly rows: Int32Array; readonly positions: Int32Array; readonly ctx: HookContext }
  ) => tf.Tensor2D | ArrayLike<number>,
  when: HookWhen = "always"
): Hook => ({
  site,
  when,
  run: (h, ctx) => {
    const { rows, positions, flat } = selection(selector, ctx)
    if (flat.length === 0) return undefined
    const [B, T, H] = h.shape
    const h2 = tf.reshape(h, [B * T, H]) as tf.Tensor2D
    const idx = tf.tensor1d(flat, "int32")
    const out = fn(tf.gather(h2, idx), { rows, positions, ctx })
    const n = flat.length
    const repl = out instanceof tf.Tensor ? out : tf.tensor2d(Float32Array.from(out as ArrayLike<number>), [n, H])
    if (repl.rank !== 2 || repl.shape[0] !== n || repl.shape[1] !== H) {
      throw new RangeError(
        `replacement for ${siteKey(site)} has shape [${repl.shape.join(", ")}], expected [${n}, ${H}]`
      )
    }
    const keep = tf.tensor2d(
      Float32Array.from(positionMask(selector, ctx), (m) => 1 - m),
      [B * T, 1]
    )
    const scattered = tf.scatterND(tf.reshape(idx, [n, 1]), repl.toFloat(), [B * T, H])
    return tf.reshape(tf.add(tf.mul(h2, keep), scattered), [B, T, H]) as tf.Tensor3D
  }
})
