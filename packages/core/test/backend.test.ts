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
      /^TensorFlow\.js backend: wasm; for native speed add @tensorflow\/tfjs-node@4\.22\.0 .*docs\/backends\.md$/
    )
    expect(backendSummary({ name: "tensorflow-gpu" })).toBe("TensorFlow.js backend: tensorflow-gpu")
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

  it("CROSSCODE_BACKEND=webgpu without its packages fails with a BackendError naming the missing package", async () => {
    const e = await withEnv({ CROSSCODE_BACKEND: "webgpu" })
    expect(e).toBeInstanceOf(BackendError)
    expect((e as BackendError).requested).toBe("webgpu")
    // Neither `webgpu` (Dawn for Node) nor @tensorflow/tfjs-backend-webgpu is a dependency.
    expect(e.message).toMatch(/webgpu: (webgpu|@tensorflow\/tfjs-backend-webgpu) is not installed/)
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
