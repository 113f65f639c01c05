/** Ranking through the models on the tiny model pair (the sweep over it is tested in @crosscode/study). */
import { sharedMissingMessage } from "@crosscode/core"
import type { Crosscoder } from "@crosscode/crosscoder"
import { Effect, type Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  codeAt,
  encodePromptSets,
  type FeatureRanking,
  type InterventionError,
  PairEncoder,
  rankPromptSets
} from "../src/index.js"
import { loadPair, longScope, maxAbsDiff, pairLayer, prompts, shared, tinyCrosscoder } from "./helpers.js"

describe.skipIf(shared === undefined)("ranking through the models", () => {
  if (shared === undefined) console.warn(sharedMissingMessage)
  const scope = longScope()
  let cc: Crosscoder
  let layer: Layer.Layer<PairEncoder, InterventionError>
  let ranking: FeatureRanking
  const evalPrompts = prompts(6, 6, 11)
  const generalPrompts = prompts(6, 6, 99)

  beforeAll(async () => {
    const pair = await scope.use(loadPair)
    cc = await scope.use(tinyCrosscoder({ seed: 3 }))
    layer = pairLayer(pair, cc)
    ranking = await scope.use(Effect.provide(rankPromptSets({ tool: evalPrompts, general: generalPrompts }), layer))
  })
  afterAll(() => scope.close())

  it("rankPromptSets encodes the pair at each prompt's last token (batched) and labels features by partition", async () => {
    const { batched, single } = await scope.use(
      Effect.provide(
        Effect.gen(function* () {
          const pe = yield* PairEncoder
          const batched = yield* encodePromptSets({ tool: evalPrompts, general: generalPrompts })
          const single = []
          for (const p of evalPrompts) single.push(yield* pe.encodePrompt(p, "last"))
          return { batched, single }
        }),
        layer
      )
    )
    expect(batched.tool.rows).toBe(6)
    single.forEach((enc, r) => {
      const row = batched.tool.data.subarray(r * cc.features, (r + 1) * cc.features)
      expect(
        maxAbsDiff(
          row,
          Float32Array.from({ length: cc.features }, (_, j) => codeAt(enc.codes, 0, j))
        )
      ).toBeLessThanOrEqual(1e-4)
    })
    expect(ranking.groups.map((g) => g.name)).toEqual(["exclusive:A", "exclusive:B", "shared"])
    expect(ranking.features[3]!.partition).toBe("exclusive:A")
    expect(ranking.features[9]!.partition).toBe("exclusive:B")
    expect(ranking.features[20]!.partition).toBe("shared")
    // The grid below is meaningful: each partition has tool-signed features.
    for (const g of ["exclusive:A", "exclusive:B", "shared"]) {
      expect(ranking.features.some((f) => f.partition === g && f.sign === "tool")).toBe(true)
    }
  })
})
