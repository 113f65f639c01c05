/**
 * The fused decoder kernels (decoder/fused.ts) on the `native` backend, over @crosscode/native's
 * rmsNormRows / gatedActivation / ropeRows / groupedAttention. Registered only when the addon
 * build has them (an older build leaves the composite path).
 */
import type { NativeKernels } from "@crosscode/native"
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu"
import * as tf from "@tensorflow/tfjs-core"
import { FusedKernelNames } from "../decoder/fused.js"

interface Args {
  inputs: Record<string, tf.TensorInfo | undefined>
  backend: MathBackendCPU
  attrs?: Record<string, unknown>
}

const f32 = (backend: MathBackendCPU, t: tf.TensorInfo | undefined, what: string): Float32Array => {
  const v = t === undefined ? undefined : backend.data.get(t.dataId).values
  if (t === undefined || t.dtype !== "float32" || !(v instanceof Float32Array))
    throw new Error(`${what} must be a float32 tensor`)
  return v
}

const GATED: Record<string, number> = { silu: 0, geluTanh: 1 }

/** The bfloat16 bits of a packed `[out, in/2]` int32 weight (a view, no copy). */
const bf16Bits = (backend: MathBackendCPU, w: tf.TensorInfo | undefined): Uint16Array => {
  const v = w === undefined ? undefined : backend.data.get(w.dataId).values
  if (w === undefined || w.dtype !== "int32" || !(v instanceof Int32Array))
    throw new Error("a packed bfloat16 weight must be an int32 tensor")
  return new Uint16Array(v.buffer, v.byteOffset, v.length * 2)
}

type DecoderKernels = Pick<
  NativeKernels,
  "rmsNormRows" | "gatedActivation" | "ropeRows" | "groupedAttention" | "matmulBF16" | "bf16ToF32"
>

const hasDecoderKernels = (k: NativeKernels): boolean => {
  const d = k as Partial<DecoderKernels>
  return (
    typeof d.rmsNormRows === "function" &&
    typeof d.gatedActivation === "function" &&
    typeof d.ropeRows === "function" &&
    typeof d.groupedAttention === "function" &&
    typeof d.matmulBF16 === "function"
  )
}

/** Registers the fused decoder kernels for `backendName`; false when the addon predates them. */
export const registerNativeDecoderKernels = (k: NativeKernels, backendName: string): boolean => {
  if (!hasDecoderKernels(k)) return false
  const kernels: Record<string, (args: Args) => tf.TensorInfo> = {
    [FusedKernelNames.rmsNorm]: ({ inputs, backend, attrs }) => {
      const x = inputs.x!
      const cols = x.shape[x.shape.length - 1] ?? 1
      const w = f32(backend, inputs.w, "rmsNorm weight")
      if (w.length !== cols) throw new Error(`rmsNorm weight has ${w.length} entries, expected ${cols}`)
      const out = new Float32Array(tf.util.sizeFromShape(x.shape))
      if (out.length > 0)
        k.rmsNormRows(f32(backend, x, "rmsNorm input"), out.length / cols, cols, w, attrs!.eps as number, out)
      return backend.makeTensorInfo(x.shape, "float32", out)
    },
    [FusedKernelNames.gatedActivation]: ({ inputs, backend, attrs }) => {
      const gate = inputs.gate!
      const up = inputs.up!
      if (!tf.util.arraysEqual(gate.shape, up.shape))
        throw new Error(`gate [${gate.shape}] and up [${up.shape}] must have the same shape`)
      const kind = GATED[attrs!.activation as string]
      if (kind === undefined) throw new Error(`unknown gated activation ${String(attrs!.activation)}`)
      const out = new Float32Array(tf.util.sizeFromShape(gate.shape))
      k.gatedActivation(kind, f32(backend, gate, "gate"), f32(backend, up, "up"), out)
      return backend.makeTensorInfo(gate.shape, "float32", out)
    },
    [FusedKernelNames.rope]: ({ inputs, backend }) => {
      const x = inputs.x!
      const [B, T, n, D] = x.shape as [number, number, number, number]
      const out = new Float32Array(tf.util.sizeFromShape(x.shape))
      k.ropeRows(
        f32(backend, x, "rope input"),
        B * T,
        n,
        D,
        f32(backend, inputs.cos, "cos"),
        f32(backend, inputs.signedSin, "signedSin"),
        out
      )
      return backend.makeTensorInfo(x.shape, "float32", out)
    },
    [FusedKernelNames.groupedAttention]: ({ inputs, backend, attrs }) => {
      const q = inputs.q!
      const kk = inputs.k!
      const [B, T, nH, D] = q.shape as [number, number, number, number]
      const nKV = kk.shape[1]!
      const S = kk.shape[2]!
      const out = new Float32Array(tf.util.sizeFromShape(q.shape))
      k.groupedAttention(
        f32(backend, q, "q"),
        f32(backend, kk, "k"),
        f32(backend, inputs.v, "v"),
        f32(backend, inputs.bias, "attention bias"),
        B,
        T,
        S,
        nH,
        nKV,
        D,
        attrs!.scale as number,
        attrs!.softcap as number,
        out
      )
      return backend.makeTensorInfo(q.shape, "float32", out)
    },
    [FusedKernelNames.matMulBF16]: ({ inputs, backend }) => {
      const a = inputs.a!
      const w = inputs.w!
      const [M, K] = a.shape as [number, number]
      const N = w.shape[0]!
      if (w.shape[1]! * 2 !== K)
        throw new Error(`matMulBF16: x [${a.shape}] does not fit a weight of ${w.shape[1]! * 2} inputs`)
      const out = new Float32Array(M * N)
      k.matmulBF16(f32(backend, a, "x"), M, K, bf16Bits(backend, w), N, out)
      return backend.makeTensorInfo([M, N], "float32", out)
    },
    [FusedKernelNames.widenBF16]: ({ inputs, backend }) => {
      const w = inputs.w!
      const bits = bf16Bits(backend, w)
      const out = new Float32Array(bits.length)
      k.bf16ToF32(bits, out)
      return backend.makeTensorInfo([w.shape[0]!, w.shape[1]! * 2], "float32", out)
    }
  }
  const gatedMlp = k.gatedMlp?.bind(k)
  if (gatedMlp !== undefined)
    kernels[FusedKernelNames.gatedMlp] = ({ inputs, backend, attrs }) => {
      const x = inputs.x!
      const [M, H] = x.shape as [number, number]
      const [I, Hg] = inputs.wGate!.shape as [number, number]
      if (x.shape.length !== 2 || Hg !== H || !tf.util.arraysEqual(inputs.wUp!.shape, [I, H]))
        throw new Error(
          `gatedMlp: x [${x.shape}] does not fit gate/up weights [${inputs.wGate!.shape}]/[${inputs.wUp!.shape}]`
        )
      if (!tf.util.arraysEqual(inputs.wDown!.shape, [H, I]))
        throw new Error(`gatedMlp: the down weight [${inputs.wDown!.shape}] is not [${H}, ${I}]`)
      const kind = GATED[attrs!.activation as string]
      if (kind === undefined) throw new Error(`unknown gated activation ${String(attrs!.activation)}`)
      const out = new Float32Array(M * H)
      gatedMlp(
        kind,
        f32(backend, x, "x"),
        M,
        H,
        I,
        f32(backend, inputs.wGate, "gate weight"),
        f32(backend, inputs.wUp, "up weight"),
        f32(backend, inputs.wDown, "down weight"),
        out
      )
      return backend.makeTensorInfo([M, H], "float32", out)
    }
  for (const [kernelName, kernelFunc] of Object.entries(kernels))
    tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc })
  return true
}
