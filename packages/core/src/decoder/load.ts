/**
 * Checkpoint → `DecoderParams` (any `DecoderArch`: Qwen2, Llama, Gemma 2), one tensor at a time:
 * read a tensor's byte range, decode it to float32 (BF16/F16 per tensor), upload it, transpose
 * linear weights to `[in, out]` (the fast matMul path on wasm), drop the JS copy. Peak memory ≈ the final float32 tensors + about two
 * copies of the largest tensor (the decoded array and the pre-transpose upload).
 *
 * Every expected tensor must be present with exactly the shape the config implies; a tensor the
 * architecture does not use is an error too (it would mean a different model), except a tied
 * `lm_head.weight` and rotary `inv_freq` buffers, which transformers also ignores.
 */

import * as path from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { wasmXnnFailureCount } from "../backend/TensorBackend.js"
import { ModelLoadError } from "../model/LanguageModel.js"
import type { Checkpoint } from "../safetensors/checkpoint.js"
import { decodeFloat32, dtypeLongName, isFloatDtype } from "../safetensors/dtypes.js"
import { describeNonFinite, firstNonFinite, firstNonFiniteBF16 } from "../util/finite.js"
import {
  type DecoderArch,
  decoderTensorsUpTo,
  decoderWeightShapes,
  EMBED,
  FINAL_NORM,
  type LinearSlot,
  LM_HEAD,
  layerPartsList,
  layerSlots,
  mapLayerParts
} from "./arch.js"
import type { DecoderLayerParams, DecoderParams, EmbeddingLookup } from "./forward.js"
import { bf16LinearSupported } from "./fused.js"
import type { Linear } from "./ops.js"

export interface DecoderLoadOptions {
  /**
   * "tensor" (default): the embedding matrix is a float32 tensor. "compact": it stays in JS memory
   * in its storage dtype (BF16/F16 = 2 bytes per value) and rows are decoded on lookup; with tied
   * embeddings the LM head still needs a float32 copy unless `logits: false`.
   */
  readonly embeddings?: "tensor" | "compact"
  /** Load the LM head (default true). `false`: activations only (no logits, no generation). */
  readonly logits?: boolean
  /**
   * How linear weights are stored (see `Linear`). Default: `"inOut"` on wasm (fast XNNPACK path),
   * `"outIn"` elsewhere. On wasm a matrix above `LARGE_MATRIX_BYTES` (a realistic LM head) stays
   * `"outIn"` regardless: XNNPACK's packed copy of it would not fit the 4 GiB wasm heap.
   */
  readonly linearLayout?: "inOut" | "outIn"
  /**
   * Load decoder blocks `0..maxLayer` only (with the embeddings): later blocks, the final norm and
   * the LM head are skipped (their bytes are never read; see `decoderTensorsUpTo`), and the params
   * have `norm: undefined`, `lmHead: undefined`. Must be an integer in `[0, num_hidden_layers)`.
   */
  readonly maxLayer?: number
}

/** Float32 size above which a matrix is never given the `[in, out]` (packed-copy) layout. */
export const LARGE_MATRIX_BYTES = 256 * 2 ** 20

/** The default linear layout for the current TensorFlow.js backend. */
export const defaultLinearLayout = (): "inOut" | "outIn" => (tf.getBackend() === "wasm" ? "inOut" : "outIn")

/**
 * On wasm, a plain 2-D matMul goes through XNNPACK, which packs the weight into a cached copy on
 * first use; when the wasm heap cannot hold that copy, tfjs-backend-wasm 4.22 prints "XNN status …
 * not successful" and returns an *uninitialised* result. This multiplies by e₀ and checks the
 * result is exactly the first row, so the failure is caught at load time (and the packing, which
 * the first forward pass would do anyway, happens here).
 */
export const packedMatMulWorks = (w: tf.Tensor2D): boolean => {
  if (tf.getBackend() !== "wasm") return true
  const xnnBefore = wasmXnnFailureCount()
  const [rows, cols] = w.shape
  const [got, want] = tf.tidy(() => {
    const e0 = tf.oneHot(tf.tensor1d([0], "int32"), rows).toFloat() as tf.Tensor2D
    return [tf.matMul(e0, w).dataSync(), tf.slice(w, [0, 0], [1, cols]).dataSync()]
  })
  if (wasmXnnFailureCount() !== xnnBefore) return false
  for (let i = 0; i < cols; i++) {
    if (got[i] !== want[i] && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) return false
  }
  return true
}

const chooseLayout = (preferred: "inOut" | "outIn", rows: number, cols: number): "inOut" | "outIn" =>
  preferred === "inOut" && rows * cols * 4 <= LARGE_MATRIX_BYTES ? "inOut" : "outIn"

const IGNORABLE = /(^|\.)rotary_emb\.inv_freq$/

export const loadDecoderParams = (
  checkpoint: Checkpoint,
  arch: DecoderArch,
  options: DecoderLoadOptions = {}
): Effect.Effect<{ readonly params: DecoderParams; readonly weightDtype: string }, ModelLoadError> => {
  const created: Array<tf.Tensor> = []
  const track = <T extends tf.Tensor>(t: T): T => {
    created.push(t)
    return t
  }
  const maxLayer = options.maxLayer
  const partial = maxLayer !== undefined
  const wanted = decoderTensorsUpTo(maxLayer)
  const expected = new Map([...decoderWeightShapes(arch)].filter(([name]) => wanted(name)))
  const dtypes = new Set<string>()
  const withLogits = options.logits !== false && !partial
  const compact = options.embeddings === "compact"
  const preferred = options.linearLayout ?? defaultLinearLayout()
  const fileOf = (name: string) => checkpoint.fileOf(name)?.path ?? checkpoint.indexPath ?? checkpoint.dir
  const rel = (p: string) => path.relative(checkpoint.dir, p) || p

  const readChecked = (name: string) =>
    Effect.gen(function* () {
      const shape = expected.get(name)!
      const file = fileOf(name)
      if (!checkpoint.has(name)) {
        return yield* new ModelLoadError({
          path: file,
          message: `missing weight "${name}" (shape [${shape.join(", ")}]) in ${checkpoint.files.map((f) => rel(f.path)).join(", ")}`
        })
      }
      const info = yield* Effect.orDie(checkpoint.info(name))
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
        return yield* new ModelLoadError({
          path: file,
          message: `weight "${name}" in ${rel(file)} has shape [${info.shape.join(", ")}] but config.json implies [${shape.join(", ")}]`
        })
      }
      if (!isFloatDtype(info.dtype)) {
        return yield* new ModelLoadError({
          path: file,
          message: `weight "${name}" in ${rel(file)} has dtype ${info.dtype}; expected F32, BF16, F16 or F64`
        })
      }
      dtypes.add(info.dtype)
      return { info, file }
    })

  const readFloat = (name: string) =>
    Effect.gen(function* () {
      const { file } = yield* readChecked(name)
      const t = yield* checkpoint
        .readFloat32(name)
        .pipe(
          Effect.mapError(
            (e) => new ModelLoadError({ path: file, message: `cannot read weight "${name}": ${e.message}` })
          )
        )
      // One pass over data already in memory: a NaN/Inf weight is a load error, not NaN logits later.
      const bad = firstNonFinite(t.data)
      if (bad >= 0) {
        return yield* new ModelLoadError({
          path: file,
          message: `weight "${name}" in ${rel(file)} holds non-finite values (${describeNonFinite(t.data)}; the first at flat index ${bad})`
        })
      }
      return t
    })

  /**
   * Creates a tensor from a weight. On wasm, a full heap (4 GiB at most) makes the upload throw
   * (`RangeError: offset is out of bounds`): report it as a ModelLoadError that says so.
   */
  const upload = <A>(name: string, shape: ReadonlyArray<number>, f: () => A): Effect.Effect<A, ModelLoadError> =>
    Effect.try({
      try: f,
      catch: (e) => {
        const mb = (shape.reduce((a, b) => a * b, 1) * 4) / 1e6
        const held = (tf.memory().numBytes / 2 ** 30).toFixed(2)
        const wasm = tf.getBackend() === "wasm"
        return new ModelLoadError({
          path: fileOf(name),
          message: `cannot upload weight "${name}" [${shape.join(", ")}] (${mb.toFixed(1)} MB of float32) to the ${tf.getBackend()} backend with ${held} GiB of tensors already held: ${e instanceof Error ? e.message : String(e)}${
            wasm
              ? ` — the wasm heap is limited to 4 GiB (and XNNPACK keeps packed copies of [in, out] weights); use the native tensorflow backend, loadModel's maxLayer / logits: false / embeddings: "compact", linearLayout: "outIn", or a smaller model`
              : ""
          }`
        })
      }
    })
  const vector = (name: string) =>
    Effect.flatMap(readFloat(name), (t) => upload(name, t.shape, () => track(tf.tensor1d(t.data))))
  /** A norm's effective multiplier: `w`, or Gemma's `1 + w` formed in float32. */
  const norm = (name: string) =>
    arch.normPlusOne
      ? Effect.flatMap(readFloat(name), (t) =>
          upload(name, t.shape, () => track(tf.tensor1d(t.data.map((x) => Math.fround(1 + x)))))
        )
      : vector(name)
  /** `[out, in]` on disk → a tensor in the chosen layout (`[in, out]` is transposed on upload). */
  let heapFull = false
  /** `[out, in]` data → a tensor in the chosen layout (`[in, out]` is transposed on upload and verified on wasm). */
  const place = (data: Float32Array, rows: number, cols: number): Linear => {
    const layout = heapFull ? "outIn" : chooseLayout(preferred, rows, cols)
    if (layout === "outIn") return { w: track(tf.tensor2d(data, [rows, cols])), layout }
    const w = tf.tidy(() => tf.transpose(tf.tensor2d(data, [rows, cols])) as tf.Tensor2D)
    if (packedMatMulWorks(w)) return { w: track(w), layout }
    // XNNPACK could not allocate its packed copy (wasm heap full): keep this and every later
    // matrix in the copy-free [out, in] layout.
    heapFull = true
    w.dispose()
    return { w: track(tf.tensor2d(data, [rows, cols])), layout: "outIn" }
  }
  const matrix = (name: string) =>
    Effect.flatMap(readFloat(name), (t) => upload(name, t.shape, () => place(t.data, t.shape[0]!, t.shape[1]!)))
  const linearOf = ({ w, b }: LinearSlot): Effect.Effect<Linear, ModelLoadError> =>
    Effect.gen(function* () {
      const m = yield* matrix(w)
      return b === undefined ? m : { ...m, b: yield* vector(b) }
    })

  /** A weight's raw bytes in its stored dtype. */
  const readBytes = (name: string, file: string) =>
    checkpoint
      .fileOf(name)!
      .readBytes(name)
      .pipe(
        Effect.mapError(
          (e) => new ModelLoadError({ path: file, message: `cannot read weight "${name}": ${e.message}` })
        )
      )

  /**
   * A BF16 `[out, in]` weight kept compact (`Linear` layout "outInBF16") where the backend
   * multiplies by it directly (native), with its bits for a compact embedding lookup; undefined
   * (the float32 path) for other dtypes and backends.
   */
  const packedBF16 = (name: string, read?: Uint8Array) =>
    Effect.gen(function* () {
      const shape = expected.get(name)!
      if (!bf16LinearSupported() || shape[1]! % 2 !== 0) return undefined
      const { info, file } = yield* readChecked(name)
      if (info.dtype !== "BF16") return undefined
      const bytes = read ?? (yield* readBytes(name, file))
      const packed =
        bytes.byteOffset % 4 === 0
          ? new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
          : new Int32Array(bytes.slice().buffer)
      const bits = new Uint16Array(packed.buffer, packed.byteOffset, packed.length * 2)
      const at = firstNonFiniteBF16(packed)
      if (at >= 0) {
        return yield* new ModelLoadError({
          path: file,
          message: `weight "${name}" in ${rel(file)} holds non-finite values (the first at flat index ${at})`
        })
      }
      const w = yield* upload(name, shape, () => track(tf.tensor2d(packed, [shape[0]!, shape[1]! / 2], "int32")))
      return { bits, linear: { w, layout: "outInBF16" } satisfies Linear }
    })

  const load = Effect.gen(function* () {
    if (partial && !(Number.isInteger(maxLayer) && maxLayer >= 0 && maxLayer < arch.numLayers)) {
      return yield* new ModelLoadError({
        path: checkpoint.dir,
        message: `maxLayer ${maxLayer} is out of range [0, ${arch.numLayers}) (num_hidden_layers = ${arch.numLayers})`
      })
    }
    if (partial && options.logits === true) {
      return yield* new ModelLoadError({
        path: checkpoint.dir,
        message: `logits: true needs the final norm and LM head, which a load with maxLayer ${maxLayer} skips`
      })
    }
    for (const name of checkpoint.names) {
      if (partial && !wanted(name)) continue // not selected: never read (normally already filtered out)
      if (expected.has(name) || IGNORABLE.test(name) || (name === LM_HEAD && arch.tieWordEmbeddings)) continue
      return yield* new ModelLoadError({
        path: fileOf(name),
        message: `tensor "${name}" in ${rel(fileOf(name))} is not part of the ${arch.family} architecture described by config.json`
      })
    }
    // Check every tensor's presence and shape before reading any data.
    for (const name of expected.keys()) yield* readChecked(name)
    dtypes.clear()

    const V = arch.vocabSize
    const H = arch.hiddenSize
    let embed: EmbeddingLookup
    let lmHead: Linear | undefined
    if (compact) {
      const { info, file } = yield* readChecked(EMBED)
      const bytes = yield* readBytes(EMBED, file)
      const kind = info.dtype === "BF16" || info.dtype === "F16" ? info.dtype : "F32"
      const data =
        kind === "F32"
          ? decodeFloat32(info.dtype as "F32" | "F64", bytes)
          : new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2)
      if (withLogits && arch.tieWordEmbeddings) {
        const packed = yield* packedBF16(EMBED, bytes)
        // the packed weight's bits serve as the compact table too (one copy)
        embed = { kind: "compact", dtype: kind, data: packed?.bits ?? data, hidden: H }
        lmHead =
          packed?.linear ??
          (yield* upload(EMBED, [V, H], () =>
            place(decodeFloat32(info.dtype as "F32" | "F64" | "BF16" | "F16", bytes), V, H)
          ))
      } else embed = { kind: "compact", dtype: kind, data, hidden: H }
    } else if (arch.tieWordEmbeddings && withLogits) {
      const packed = yield* packedBF16(EMBED)
      if (packed !== undefined) {
        // BF16 on a backend that multiplies by it: one compact copy serves both
        embed = { kind: "compact", dtype: "BF16", data: packed.bits, hidden: H }
        lmHead = packed.linear
      } else {
        // One tensor serves as both embedding table and LM head.
        const m = yield* matrix(EMBED)
        embed = m.layout === "inOut" ? { kind: "columns", table: m.w } : { kind: "rows", table: m.w }
        lmHead = m
      }
    } else {
      const t = yield* readFloat(EMBED)
      embed = { kind: "rows", table: yield* upload(EMBED, [V, H], () => track(tf.tensor2d(t.data, [V, H]))) }
    }
    if (withLogits && !arch.tieWordEmbeddings)
      lmHead = (yield* packedBF16(LM_HEAD))?.linear ?? (yield* linearOf({ w: LM_HEAD }))

    const layers: Array<DecoderLayerParams> = []
    const numLoaded = partial ? maxLayer + 1 : arch.numLayers
    for (let i = 0; i < numLoaded; i++) {
      // Sequential, in checkpoint order: one tensor in flight at a time.
      layers.push(yield* Effect.all(mapLayerParts(layerSlots(arch, i), norm, linearOf)))
    }
    const finalNorm = partial ? undefined : yield* norm(FINAL_NORM)
    const names = [...dtypes].map(dtypeLongName)
    return {
      params: { arch, embed, layers, norm: finalNorm, lmHead } satisfies DecoderParams,
      weightDtype: names.length === 1 ? names[0]! : `mixed(${names.sort().join(",")})`
    }
  })
  return load.pipe(Effect.onError(() => Effect.sync(() => disposeTensors(created))))
}

/** Disposes each distinct tensor once. */
export const disposeTensors = (tensors: Iterable<tf.Tensor>): void => {
  for (const t of new Set(tensors)) if (!t.isDisposed) t.dispose()
}

/** Every tensor held by params (deduplicated: a tied table appears once). */
export const paramTensors = (p: DecoderParams): Array<tf.Tensor> => {
  const out = new Set<tf.Tensor>()
  const lin = (l: Linear | undefined) => {
    if (l === undefined) return
    out.add(l.w)
    if (l.b !== undefined) out.add(l.b)
  }
  if (p.embed.kind !== "compact") out.add(p.embed.table)
  for (const l of p.layers) {
    const { norms, linears } = layerPartsList(l)
    for (const n of norms) out.add(n)
    for (const x of linears) lin(x)
  }
  if (p.norm !== undefined) out.add(p.norm)
  lin(p.lmHead)
  return [...out]
}

/**
 * Inference params (`[in, out]` copies) from an HF weights record, e.g. a freshly trained model.
 * The record is not consumed; dispose it separately.
 */
export const decoderParamsForInference = (
  arch: DecoderArch,
  weights: Readonly<Record<string, tf.Tensor>>,
  linearLayout: "inOut" | "outIn" = defaultLinearLayout()
): DecoderParams => {
  const w = (n: string) => weights[n]! as tf.Tensor2D
  const norm = (n: string) =>
    arch.normPlusOne ? (tf.add(weights[n]!, 1) as tf.Tensor1D) : tf.clone(weights[n]! as tf.Tensor1D)
  let heapFull = false
  const mat = (n: string): Linear => {
    const t = w(n)
    if (!heapFull && chooseLayout(linearLayout, t.shape[0], t.shape[1]) === "inOut") {
      const tt = tf.transpose(t)
      if (packedMatMulWorks(tt)) return { w: tt, layout: "inOut" }
      tt.dispose()
      heapFull = true
    }
    return { w: tf.clone(t), layout: "outIn" }
  }
  const lin = (s: LinearSlot): Linear => ({
    ...mat(s.w),
    ...(s.b !== undefined ? { b: tf.clone(weights[s.b]! as tf.Tensor1D) } : {})
  })
  const layers = Array.from({ length: arch.numLayers }, (_, i) => mapLayerParts(layerSlots(arch, i), norm, lin))
  let embed: EmbeddingLookup
  let lmHead: Linear
  if (arch.tieWordEmbeddings) {
    lmHead = mat(EMBED)
    embed = lmHead.layout === "inOut" ? { kind: "columns", table: lmHead.w } : { kind: "rows", table: lmHead.w }
  } else {
    embed = { kind: "rows", table: tf.clone(w(EMBED)) }
    lmHead = lin({ w: LM_HEAD })
  }
  return { arch, embed, layers, norm: norm(FINAL_NORM), lmHead }
}
