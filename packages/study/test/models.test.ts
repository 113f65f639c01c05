/** The run's model cache: one load per model, partial loads for harvest-only runs, typed errors. */
import * as path from "node:path"
import { TensorBackend } from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Exit, type FileSystem, Layer, type Path, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import { StageError } from "../src/recipe/errors.js"
import { makeStudyModels, StudyModels } from "../src/recipe/models.js"

const modelsDir = path.resolve(import.meta.dirname, "../../../examples/models")
const dirs = { A: path.join(modelsDir, "embedded-tooluse"), B: path.join(modelsDir, "embedded-base") }

const run = <A, E>(e: Effect.Effect<A, E, TensorBackend | Scope.Scope | FileSystem.FileSystem | Path.Path>) =>
  Effect.runPromiseExit(
    e.pipe(Effect.scoped, Effect.provide(Layer.merge(TensorBackend.layerFor("wasm"), NodeServices.layer)))
  )

describe("StudyModels", () => {
  it("loads each model once; a harvest-only run gets blocks up to the site; a whole load serves later partial requests", async () => {
    let wholeLater = false
    const exit = await run(
      Effect.gen(function* () {
        const models = yield* makeStudyModels({ models: dirs, tokenizer: dirs.B, fullModelLater: () => wholeLater })
        const partA = yield* models.model("A", { upToLayer: 1 })
        const partA2 = yield* models.model("A", { upToLayer: 1 })
        wholeLater = true
        const partB = yield* models.model("B", { upToLayer: 1 })
        const wholeA = yield* models.model("A")
        const wholeA2 = yield* models.model("A", { upToLayer: 1 })
        const tok1 = yield* models.tokenizer
        const tok2 = yield* models.tokenizer
        return { partA, partA2, partB, wholeA, wholeA2, tok1, tok2, labels: models.labels }
      })
    )
    if (!Exit.isSuccess(exit)) throw new Error(String(exit.cause))
    const r = exit.value
    expect(r.labels).toEqual(["A", "B"])
    expect(r.partA.info.maxLayer).toBe(1)
    expect(r.partA2).toBe(r.partA)
    expect(r.partB.info.maxLayer).toBeUndefined() // a later stage needs B whole: loaded whole at once
    expect(r.wholeA.info.maxLayer).toBeUndefined()
    expect(r.wholeA2).toBe(r.wholeA)
    expect(r.tok2).toBe(r.tok1)
  })

  it("fails with a typed StageError naming the directory or the label", async () => {
    const missing = await run(
      Effect.flatMap(makeStudyModels({ models: { A: "/nonexistent/model" }, tokenizer: dirs.B }), (m) => m.model("A"))
    )
    expect(Exit.isFailure(missing)).toBe(true)
    if (Exit.isFailure(missing)) {
      const e = missing.cause.reasons.find((x) => x._tag === "Fail")
      const err = (e as { error: StageError }).error
      expect(err).toBeInstanceOf(StageError)
      expect([err.kind, err.path]).toEqual(["models", "/nonexistent/model"])
    }
    const unknown = await Effect.runPromiseExit(
      Effect.gen(function* () {
        const m = yield* StudyModels
        return yield* m.model("C")
      }).pipe(Effect.provide(StudyModels.layerInMemory({ models: {}, tokenizer: undefined as never })))
    )
    expect(Exit.isFailure(unknown) && String(unknown.cause)).toContain('no model labelled "C"')
  })
})
