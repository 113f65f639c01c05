import { ConfigProvider, Effect } from "effect"
import { describe, expect, it } from "vitest"
import { BackendError, backendSummary, TensorBackend } from "../src/index.js"

describe("TensorBackend", () => {
  it("initialises wasm when no native backend is installed and reports it", async () => {
    const backend = await Effect.runPromise(
      Effect.gen(function* () {
        return yield* TensorBackend
      }).pipe(Effect.provide(TensorBackend.layer))
    )
    expect(["wasm", "tensorflow", "tensorflow-gpu"]).toContain(backend.name)
    expect(backend.tf.getBackend()).toBe(backend.name === "wasm" ? "wasm" : "tensorflow")
    const y = backend.tf.tidy(() =>
      backend.tf
        .matMul(
          backend.tf.eye(2),
          backend.tf.tensor2d([
            [1, 2],
            [3, 4]
          ])
        )
        .arraySync()
    )
    expect(y).toEqual([
      [1, 2],
      [3, 4]
    ])
  })
})

describe("backendSummary", () => {
  it("names the backend and, off native TensorFlow, how to get a faster one", () => {
    expect(backendSummary({ name: "wasm" })).toMatch(
      /^TensorFlow\.js backend: wasm; for native speed use CROSSCODE_BACKEND=native .*@tensorflow\/tfjs-node@4\.22\.0 .*docs\/backends\.md$/
    )
    expect(backendSummary({ name: "tensorflow-gpu" })).toBe("TensorFlow.js backend: tensorflow-gpu")
    expect(backendSummary({ name: "native", detail: "x" })).toBe("TensorFlow.js backend: native (x)")
  })
})

describe("TensorBackend webgpu", () => {
  const withEnv = (env: Record<string, string>) =>
    Effect.runPromise(
      Effect.flip(
        Effect.gen(function* () {
          return yield* TensorBackend
        }).pipe(
          Effect.provide(TensorBackend.layer),
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))
        )
      )
    )

  it("CROSSCODE_BACKEND=webgpu where Dawn finds no adapter fails with a BackendError saying so", async () => {
    // No adapter has this name, on any machine (webgpu.test.ts covers the adapters that exist).
    const e = await withEnv({ CROSSCODE_BACKEND: "webgpu", CROSSCODE_WEBGPU_DAWN_FLAGS: "adapter=no-such-adapter" })
    expect(e).toBeInstanceOf(BackendError)
    expect((e as BackendError).requested).toBe("webgpu")
    // The packages are core's devDependencies (optional peers for users, who get "… is not installed").
    expect(e.message).toMatch(/^webgpu: .*(no adapter|no WebGPU adapter)|is not installed/)
    // The other backends still start afterwards.
    const wasm = await Effect.runPromise(
      Effect.gen(function* () {
        return yield* TensorBackend
      }).pipe(Effect.provide(TensorBackend.layerFor("wasm")))
    )
    expect(wasm.name).toBe("wasm")
  })

  it("rejects a bad CROSSCODE_WEBGPU_FEATURE_LEVEL", async () => {
    const e = await withEnv({ CROSSCODE_BACKEND: "webgpu", CROSSCODE_WEBGPU_FEATURE_LEVEL: "turbo" })
    expect(String(e)).toContain("CROSSCODE_WEBGPU_FEATURE_LEVEL")
  })
})

describe("vendored tfjs-core extras", () => {
  it("were generated from the installed tfjs-core, and register gradients and chained ops", async () => {
    const { readFileSync } = await import("node:fs")
    const { createRequire } = await import("node:module")
    const installed = createRequire(import.meta.url)("@tensorflow/tfjs-core/package.json").version as string
    const header = readFileSync(new URL("../vendor/tfjs-core-extras.js", import.meta.url), "utf8").split("\n")[0]
    expect(header).toContain(`@tensorflow/tfjs-core@${installed}`)
    const { tf } = await Effect.runPromise(
      Effect.gen(function* () {
        return yield* TensorBackend
      }).pipe(Effect.provide(TensorBackend.layerFor("wasm")))
    )
    const g = tf.tidy(() =>
      Array.from(
        tf
          .grad((x) => tf.sigmoid(x).sum())(tf.tensor1d([0]))
          .dataSync()
      )
    )
    expect(g).toHaveLength(1)
    expect(g[0]).toBeCloseTo(0.25, 6)
    expect(tf.tidy(() => tf.tensor1d([1, 2, 3, 4]).reshape([2, 2]).shape)).toEqual([2, 2])
  })
})
