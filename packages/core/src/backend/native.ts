/**
 * The `native` TensorFlow.js backend: tfjs-backend-cpu's tensors and kernels (data in the JS
 * heap, so no 4 GiB wasm limit) with the heavy kernels replaced by @crosscode/native, a Node-API
 * addon over the system BLAS (OpenBLAS / Accelerate, multi-threaded):
 *   - BatchMatMul and _FusedMatMul (float32): cblas_sgemm per batch matrix;
 *   - TopK (float32): a heap per row, in parallel over rows.
 * Every other kernel is tfjs-backend-cpu's. The addon is optional: `registerNativeBackend` throws
 * with the reason it is missing (not built at install, disabled), and callers fall back to wasm.
 */
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu"
import * as tf from "@tensorflow/tfjs"

/** What @crosscode/native exports (typed here so core compiles without it). */
export interface NativeKernelsLike {
  gemmBatched(
    transA: boolean,
    transB: boolean,
    batch: number,
    M: number,
    N: number,
    K: number,
    A: Float32Array,
    strideA: number,
    B: Float32Array,
    strideB: number,
    C: Float32Array,
    beta: number
  ): void
  topkRows(x: Float32Array, rows: number, cols: number, k: number, values: Float32Array, indices: Int32Array): void
}

type NativeLoadLike =
  | { readonly ok: true; readonly kernels: NativeKernelsLike; readonly blas: string; readonly threads: number }
  | { readonly ok: false; readonly reason: string }

export const NATIVE_BACKEND = "native"

/** tfjs-backend-cpu's backend class: the native backend adds nothing but its name. */
class NativeBackend extends MathBackendCPU {}

type CpuBackend = MathBackendCPU
type KernelArgs = {
  inputs: Record<string, tf.TensorInfo | undefined>
  backend: CpuBackend
  attrs?: Record<string, unknown>
}
type KernelFn = (args: KernelArgs) => tf.TensorInfo | Array<tf.TensorInfo>

const valuesOf = (backend: CpuBackend, t: tf.TensorInfo): Float32Array =>
  backend.data.get(t.dataId).values as Float32Array

const cpuKernel = (name: string): KernelFn => {
  const k = tf.getKernel(name, "cpu")
  if (k === undefined) throw new Error(`tfjs-backend-cpu has no ${name} kernel`)
  return k.kernelFunc as unknown as KernelFn
}

const size = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/** The float32 matMul on BLAS; undefined when it needs the cpu kernel (other dtypes, general broadcasting). */
const nativeMatMul = (
  k: NativeKernelsLike,
  backend: CpuBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean
): tf.TensorInfo | undefined => {
  if (a.dtype !== "float32" || b.dtype !== "float32") return undefined
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
  const batchA = size(a.shape.slice(0, -2))
  const batchB = size(b.shape.slice(0, -2))
  const batch = size(outer)
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

const ACTIVATION_KERNELS: Record<string, string> = {
  linear: "Identity",
  relu: "Relu",
  elu: "Elu",
  relu6: "Relu6",
  prelu: "Prelu",
  leakyrelu: "LeakyRelu",
  sigmoid: "Sigmoid"
}

const kernelsFor = (k: NativeKernelsLike): Record<string, KernelFn> => {
  const cpuMatMul = cpuKernel("BatchMatMul")
  const cpuFused = cpuKernel("_FusedMatMul")
  const cpuTopK = cpuKernel("TopK")
  const add = cpuKernel("Add")
  return {
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
      let current = mm
      const backend = args.backend
      if (bias !== undefined) {
        const next = add({ inputs: { a: current, b: bias }, backend }) as tf.TensorInfo
        backend.disposeIntermediateTensorInfo(current)
        current = next
      }
      if (attrs.activation !== undefined) {
        const name = ACTIVATION_KERNELS[attrs.activation]
        if (name === undefined) throw new Error(`Activation ${attrs.activation} has not been implemented for the native backend.`)
        const inputs = name === "Prelu" ? { x: current, alpha: preluActivationWeights } : { x: current }
        const next = cpuKernel(name)({ inputs, backend, attrs: { alpha: attrs.leakyreluAlpha } }) as tf.TensorInfo
        backend.disposeIntermediateTensorInfo(current)
        current = next
      }
      return current
    },
    TopK: (args) => {
      const x = args.inputs.x!
      const kk = (args.attrs as { k: number }).k
      if (x.dtype !== "float32" || x.shape.length === 0) return cpuTopK(args)
      const cols = x.shape[x.shape.length - 1]!
      if (kk > cols) return cpuTopK(args) // the cpu kernel's error message
      const rows = size(x.shape) / Math.max(cols, 1)
      const values = new Float32Array(rows * kk)
      const indices = new Int32Array(rows * kk)
      if (cols > 0) k.topkRows(valuesOf(args.backend, x), rows, cols, kk, values, indices)
      const shape = [...x.shape.slice(0, -1), kk]
      return [
        args.backend.makeTensorInfo(shape, "float32", values),
        args.backend.makeTensorInfo(shape, "int32", indices)
      ]
    }
  }
}

let registered: string | undefined

/**
 * Register the `native` backend with TensorFlow.js (once per process); returns a description
 * (BLAS build, threads). Throws with the reason when @crosscode/native is absent or unbuilt.
 */
export const registerNativeBackend = async (): Promise<string> => {
  if (registered !== undefined) return registered
  let load: NativeLoadLike
  try {
    const mod = (await import("@crosscode/native" as string)) as { loadNativeKernels: () => NativeLoadLike }
    load = mod.loadNativeKernels()
  } catch (e) {
    throw new Error(
      `@crosscode/native is not installed (an optional dependency): ${e instanceof Error ? e.message : String(e)}`
    )
  }
  if (!load.ok) throw new Error(`@crosscode/native: ${load.reason}`)
  const overrides = kernelsFor(load.kernels)
  for (const config of tf.getKernelsForBackend("cpu")) {
    const kernelFunc = overrides[config.kernelName] ?? config.kernelFunc
    tf.registerKernel({ ...config, backendName: NATIVE_BACKEND, kernelFunc: kernelFunc as tf.KernelFunc })
  }
  tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(), 0)
  registered = `${load.blas.trim()}, ${load.threads} thread${load.threads === 1 ? "" : "s"}`
  return registered
}
