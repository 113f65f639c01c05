/**
 * The `native` backend (@crosscode/native's BLAS/C kernels inside tfjs-backend-cpu) against the
 * pure-JS `cpu` backend, kernel by kernel: same shapes, values within float32 rounding. The
 * golden Qwen2 tests run on native too when .ci/run sets CROSSCODE_TEST_BACKEND=native.
 * Skipped, saying why, where the addon was not built.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { loadNativeKernels } from "@crosscode/native"
import { NodeServices } from "@effect/platform-node"
import type { Tensor1D, Tensor2D } from "@tensorflow/tfjs-core"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { qwen2Arch } from "../src/config/qwen2Config.js"
import { groupedAttention } from "../src/decoder/attention.js"
import {
  FusedKernelNames,
  fusedGatedActivation,
  fusedGatedMlp,
  fusedGroupedAttention,
  fusedRmsNorm,
  matMulBF16
} from "../src/decoder/fused.js"
import { loadDecoderParams, paramTensors } from "../src/decoder/load.js"
import { geluTanh, linear, rmsNorm, silu } from "../src/decoder/ops.js"
import { applyRope } from "../src/decoder/rope.js"
import {
  activeNativeKernels,
  initTensorBackend,
  loadModel,
  makeQwen2Config,
  NATIVE_BACKEND,
  openCheckpoint,
  TensorBackend
} from "../src/index.js"
import { goldenDir, shared } from "./helpers.js"

const load = loadNativeKernels()
const skipMessage = load.ok ? "" : ` (skipped: @crosscode/native ${load.reason})`

/** Relative error max |a − b| / (|b| + 1e-6), NaN-aware. */
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(b[i]!)) {
      expect(Number.isNaN(a[i]!), `NaN at ${i}`).toBe(true)
      continue
    }
    m = Math.max(m, Math.abs(a[i]! - b[i]!) / (Math.abs(b[i]!) + 1e-6))
  }
  return m
}

describe.skipIf(!load.ok)(`native backend vs cpu${skipMessage}`, () => {
  const setup = async () => {
    const s = await Effect.runPromise(initTensorBackend("native"))
    expect(s.name).toBe("native")
    expect(s.detail).toMatch(/@crosscode\/native/)
    return s.tf
  }

  /** `f` on the cpu backend and on native with the same inputs (values generated on cpu). */
  const both = async (
    inputs: ReadonlyArray<{ shape: Array<number>; seed: number }>,
    f: (
      tf: Awaited<ReturnType<typeof setup>>,
      xs: Array<ReturnType<Awaited<ReturnType<typeof setup>>["tensor"]>>
    ) => unknown
  ) => {
    const tf = await setup()
    await tf.setBackend("cpu")
    const values = inputs.map(({ shape, seed }) => tf.randomNormal(shape, 0, 1, "float32", seed).dataSync().slice())
    const run = () => {
      const xs = inputs.map(({ shape }, i) => tf.tensor(values[i]!, shape))
      const out = f(tf, xs) as { shape: Array<number>; dataSync: () => ArrayLike<number> } | Array<never>
      const outs = Array.isArray(out) ? out : [out]
      return outs.map((o: { shape: Array<number>; dataSync: () => ArrayLike<number> }) => ({
        shape: o.shape,
        values: Array.from(o.dataSync())
      }))
    }
    const ref = run()
    await tf.setBackend(NATIVE_BACKEND)
    const got = run()
    expect(got.map((g) => g.shape)).toEqual(ref.map((r) => r.shape))
    return got.map((g, i) => relErr(g.values, ref[i]!.values))
  }

  it("matMul: transposes, batch and broadcast batch, a matrix-vector product", async () => {
    for (const [sa, sb, ta, tb] of [
      [[7, 5], [5, 3], false, false],
      [[5, 7], [5, 3], true, false],
      [[7, 5], [3, 5], false, true],
      [[5, 7], [3, 5], true, true],
      [[4, 7, 5], [4, 5, 3], false, false],
      [[4, 7, 5], [1, 5, 3], false, false],
      [[1, 7, 5], [4, 3, 5], false, true],
      [[1, 64], [96, 64], false, true]
    ] as const) {
      const [e] = await both(
        [
          { shape: [...sa], seed: 1 },
          { shape: [...sb], seed: 2 }
        ],
        (tf, [a, b]) => tf.matMul(a!, b!, ta, tb)
      )
      expect(e, `${sa} × ${sb} (${ta}, ${tb})`).toBeLessThan(1e-4)
    }
  })

  it("fused matMul with bias and relu / sigmoid / elu (in place and fallback paths)", async () => {
    for (const activation of ["linear", "relu", "sigmoid", "elu"] as const) {
      const [e] = await both(
        [
          { shape: [6, 8], seed: 3 },
          { shape: [8, 5], seed: 4 },
          { shape: [5], seed: 5 }
        ],
        (tf, [a, b, bias]) => tf.fused.matMul({ a: a!, b: b!, bias: bias!, activation })
      )
      expect(e, activation).toBeLessThan(1e-4)
    }
  })

  it("binary ops with broadcasting (≤ 3 collapsed dims natively, more through the cpu kernel)", async () => {
    const shapes: Array<[Array<number>, Array<number>]> = [
      [
        [4, 5, 6],
        [4, 5, 6]
      ],
      [[4, 5, 6], [6]],
      [
        [4, 5, 6],
        [4, 5, 1]
      ],
      [
        [4, 1, 6],
        [1, 5, 1]
      ],
      [[3], []],
      [
        [2, 3, 4, 5],
        [3, 1, 5]
      ],
      [
        [2, 1, 3, 1, 4],
        [1, 5, 1, 6, 1]
      ]
    ]
    for (const [sa, sb] of shapes) {
      for (const op of ["add", "sub", "mul", "div", "maximum", "minimum", "squaredDifference"] as const) {
        const [e] = await both(
          [
            { shape: sa, seed: 6 },
            { shape: sb, seed: 7 }
          ],
          (tf, [a, b]) => tf[op](a!, b!)
        )
        expect(e, `${op} ${sa} ${sb}`).toBeLessThan(1e-6)
      }
    }
  })

  it("unary ops", async () => {
    for (const op of ["relu", "exp", "sigmoid", "rsqrt", "square", "neg", "sqrt", "abs"] as const) {
      const [e] = await both([{ shape: [1000], seed: 8 }], (tf, [x]) => tf[op](x!))
      expect(e, op).toBeLessThan(1e-6)
    }
  })

  it("topk: same values and indices (ties by lower index), rows of any rank", async () => {
    const [ev, ei] = await both([{ shape: [3, 17, 50], seed: 9 }], (tf, [x]) => {
      const r = tf.topk(x!, 7)
      return [r.values, r.indices]
    })
    expect(ev).toBe(0)
    expect(ei).toBe(0)
    const tf = await setup()
    const r = tf.topk(tf.tensor2d([[1, 3, 3, 2, 5, 3]]), 4)
    expect(Array.from(r.values.dataSync())).toEqual([5, 3, 3, 3])
    expect(Array.from(r.indices.dataSync())).toEqual([4, 1, 2, 5])
  })

  it("transpose, slice, concat (float32 and int32), gather and softmax: equal to the cpu kernels", async () => {
    const [t4, t3] = await both([{ shape: [2, 3, 4, 5], seed: 10 }], (tf, [x]) => [
      tf.transpose(x!, [0, 2, 1, 3]),
      tf.transpose(x!, [3, 1, 0, 2])
    ])
    expect(t4).toBe(0)
    expect(t3).toBe(0)
    const sl = await both([{ shape: [2, 3, 4, 6], seed: 11 }], (tf, [x]) => [
      tf.slice(x!, [0, 0, 0, 3], [2, 3, 4, 3]),
      tf.slice(x!, [1, 1, 0, 0], [1, -1, 2, 4]),
      tf.slice(x!, [0, 0, 0, 0], [2, 3, 4, 0])
    ])
    expect(sl).toEqual([0, 0, 0])
    const cc = await both(
      [
        { shape: [2, 3, 4], seed: 12 },
        { shape: [2, 5, 4], seed: 13 }
      ],
      (tf, [a, b]) => [tf.concat([a!, b!], 1), tf.concat([b!, a!], -2), tf.concat([a!, a!], 0), tf.concat([a!, a!], 2)]
    )
    expect(cc).toEqual([0, 0, 0, 0])
    const [sm, smAxis] = await both([{ shape: [3, 5, 40], seed: 14 }], (tf, [x]) => [
      tf.softmax(tf.mul(x!, 4)),
      tf.softmax(tf.transpose(x!, [0, 2, 1]))
    ])
    expect(sm).toBeLessThan(1e-6)
    expect(smAxis).toBeLessThan(1e-6)
    const [g1, g2] = await both([{ shape: [7, 3, 4], seed: 15 }], (tf, [x]) => [
      tf.gather(x!, tf.tensor2d([6, 0, 6, 2], [2, 2], "int32")),
      tf.gather(x!, tf.tensor1d([2, 0], "int32"), 1)
    ])
    expect(g1).toBe(0)
    expect(g2).toBe(0)
    const tf = await setup()
    expect(() => tf.gather(tf.zeros([3, 2]), tf.tensor1d([3], "int32")).dataSync()).toThrow()
    const ints = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], "int32")
    expect(Array.from(tf.transpose(ints).dataSync())).toEqual([1, 4, 2, 5, 3, 6])
    expect(Array.from(tf.concat([ints, ints], 1).dataSync())).toEqual([1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6])
    expect(Array.from(tf.slice(ints, [0, 1], [2, 1]).dataSync())).toEqual([2, 5])
    const masked = tf.softmax(tf.tensor2d([[0, -1e9, 1, Number.NEGATIVE_INFINITY]]))
    const e = Math.exp(1)
    expect(Array.from(masked.dataSync()).map((v) => Number(v.toFixed(6)))).toEqual([
      Number((1 / (1 + e)).toFixed(6)),
      0,
      Number((e / (1 + e)).toFixed(6)),
      0
    ])
  })

  it("fused decoder kernels (RMSNorm, gated activations, RoPE) equal the composite ops on cpu", async () => {
    const [norm] = await both(
      [
        { shape: [3, 5, 16], seed: 11 },
        { shape: [16], seed: 12 }
      ],
      (_tf, [x, w]) => rmsNorm(x!, w! as never, 1e-6)
    )
    expect(norm).toBeLessThan(1e-5)
    for (const activation of ["silu", "geluTanh"] as const) {
      const [e] = await both(
        [
          { shape: [4, 33], seed: 13 },
          { shape: [4, 33], seed: 14 }
        ],
        (tf, [g, u]) =>
          fusedGatedActivation(g!, u!, activation) ?? tf.mul(activation === "silu" ? silu(g!) : geluTanh(g!), u!)
      )
      expect(e, activation).toBeLessThan(1e-5)
    }
    const [rope] = await both(
      [
        { shape: [2, 3, 4, 8], seed: 15 },
        { shape: [2, 3, 1, 8], seed: 16 },
        { shape: [2, 3, 1, 8], seed: 17 }
      ],
      (tf, [x, c, s]) => applyRope(tf as never, x! as never, c! as never, s! as never)
    )
    expect(rope).toBeLessThan(1e-5)
  })

  it("cast of int32 and bool to float32 holds a Float32Array (tfjs-backend-cpu shares the input's array)", async () => {
    const tf = await setup()
    await tf.setBackend(NATIVE_BACKEND)
    for (const x of [tf.tensor1d([3, -2, 7], "int32"), tf.tensor1d([1, 0, 1], "bool")]) {
      const y = tf.cast(x, "float32")
      const v = y.dataSync()
      expect(v, x.dtype).toBeInstanceOf(Float32Array)
      expect(Array.from(v)).toEqual(Array.from(x.dataSync()))
      // so the native kernels take it: a product with it equals the cpu one
      expect(Array.from(tf.matMul(tf.reshape(y, [1, 3]), tf.ones([3, 1])).dataSync())).toEqual([
        Array.from(x.dataSync()).reduce((a, b) => a + b, 0)
      ])
    }
    expect(tf.cast(tf.tensor1d([1.7, -2.2]), "int32").dataSync()).toEqual(Int32Array.of(1, -2))
  })

  it("fused gated MLP equals linear → activation → linear on cpu, and stands aside for biases or other layouts", async () => {
    for (const activation of ["silu", "geluTanh"] as const) {
      let fusedRuns = 0
      const [e] = await both(
        [
          { shape: [6, 16], seed: 21 },
          { shape: [40, 16], seed: 22 },
          { shape: [40, 16], seed: 23 },
          { shape: [16, 40], seed: 24 }
        ],
        (tf, [x, g, u, d]) => {
          const lin = (w: typeof g) => ({ w: w! as Tensor2D, layout: "outIn" as const })
          const fused = fusedGatedMlp(x! as Tensor2D, lin(g), lin(u), lin(d), activation)
          if (fused !== undefined) {
            fusedRuns++
            return fused
          }
          const act = tf.mul(
            activation === "silu" ? silu(linear(x! as Tensor2D, lin(g))) : geluTanh(linear(x! as Tensor2D, lin(g))),
            linear(x! as Tensor2D, lin(u))
          )
          return linear(act as Tensor2D, lin(d))
        }
      )
      expect(e, activation).toBeLessThan(1e-5)
      expect(fusedRuns, activation).toBe(1) // on native only
    }
    const tf = await setup()
    await tf.setBackend(NATIVE_BACKEND)
    const x = tf.ones([2, 4]) as Tensor2D
    const w = { w: tf.ones([3, 4]) as Tensor2D, layout: "outIn" as const }
    const down = { w: tf.ones([4, 3]) as Tensor2D, layout: "outIn" as const }
    expect(fusedGatedMlp(x, w, w, down, "silu")).toBeDefined()
    expect(fusedGatedMlp(x, { ...w, b: tf.ones([3]) as Tensor1D }, w, down, "silu")).toBeUndefined()
    expect(fusedGatedMlp(x, { ...w, layout: "inOut" }, w, down, "silu")).toBeUndefined()
    expect(() => fusedGatedMlp(x, w, w, { ...down, w: tf.ones([4, 2]) as Tensor2D }, "silu")).toThrow(
      /gatedMlp: the down weight \[4,2\] is not \[4, 3\]/
    )
  })

  it("fused grouped-query attention equals the composite (GQA, a KV cache, padding, soft-capping)", async () => {
    const [B, T, S, nH, nKV, D] = [2, 3, 5, 4, 2, 8]
    // key 0 of sequence 1 is padding; causal over the 2 cached + 3 new keys
    const bias = new Float32Array(B * T * S)
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++)
        for (let j = 0; j < S; j++) if (j > S - T + t || (b === 1 && j === 0)) bias[(b * T + t) * S + j] = -1e9
    let fusedRuns = 0
    for (const softcap of [undefined, 2]) {
      const [e] = await both(
        [
          { shape: [B, T, nH, D], seed: 21 },
          { shape: [B, nKV, S, D], seed: 22 },
          { shape: [B, nKV, S, D], seed: 23 }
        ],
        (tf, [q, k, v]) => {
          const bt = tf.tensor(bias, [B, 1, 1, T, S])
          const fused = fusedGroupedAttention(q! as never, k! as never, v! as never, bt, 0.3, softcap)
          if (fused !== undefined) {
            fusedRuns++
            return fused
          }
          const qh = tf.reshape(tf.transpose(q!, [0, 2, 1, 3]), [B, nKV, (nH / nKV) * T, D])
          const ctx = groupedAttention(qh as never, k! as never, v! as never, bt, {
            scale: 0.3,
            ...(softcap !== undefined ? { softcap } : {})
          })
          return tf.transpose(tf.reshape(ctx, [B, nH, T, D]), [0, 2, 1, 3])
        }
      )
      expect(e, `softcap ${softcap}`).toBeLessThan(1e-5)
    }
    expect(fusedRuns).toBe(2) // once per softcap, on native
  })

  it("fused decoder kernels are registered on native only and stand aside under a gradient tape", async () => {
    const tf = await setup()
    for (const name of Object.values(FusedKernelNames)) {
      expect(tf.getKernel(name, NATIVE_BACKEND), name).toBeDefined()
      expect(tf.getKernel(name, "cpu"), name).toBeUndefined()
    }
    // under tf.grad the composite ops run (the fused kernels have no gradients): same gradient as cpu
    const gradOn = async (backend: string) => {
      await tf.setBackend(backend)
      const w = tf.tensor1d([0.5, -1, 2, 0.25])
      const x = tf.tensor2d([1, 2, 3, 4, -1, 0.5, 2, 1], [2, 4])
      return Array.from(
        tf
          .grad((xx) => tf.sum(rmsNorm(xx, w, 1e-6)))(x)
          .dataSync()
      )
    }
    const x = tf.ones([2, 4])
    const w = tf.ones([4]) as never
    expect(fusedRmsNorm(x, w, 1e-6)).toBeDefined()
    tf.grad((xx) => {
      expect(fusedRmsNorm(xx, w, 1e-6)).toBeUndefined()
      return tf.sum(xx)
    })(x)
    const ref = await gradOn("cpu")
    const got = await gradOn(NATIVE_BACKEND)
    expect(relErr(got, ref)).toBeLessThan(1e-5)
  })

  it.skipIf(!shared)(
    "keeps a BF16 LM head compact, shared with the embeddings, with the float32 path's logits",
    async () => {
      const tf = await setup()
      const dir = goldenDir("qwen2-tiny-gqa-bf16")
      const config = await Effect.runPromise(
        makeQwen2Config(JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8")))
      )
      const params = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const { params } = yield* loadDecoderParams(yield* openCheckpoint(dir), qwen2Arch(config))
            return params
          })
        )
      )
      expect(params.lmHead?.layout).toBe("outInBF16")
      expect(params.lmHead?.w.dtype).toBe("int32")
      expect(params.lmHead?.w.shape).toEqual([config.vocab_size, config.hidden_size / 2])
      // one copy: the compact table is a view of the packed head's memory
      const bits = params.embed.kind === "compact" ? params.embed.data : undefined
      const packed = params.lmHead!.w.dataSync() as Int32Array
      expect(bits?.buffer).toBe(packed.buffer)
      for (const t of paramTensors(params)) t.dispose()
      const logitsOn = (backend: "native" | "cpu") =>
        Effect.runPromise(
          Effect.scoped(
            Effect.gen(function* () {
              const m = yield* loadModel(dir)
              const [r] = yield* m.forward({ inputIds: [[3, 99, 7, 250, 11]], logits: "all" })
              return r!.logits!
            })
          ).pipe(Effect.provide(Layer.merge(TensorBackend.layerFor(backend), NodeServices.layer)))
        )
      const ref = await logitsOn("cpu")
      const got = await logitsOn("native")
      expect(got.length).toBe(ref.length)
      let worst = 0
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!))
      expect(worst).toBeLessThan(1e-4) // the golden tests' logit tolerance
      await tf.setBackend(NATIVE_BACKEND)
    }
  )

  it.skipIf(!shared)("a NaN in a compact BF16 LM head is a ModelLoadError naming the weight and index", async () => {
    await setup()
    const src = goldenDir("qwen2-tiny-gqa-bf16")
    const dir = mkdtempSync(path.join(tmpdir(), "crosscode-bf16-nan-"))
    for (const f of readdirSync(src)) copyFileSync(path.join(src, f), path.join(dir, f))
    const file = path.join(dir, "model.safetensors")
    const bytes = readFileSync(file)
    const headerLength = Number(bytes.readBigUInt64LE(0))
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<
      string,
      { data_offsets: [number, number] }
    >
    const at = 8 + headerLength + header["model.embed_tokens.weight"]!.data_offsets[0] + 2 * 1001
    bytes.writeUInt16LE(0x7fc0, at) // a bfloat16 NaN at flat index 1001 (odd: the high half of an int32)
    writeFileSync(file, bytes)
    const err = await Effect.runPromise(
      Effect.scoped(Effect.flip(loadModel(dir))).pipe(
        Effect.provide(Layer.merge(TensorBackend.layerFor("native"), NodeServices.layer))
      )
    )
    expect(err).toMatchObject({ _tag: "ModelLoadError" })
    expect(err.message).toMatch(/model\.embed_tokens\.weight.*non-finite.*flat index 1001/)
    rmSync(dir, { recursive: true, force: true })
  })

  it("a packed bfloat16 product: the kernel, and under a tape the widened weight (gradient in x)", async () => {
    const tf = await setup()
    // W [3, 4] in bfloat16 bits, packed two per int32 (little-endian: element 2i in the low half)
    const w = [1, -2, 0.5, 4, 3, 0.25, -1, 2, -0.5, 1, 8, -4]
    const bits = Uint16Array.from(w, (v) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16)
    const packed = tf.tensor2d(new Int32Array(bits.buffer), [3, 2], "int32")
    const x = tf.tensor2d([1, 2, 3, 4, -1, 0, 1, 2], [2, 4])
    const want = [0, 1].map((r) =>
      [0, 1, 2].map((n) => [0, 1, 2, 3].reduce((a, k) => a + [1, 2, 3, 4, -1, 0, 1, 2][r * 4 + k]! * w[n * 4 + k]!, 0))
    )
    expect(Array.from(matMulBF16(x, packed).dataSync())).toEqual(want.flat())
    const dx = tf.grad((xx) => tf.sum(matMulBF16(xx as never, packed)))(x)
    // ∂Σ/∂x[r, k] = Σ_n W[n, k]
    const colSums = [0, 1, 2, 3].map((k) => w[k]! + w[4 + k]! + w[8 + k]!)
    expect(Array.from(dx.dataSync())).toEqual([...colSums, ...colSums])
    await tf.setBackend("cpu")
    expect(() => matMulBF16(x, packed)).toThrow(/cpu backend cannot multiply/)
    await tf.setBackend(NATIVE_BACKEND)
  })

  it("exposes its kernels only while it is the active backend", async () => {
    const tf = await setup()
    expect(activeNativeKernels()).toBeDefined()
    await tf.setBackend("cpu")
    expect(activeNativeKernels()).toBeUndefined()
    await tf.setBackend(NATIVE_BACKEND)
  })

  it("kernels refuse bad arguments with a RangeError naming them", () => {
    if (!load.ok) return
    const k = load.kernels
    expect(() =>
      k.gemmBatched(false, false, 1, 2, 2, 2, new Float32Array(3), 0, new Float32Array(4), 0, new Float32Array(4), 0)
    ).toThrow(/gemmBatched: A is shorter/)
    expect(() => k.topkRows(new Float32Array(4), 1, 4, 5, new Float32Array(5), new Int32Array(5))).toThrow(
      /k must be <= cols/
    )
    expect(() =>
      k.csrDecode(
        Int32Array.of(0, 1),
        Int32Array.of(9),
        Float32Array.of(1),
        new Float32Array(8),
        4,
        new Float32Array(4)
      )
    ).toThrow(/column index is outside Wd/)
  })
})
