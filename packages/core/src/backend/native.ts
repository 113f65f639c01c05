/**
 * The `native` TensorFlow.js backend: tfjs-backend-cpu's tensors and kernels (data in the JS
 * heap, so no 4 GiB wasm limit) with the heavy kernels replaced by @crosscode/native, a Node-API
 * addon over the system BLAS (OpenBLAS / Accelerate, multi-threaded):
 *   - BatchMatMul and _FusedMatMul (float32): cblas_sgemm per batch matrix;
 *   - TopK (float32): a heap per row, in parallel over rows;
 *   - float32 elementwise ops (Add, Sub, Multiply, RealDiv, Maximum, Minimum, SquaredDifference
 *     with broadcasting that collapses to ≤ 3 dimensions; Relu, Exp, Sigmoid, Rsqrt, Square,
 *     Neg, Sqrt, Abs): C loops, where tfjs-backend-cpu calls a closure per element (~30× slower);
 *   - Transpose, Slice, Concat (float32, int32): strided copies; Softmax over the last axis;
 *     GatherV2 along axis 0 (embedding lookups): a row copy per index;
 *   - the fused decoder kernels of decoder/fused.ts (RMSNorm, gated activation, RoPE, attention).
 * Every other kernel is tfjs-backend-cpu's. The addon is optional: `registerNativeBackend` throws
 * with the reason it is missing (not built at install, disabled), and callers fall back to wasm.
 */
import type { NativeKernels, NativeLoad } from "@crosscode/native"
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu"
import * as tf from "@tensorflow/tfjs-core"
import { registerNativeDecoderKernels } from "./nativeDecoder.js"

export const NATIVE_BACKEND = "native"

/** tfjs-backend-cpu's backend class under another name (imported on registration: it registers the cpu kernels). */
const nativeBackendClass = (Base: typeof MathBackendCPU) =>
  class NativeBackend extends Base {
    constructor() {
      super()
      // tfjs-backend-cpu advises installing tfjs-node on first use; that advice is not for this backend.
      ;(this as unknown as { firstUse: boolean }).firstUse = false
    }
  }

type CpuBackend = MathBackendCPU
type KernelArgs = {
  inputs: Record<string, tf.TensorInfo | undefined>
  backend: CpuBackend
  attrs?: Record<string, unknown>
}
type KernelFn = (args: KernelArgs) => tf.TensorInfo | Array<tf.TensorInfo>

const valuesOf = (backend: CpuBackend, t: tf.TensorInfo): Float32Array =>
  backend.data.get(t.dataId).values as Float32Array

/** float32 with its values in a Float32Array (what the addon's float kernels take). */
const isF32 = (backend: CpuBackend, t: tf.TensorInfo): boolean =>
  t.dtype === "float32" && backend.data.get(t.dataId).values instanceof Float32Array

const cpuKernel = (name: string): KernelFn => {
  const k = tf.getKernel(name, "cpu")
  if (k === undefined) throw new Error(`tfjs-backend-cpu has no ${name} kernel`)
  return k.kernelFunc as unknown as KernelFn
}

/** The float32 matMul on BLAS; undefined when it needs the cpu kernel (other dtypes, general broadcasting). */
const nativeMatMul = (
  k: NativeKernels,
  backend: CpuBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean
): tf.TensorInfo | undefined => {
  if (!isF32(backend, a) || !isF32(backend, b)) return undefined
  const ra = a.shape.length
  const rb = b.shape.length
  const innerA = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!
  const innerB = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!
  const M = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!
  const N = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!
  if (innerA !== innerB)
    throw new Error(
      `Error in matMul: inner shapes (${innerA}) and (${innerB}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`
    )
  const outer = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2))
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2))
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2))
  const batch = tf.util.sizeFromShape(outer)
  if (!((batchA === batch || batchA === 1) && (batchB === batch || batchB === 1))) return undefined
  const K = innerA
  const out = new Float32Array(batch * M * N)
  k.gemmBatched(
    transposeA,
    transposeB,
    batch,
    M,
    N,
    K,
    valuesOf(backend, a),
    batchA === 1 ? 0 : M * K,
    valuesOf(backend, b),
    batchB === 1 ? 0 : K * N,
    out,
    0
  )
  return backend.makeTensorInfo([...outer, M, N], "float32", out)
}

/** Codes of @crosscode/native's `binary` / `unary` (BinaryOps / UnaryOps there) by kernel name. */
const BINARY: Record<string, number> = {
  Add: 0,
  Sub: 1,
  Multiply: 2,
  RealDiv: 3,
  Maximum: 4,
  Minimum: 5,
  SquaredDifference: 6
}
const UNARY: Record<string, number> = { Relu: 0, Exp: 1, Sigmoid: 2, Rsqrt: 3, Square: 4, Neg: 5, Sqrt: 6, Abs: 7 }

/**
 * A broadcast of `a` and `b` to `out` as ≤ 3 collapsed dimensions with per-operand strides (0 where
 * broadcast), or undefined when it needs more (then the cpu kernel runs).
 */
const broadcastPlan = (
  out: ReadonlyArray<number>,
  aShape: ReadonlyArray<number>,
  bShape: ReadonlyArray<number>
): { dims: [number, number, number]; sa: [number, number, number]; sb: [number, number, number] } | undefined => {
  const r = out.length
  const pad = (s: ReadonlyArray<number>) => [...Array<number>(r - s.length).fill(1), ...s]
  const as = pad(aShape)
  const bs = pad(bShape)
  const dims: Array<{ n: number; fa: boolean; fb: boolean }> = []
  for (let i = 0; i < r; i++) {
    const n = out[i]!
    if (n === 1) continue
    const fa = as[i] === 1
    const fb = bs[i] === 1
    const last = dims[dims.length - 1]
    if (last !== undefined && last.fa === fa && last.fb === fb) last.n *= n
    else dims.push({ n, fa, fb })
  }
  if (dims.length > 3) return undefined
  while (dims.length < 3) dims.unshift({ n: 1, fa: true, fb: true })
  const strides = (bcast: (d: { fa: boolean; fb: boolean }) => boolean) => {
    const st: [number, number, number] = [0, 0, 0]
    let acc = 1
    for (let k = 2; k >= 0; k--) {
      const d = dims[k]!
      if (bcast(d)) st[k] = 0
      else {
        st[k] = acc
        acc *= d.n
      }
    }
    return st
  }
  return {
    dims: [dims[0]!.n, dims[1]!.n, dims[2]!.n],
    sa: strides((d) => d.fa),
    sb: strides((d) => d.fb)
  }
}

/** Fused activations computed in place with `unary`. */
const UNARY_ACTIVATION: Record<string, number | undefined> = { relu: UNARY.Relu, sigmoid: UNARY.Sigmoid }

const ACTIVATION_KERNELS: Record<string, string> = {
  linear: "Identity",
  relu: "Relu",
  elu: "Elu",
  relu6: "Relu6",
  prelu: "Prelu",
  leakyrelu: "LeakyRelu",
  sigmoid: "Sigmoid"
}

/**
 * Layout and softmax kernels of newer addon builds, typed here (not in @crosscode/native's
 * NativeKernels) so that an older build is detected and its absence leaves tfjs-backend-cpu's.
 */
interface LayoutKernels {
  stridedCopy(
    src: Float32Array | Int32Array,
    srcOffset: number,
    srcStrides: Float64Array,
    dst: Float32Array | Int32Array,
    dstOffset: number,
    dstStrides: Float64Array,
    shape: Float64Array
  ): void
  softmaxRows(x: Float32Array, rows: number, cols: number, out: Float32Array): void
}

const layoutKernels = (k: NativeKernels): LayoutKernels | undefined => {
  const l = k as unknown as Partial<LayoutKernels>
  return typeof l.stridedCopy === "function" && typeof l.softmaxRows === "function" ? (l as LayoutKernels) : undefined
}

const contiguousStrides = (shape: ReadonlyArray<number>): Array<number> => {
  const st = new Array<number>(shape.length)
  let acc = 1
  for (let d = shape.length - 1; d >= 0; d--) {
    st[d] = acc
    acc *= shape[d]!
  }
  return st
}

const isCopyable = (backend: CpuBackend, t: tf.TensorInfo): boolean => {
  const v = backend.data.get(t.dataId).values
  return (
    ((t.dtype === "float32" && v instanceof Float32Array) || (t.dtype === "int32" && v instanceof Int32Array)) &&
    t.shape.length >= 1 &&
    t.shape.length <= 8
  )
}

const newArray = (dtype: string, n: number): Float32Array | Int32Array =>
  dtype === "int32" ? new Int32Array(n) : new Float32Array(n)

/**
 * Transpose, Slice, Concat and Softmax: the cpu kernels compute an index tuple per element (and
 * its Softmax broadcasts through that path), which made them ~45% of a Qwen2 prefill on this
 * backend; here they are strided copies and one row loop in C.
 */
const layoutKernelsFor = (l: LayoutKernels): Record<string, KernelFn> => {
  const cpuTranspose = cpuKernel("Transpose")
  const cpuSlice = cpuKernel("Slice")
  const cpuConcat = cpuKernel("Concat")
  const cpuSoftmax = cpuKernel("Softmax")
  const cpuGather = cpuKernel("GatherV2")
  const f64 = (a: ReadonlyArray<number>) => Float64Array.from(a)
  return {
    Transpose: (args) => {
      const x = args.inputs.x!
      const perm = (args.attrs as { perm: ReadonlyArray<number> }).perm
      if (!isCopyable(args.backend, x) || perm.length !== x.shape.length) return cpuTranspose(args)
      const shape = perm.map((p) => x.shape[p]!)
      const xs = contiguousStrides(x.shape)
      const out = newArray(x.dtype, tf.util.sizeFromShape(shape))
      const src = args.backend.data.get(x.dataId).values as Float32Array | Int32Array
      l.stridedCopy(src, 0, f64(perm.map((p) => xs[p]!)), out, 0, f64(contiguousStrides(shape)), f64(shape))
      return args.backend.makeTensorInfo(shape, x.dtype, out)
    },
    Slice: (args) => {
      const x = args.inputs.x!
      const attrs = args.attrs as { begin: number | Array<number>; size: number | Array<number> }
      if (!isCopyable(args.backend, x)) return cpuSlice(args)
      const [begin, sz] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin, attrs.size)
      tf.slice_util.assertParamsValid(x as tf.Tensor, begin, sz)
      const xs = contiguousStrides(x.shape)
      let offset = 0
      for (let d = 0; d < begin.length; d++) offset += begin[d]! * xs[d]!
      const out = newArray(x.dtype, tf.util.sizeFromShape(sz))
      const src = args.backend.data.get(x.dataId).values as Float32Array | Int32Array
      if (out.length > 0) l.stridedCopy(src, offset, f64(xs), out, 0, f64(contiguousStrides(sz)), f64(sz))
      return args.backend.makeTensorInfo(sz, x.dtype, out)
    },
    Concat: (args) => {
      const inputs = Object.values(args.inputs) as Array<tf.TensorInfo>
      const axisAttr = (args.attrs as { axis: number | Array<number> }).axis
      const first = inputs[0]
      if (
        first === undefined ||
        !inputs.every(
          (t) => isCopyable(args.backend, t) && t.dtype === first.dtype && t.shape.length === first.shape.length
        )
      )
        return cpuConcat(args)
      const axis = tf.util.parseAxisParam(axisAttr, first.shape)[0]!
      const shapes = inputs.map((t) => t.shape)
      tf.backend_util.assertParamsConsistent(shapes, axis)
      const shape = tf.backend_util.computeOutShape(shapes, axis)
      const out = newArray(first.dtype, tf.util.sizeFromShape(shape))
      const os = f64(contiguousStrides(shape))
      let at = 0
      for (const t of inputs) {
        if (tf.util.sizeFromShape(t.shape) > 0) {
          const src = args.backend.data.get(t.dataId).values as Float32Array | Int32Array
          l.stridedCopy(src, 0, f64(contiguousStrides(t.shape)), out, at * os[axis]!, os, f64(t.shape))
        }
        at += t.shape[axis]!
      }
      return args.backend.makeTensorInfo(shape, first.dtype, out)
    },
    GatherV2: (args) => {
      // axis-0 row gathers (embedding lookups): one row copy per index, where the cpu kernel
      // computes an index tuple per element
      const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo }
      const attrs = args.attrs as { axis: number; batchDims?: number }
      if (
        !isCopyable(args.backend, x) ||
        (attrs.batchDims ?? 0) !== 0 ||
        tf.util.parseAxisParam(attrs.axis, x.shape)[0] !== 0
      )
        return cpuGather(args)
      const ids = args.backend.data.get(indices.dataId).values as ArrayLike<number>
      const rows = x.shape[0]!
      for (let i = 0; i < ids.length; i++) if (!(ids[i]! >= 0 && ids[i]! < rows)) return cpuGather(args) // its error
      const row = tf.util.sizeFromShape(x.shape.slice(1))
      const src = args.backend.data.get(x.dataId).values as Float32Array | Int32Array
      const out = newArray(x.dtype, ids.length * row)
      for (let i = 0; i < ids.length; i++) out.set(src.subarray(ids[i]! * row, (ids[i]! + 1) * row), i * row)
      return args.backend.makeTensorInfo([...indices.shape, ...x.shape.slice(1)], x.dtype, out)
    },
    Softmax: (args) => {
      const x = args.inputs.logits!
      const dim = (args.attrs as { dim: number }).dim
      const r = x.shape.length
      if (!isF32(args.backend, x) || r === 0 || (dim !== -1 && dim !== r - 1)) return cpuSoftmax(args)
      const cols = x.shape[r - 1]!
      const out = new Float32Array(tf.util.sizeFromShape(x.shape))
      if (out.length > 0) l.softmaxRows(valuesOf(args.backend, x), out.length / cols, cols, out)
      return args.backend.makeTensorInfo(x.shape, "float32", out)
    }
  }
}

const kernelsFor = (k: NativeKernels): Record<string, KernelFn> => {
  const cpuMatMul = cpuKernel("BatchMatMul")
  const cpuFused = cpuKernel("_FusedMatMul")
  const cpuTopK = cpuKernel("TopK")
  const cpuCast = cpuKernel("Cast")
  const elementwise: Record<string, KernelFn> = {}
  for (const [name, op] of Object.entries(BINARY)) {
    const fallback = cpuKernel(name)
    elementwise[name] = (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo }
      // a float32 tensor can hold another typed array (e.g. some of tfjs-backend-cpu's casts)
      if (!(isF32(args.backend, a) && isF32(args.backend, b))) return fallback(args)
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape)
      const plan = broadcastPlan(shape, a.shape, b.shape)
      if (plan === undefined) return fallback(args)
      const out = new Float32Array(tf.util.sizeFromShape(shape))
      const [d0, d1, d2] = plan.dims
      k.binary(op, valuesOf(args.backend, a), valuesOf(args.backend, b), out, d0, d1, d2, ...plan.sa, ...plan.sb)
      return args.backend.makeTensorInfo(shape, "float32", out)
    }
  }
  for (const [name, op] of Object.entries(UNARY)) {
    const fallback = cpuKernel(name)
    elementwise[name] = (args) => {
      const x = args.inputs.x!
      if (!isF32(args.backend, x)) return fallback(args)
      const out = new Float32Array(tf.util.sizeFromShape(x.shape))
      k.unary(op, valuesOf(args.backend, x), out)
      return args.backend.makeTensorInfo(x.shape, "float32", out)
    }
  }
  const layout = layoutKernels(k)
  return {
    ...elementwise,
    ...(layout === undefined ? {} : layoutKernelsFor(layout)),
    BatchMatMul: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo }
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean }
      return nativeMatMul(k, args.backend, a, b, transposeA, transposeB) ?? cpuMatMul(args)
    },
    _FusedMatMul: (args) => {
      const { a, b, bias, preluActivationWeights } = args.inputs
      const attrs = args.attrs as {
        transposeA: boolean
        transposeB: boolean
        activation?: string
        leakyreluAlpha?: number
      }
      const mm = nativeMatMul(k, args.backend, a!, b!, attrs.transposeA, attrs.transposeB)
      if (mm === undefined) return cpuFused(args)
      const backend = args.backend
      // bias and relu/sigmoid in place on the product (same arithmetic as separate ops, one allocation)
      const inPlace =
        attrs.activation === undefined ||
        attrs.activation === "linear" ||
        UNARY_ACTIVATION[attrs.activation] !== undefined
      const plan = bias === undefined ? undefined : broadcastPlan(mm.shape, mm.shape, bias.shape)
      if (inPlace && (bias === undefined || (isF32(backend, bias) && plan !== undefined))) {
        const out = valuesOf(backend, mm)
        if (bias !== undefined && plan !== undefined)
          k.binary(BINARY.Add!, out, valuesOf(backend, bias), out, ...plan.dims, ...plan.sa, ...plan.sb)
        const act = attrs.activation === undefined ? undefined : UNARY_ACTIVATION[attrs.activation]
        if (act !== undefined) k.unary(act, out, out)
        return mm
      }
      let current = mm
      if (bias !== undefined) {
        const next = (elementwise.Add ?? cpuKernel("Add"))({
          inputs: { a: current, b: bias },
          backend
        }) as tf.TensorInfo
        backend.disposeIntermediateTensorInfo(current)
        current = next
      }
      if (attrs.activation !== undefined) {
        const name = ACTIVATION_KERNELS[attrs.activation]
        if (name === undefined)
          throw new Error(`Activation ${attrs.activation} has not been implemented for the native backend.`)
        const inputs = name === "Prelu" ? { x: current, alpha: preluActivationWeights } : { x: current }
        const next = (elementwise[name] ?? cpuKernel(name))({
          inputs,
          backend,
          attrs: { alpha: attrs.leakyreluAlpha }
        }) as tf.TensorInfo
        backend.disposeIntermediateTensorInfo(current)
        current = next
      }
      return current
    },
    TopK: (args) => {
      const x = args.inputs.x!
      const kk = (args.attrs as { k: number }).k
      if (!isF32(args.backend, x) || x.shape.length === 0) return cpuTopK(args)
      const cols = x.shape[x.shape.length - 1]!
      if (kk > cols) return cpuTopK(args) // the cpu kernel's error message
      const rows = tf.util.sizeFromShape(x.shape) / Math.max(cols, 1)
      const values = new Float32Array(rows * kk)
      const indices = new Int32Array(rows * kk)
      if (cols > 0) k.topkRows(valuesOf(args.backend, x), rows, cols, kk, values, indices)
      const shape = [...x.shape.slice(0, -1), kk]
      return [
        args.backend.makeTensorInfo(shape, "float32", values),
        args.backend.makeTensorInfo(shape, "int32", indices)
      ]
    },
    // tfjs-backend-cpu casts int32/bool up to float32 by sharing the input's array, so the float32
    // result would hold an Int32Array or Uint8Array: every native kernel would take its fallback
    // for it, and reads would not be the Float32Array a float32 tensor promises. Here it is a copy.
    Cast: (args) => {
      const x = args.inputs.x!
      const dtype = (args.attrs as { dtype: string }).dtype
      const values = args.backend.data.get(x.dataId).values
      if (dtype !== "float32" || (x.dtype !== "int32" && x.dtype !== "bool") || !ArrayBuffer.isView(values))
        return cpuCast(args)
      return args.backend.makeTensorInfo(x.shape, "float32", Float32Array.from(values as Int32Array))
    }
  }
}

let registered: string | undefined
let active: NativeKernels | undefined

/**
 * The addon's kernels while the `native` backend is the active TensorFlow.js backend (host-side
 * code such as the crosscoder's sparse step and Adam uses them then), else undefined.
 */
export const activeNativeKernels = (): NativeKernels | undefined =>
  active !== undefined && tf.getBackend() === NATIVE_BACKEND ? active : undefined

/**
 * Register the `native` backend with TensorFlow.js (once per process); returns a description
 * (BLAS build, threads). Throws with the reason when @crosscode/native is absent or unbuilt.
 */
export const registerNativeBackend = async (): Promise<string> => {
  if (registered !== undefined) return registered
  let load: NativeLoad
  try {
    const mod = (await import("@crosscode/native" as string)) as { loadNativeKernels: () => NativeLoad }
    load = mod.loadNativeKernels()
  } catch (e) {
    throw new Error(
      `@crosscode/native is not installed (an optional dependency): ${e instanceof Error ? e.message : String(e)}`
    )
  }
  if (!load.ok) throw new Error(`@crosscode/native: ${load.reason}`)
  // Every op allocates its output: keep freed blocks for reuse (a fresh page faults on first
  // write; measured ~4× slower for 128 MiB arrays here). CROSSCODE_NATIVE_MALLOC=system opts out.
  if (process.env.CROSSCODE_NATIVE_MALLOC !== "system") load.kernels.keepFreedMemory(0)
  const { MathBackendCPU } = await import("@tensorflow/tfjs-backend-cpu")
  const NativeBackend = nativeBackendClass(MathBackendCPU)
  const overrides = kernelsFor(load.kernels)
  for (const config of tf.getKernelsForBackend("cpu")) {
    const kernelFunc = overrides[config.kernelName] ?? config.kernelFunc
    tf.registerKernel({ ...config, backendName: NATIVE_BACKEND, kernelFunc: kernelFunc as tf.KernelFunc })
  }
  registerNativeDecoderKernels(load.kernels, NATIVE_BACKEND)
  tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(), 0)
  active = load.kernels
  registered = `${load.blas.trim()}, ${load.threads} thread${load.threads === 1 ? "" : "s"}`
  return registered
}
