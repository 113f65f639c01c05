/**
 * The `native` backend (@crosscode/native's BLAS/C kernels inside tfjs-backend-cpu) against the
 * pure-JS `cpu` backend, kernel by kernel: same shapes, values within float32 rounding. The
 * golden Qwen2 tests run on native too when .ci/run sets CROSSCODE_TEST_BACKEND=native.
 * Skipped, saying why, where the addon was not built.
 */
import { loadNativeKernels } from "@crosscode/native"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { activeNativeKernels, initTensorBackend, NATIVE_BACKEND } from "../src/index.js"

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
