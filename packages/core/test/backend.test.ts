import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { TensorBackend } from "../src/index.js"

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
