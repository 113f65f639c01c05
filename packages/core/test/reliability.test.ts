/**
 * Issue 15 item 2: NaN/Inf never turns into a silent token. Logits with a non-finite value are a
 * typed error naming the step; a weight with one is a load error naming the weight.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import {
  blockOutput,
  loadModel,
  Positions,
  readSafetensors,
  replaceHook,
  sharedMissingMessage,
  writeSafetensors
} from "../src/index.js"
import { firstNonFinite } from "../src/util/finite.js"
import { failureOf, goldenDir, run, shared } from "./helpers.js"

const GQA = "qwen2-tiny-gqa"
const dirs: Array<string> = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe("firstNonFinite", () => {
  it("finds NaN, +Inf and -Inf in the range only", () => {
    const xs = Float32Array.from([1, 2, Number.NaN, 4, Number.POSITIVE_INFINITY])
    expect(firstNonFinite(xs)).toBe(2)
    expect(firstNonFinite(xs, 3, 1)).toBe(-1)
    expect(firstNonFinite(xs, 3, 2)).toBe(1)
    expect(firstNonFinite(Float32Array.from([0, -0, 3.4e38]))).toBe(-1)
    expect(firstNonFinite([Number.NEGATIVE_INFINITY])).toBe(0)
  })
})

describe.skipIf(!shared)(`non-finite logits and weights${shared ? "" : ` (${sharedMissingMessage})`}`, () => {
  const nanHook = (when: "prefill" | "decode") => ({
    ...replaceHook(blockOutput(1), Positions.all, (sel) => tf.fill(sel.shape, Number.NaN)),
    when
  })

  it("generate fails naming the step when a hook makes the logits NaN (prefill and decode)", async () => {
    for (const [when, step] of [
      ["prefill", 1],
      ["decode", 2]
    ] as const) {
      const e = await failureOf(
        Effect.gen(function* () {
          const lm = yield* loadModel(goldenDir(GQA))
          return yield* lm.generate({ prompts: [[5, 6, 7]], maxNewTokens: 4, hooks: [nanHook(when)] })
        })
      )
      expect(e._tag).toBe("ModelInputError")
      expect(e.message).toContain("non-finite logits")
      expect(e.message).toContain(`new token ${step} of prompt 0`)
    }
  })

  it("generate with one new token fails instead of decoding an empty answer", async () => {
    const e = await failureOf(
      Effect.gen(function* () {
        const lm = yield* loadModel(goldenDir(GQA))
        return yield* lm.generate({ prompts: [[5, 6, 7]], maxNewTokens: 1, hooks: [nanHook("prefill")] })
      })
    )
    expect(e.message).toContain("non-finite logits")
  })

  it("loading a checkpoint with a NaN or Inf weight is a ModelLoadError naming the weight", async () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const dir = mkdtempSync(path.join(tmpdir(), "crosscode-nonfinite-"))
      dirs.push(dir)
      for (const f of ["config.json", "generation_config.json"])
        copyFileSync(path.join(goldenDir(GQA), f), path.join(dir, f))
      const { tensors } = await Effect.runPromise(readSafetensors(path.join(goldenDir(GQA), "model.safetensors")))
      await Effect.runPromise(
        writeSafetensors(
          path.join(dir, "model.safetensors"),
          [...tensors.entries()].map(([name, t]) => {
            const data = Float32Array.from(t.data as ArrayLike<number>)
            if (name === "model.layers.1.mlp.up_proj.weight") data[7] = bad
            return { name, dtype: "F32" as const, shape: [...t.shape], data }
          }),
          { format: "pt" }
        )
      )
      const e = await failureOf(loadModel(dir))
      expect(e._tag).toBe("ModelLoadError")
      expect(e.message).toContain('weight "model.layers.1.mlp.up_proj.weight"')
      expect(e.message).toContain("first at flat index 7")
    }
  })

  it("a clean model still generates", async () => {
    const out = await run(
      Effect.gen(function* () {
        const lm = yield* loadModel(goldenDir(GQA))
        return yield* lm.generate({ prompts: [[5, 6, 7]], maxNewTokens: 3 })
      })
    )
    expect(out[0]!.tokens).toHaveLength(3)
  })
})
