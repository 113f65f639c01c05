/**
 * The harvest's split into text ranges (no database needed): range lengths start every range on a
 * batch boundary whatever batch size a runner uses, and a range source holds exactly its texts.
 * The distributed harvest itself is tested against PostgreSQL in cluster.test.ts.
 */
import { fromTexts } from "@crosscode/activations"
import { Effect, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { batchRanges } from "../src/cluster/cells.js"
import { rangeTexts, textRange } from "../src/cluster/harvestRanges.js"

describe("harvest ranges", () => {
  it("range lengths are multiples of 8 (the backends' default batch sizes 1 and 8) or of the recipe's batch size", () => {
    expect(rangeTexts(1024, undefined)).toBe(1024)
    expect(rangeTexts(100, undefined)).toBe(104)
    expect(rangeTexts(0, undefined)).toBe(8)
    // a recipe batch size of 3: multiples of lcm(3, 8) = 24
    expect(rangeTexts(100, 3)).toBe(120)
    expect(rangeTexts(100, 16)).toBe(112)
    for (const b of [1, 2, 3, 5, 8, 12]) {
      for (const [from] of batchRanges(1000, rangeTexts(70, b))) expect(from % b).toBe(0)
    }
  })

  it("a range source yields texts [from, to) of the whole source, under its own name", async () => {
    const all = fromTexts(
      "web",
      Array.from({ length: 10 }, (_, i) => `text ${i}`)
    )
    const r = textRange(all, 4, 7)
    expect(r.name).not.toBe(all.name)
    const texts = await Effect.runPromise(Stream.runCollect(Stream.map(r.stream, (s) => s.text)))
    expect([...texts]).toEqual(["text 4", "text 5", "text 6"])
  })
})
