/**
 * `ActivationStore.concatStores`: a harvest split into text ranges (each its own store) and
 * concatenated equals the single harvest of the whole source byte for byte — every shard, text and
 * statistics file, and the manifest but for its timestamps — including when shards and batches
 * straddle the ranges, and when the concatenation is resumed after a crash.
 */
import { readdirSync, readFileSync, truncateSync } from "node:fs"
import * as path from "node:path"
import { blockOutput, type TensorBackendShape } from "@crosscode/core"
import { Effect, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  ActivationStore,
  fromSamples,
  harvest,
  makeTextSource,
  Policy,
  type PositionPolicy,
  type TextSourceShape
} from "../src/index.js"
import { makeFakeModel, makeFakeTokenizer } from "./fakeModel.js"
import { getTf, run, tempDir } from "./helpers.js"

let tf: TensorBackendShape["tf"]
const tmp = tempDir("concat")
beforeAll(async () => {
  tf = await getTf()
})
afterAll(() => tmp.cleanup())

const tok = makeFakeTokenizer()
const words = (i: number, n: number) => Array.from({ length: n }, (_, k) => `w${(i * 7 + k * 3) % 50}`).join(" ")
// two datasets interleaved, the second appearing first in the second range only
const source: TextSourceShape = fromSamples(
  "mixed",
  Array.from({ length: 37 }, (_, i) => ({
    text: words(i, 1 + ((i * 5) % 11)),
    dataset: i < 9 ? "web" : i % 3 === 0 ? "tool" : "web",
    id: `s${i}`
  }))
)
const range = (from: number, to: number): TextSourceShape =>
  makeTextSource(`${source.name}#[${from},${to})`, source.stream.pipe(Stream.drop(from), Stream.take(to - from)))

const filesOf = (dir: string) => readdirSync(dir).sort()
const manifestSansTime = (dir: string) => {
  const { createdAt: _c, updatedAt: _u, ...m } = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8"))
  return m
}
const expectSameStore = (a: string, b: string) => {
  expect(filesOf(b)).toEqual(filesOf(a))
  for (const f of filesOf(a)) {
    if (f === "manifest.json") continue
    expect(Buffer.compare(readFileSync(path.join(a, f)), readFileSync(path.join(b, f))), f).toBe(0)
  }
  expect(manifestSansTime(b)).toEqual(manifestSansTime(a))
}

const harvestInto = (dir: string, src: TextSourceShape, policy: PositionPolicy, batchSize: number, shardRows: number) =>
  run(
    harvest({
      models: [
        { label: "A", model: makeFakeModel(tf, { seed: 1, hiddenSize: 8 }) },
        { label: "B", model: makeFakeModel(tf, { seed: 2, hiddenSize: 8 }) }
      ],
      tokenizer: tok,
      sites: [blockOutput(1)],
      source: src,
      policy,
      store: { dir, shardRows, dtype: "f16" },
      batchSize,
      progress: { log: false }
    })
  )

describe("concatStores", () => {
  for (const [name, policy] of [
    ["lastToken", Policy.lastToken],
    ["allTokens", Policy.allTokens({ skipFirst: 1 })]
  ] as const) {
    it(`ranges of a ${name} harvest concatenate to the whole harvest's store, byte for byte`, async () => {
      const batchSize = 4
      const shardRows = 5
      const whole = path.join(tmp.dir, `${name}-whole`)
      await harvestInto(whole, source, policy, batchSize, shardRows)
      const bounds = [0, 8, 16, 32, 37]
      const parts = []
      for (let i = 0; i + 1 < bounds.length; i++) {
        const [from, to] = [bounds[i] as number, bounds[i + 1] as number]
        const dir = path.join(tmp.dir, `${name}-part-${from}`)
        // parts use their own shard size: the concatenation re-shards
        await harvestInto(dir, range(from, to), policy, batchSize, 3)
        parts.push({ dir, textOffset: from, batchSize })
      }
      const joined = path.join(tmp.dir, `${name}-joined`)
      const res = await run(ActivationStore.concatStores({ dir: joined, parts, shardRows, textSource: source.name }))
      expect(res.rows).toBeGreaterThan(37 - 1)
      expectSameStore(whole, joined)

      // a crash mid-way (a shard's file cut short): the next call drops it and continues
      const m = manifestSansTime(joined)
      truncateSync(path.join(joined, m.shards[2].activations.file), 10)
      const again = await run(ActivationStore.concatStores({ dir: joined, parts, shardRows, textSource: source.name }))
      expect(again.rowsAppended).toBe(res.rows - 2 * shardRows)
      expectSameStore(whole, joined)
      // complete: a further call appends nothing
      expect(
        (await run(ActivationStore.concatStores({ dir: joined, parts, shardRows, textSource: source.name })))
          .rowsAppended
      ).toBe(0)
    })
  }

  it("refuses a part whose offset is not on a batch boundary, and an incomplete part", async () => {
    const dir = path.join(tmp.dir, "odd")
    await harvestInto(dir, range(0, 6), Policy.lastToken, 4, 5)
    const bad = await run(
      ActivationStore.concatStores({
        dir: path.join(tmp.dir, "odd-joined"),
        parts: [{ dir, textOffset: 6, batchSize: 4 }],
        shardRows: 5,
        textSource: "x"
      }).pipe(Effect.flip)
    )
    expect(bad.message).toMatch(/not a multiple of the batch size/)
    const missing = await run(
      ActivationStore.concatStores({
        dir: path.join(tmp.dir, "odd-joined2"),
        parts: [{ dir: path.join(tmp.dir, "nowhere"), textOffset: 0, batchSize: 4 }],
        shardRows: 5,
        textSource: "x"
      }).pipe(Effect.flip)
    )
    expect(missing.message).toMatch(/no manifest/)
  })
})
