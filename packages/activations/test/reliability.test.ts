/**
 * Issue 15 item 6: a harvest killed and resumed is bit-identical to an uninterrupted one at every
 * batch size. Real models' float results depend on the batch they run in (its padded length and
 * size change the kernels' summation order), so the fake model here adds a tiny batch-dependent
 * term: a resumed run that formed its batches from the resume point (not from absolute text
 * positions) would store different numbers.
 */
import * as path from "node:path"
import { blockOutput, type LanguageModelShape, type TensorBackendShape } from "@crosscode/core"
import { Effect, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  ActivationStore,
  fromTexts,
  type HarvestOptions,
  harvest,
  makeTextSource,
  Policy,
  TextSourceError,
  type TextSourceShape
} from "../src/index.js"
import { makeFakeModel, makeFakeTokenizer } from "./fakeModel.js"
import { getTf, run, tempDir } from "./helpers.js"

let tf: TensorBackendShape["tf"]
const tmp = tempDir("reliability")
beforeAll(async () => {
  tf = await getTf()
})
afterAll(() => tmp.cleanup())

const words = (i: number, n: number) => Array.from({ length: n }, (_, k) => `w${(i * 7 + k * 3) % 50}`).join(" ")
const texts = (n: number) =>
  fromTexts(
    "web",
    Array.from({ length: n }, (_, i) => words(i, 1 + ((i * 5) % 11)))
  )
const tok = makeFakeTokenizer()

/** A fake model whose activations shift with the batch's size and padded length, as float kernels do. */
const batchSensitive = (seed: number): LanguageModelShape => {
  const m = makeFakeModel(tf, { seed, hiddenSize: 8 })
  return {
    ...m,
    forward: (request) =>
      m.forward({
        ...request,
        hooks: request.hooks?.map((h) => ({
          ...h,
          run: (x: never, ctx: { batchSize: number; seqLen: number }) => {
            const shifted = tf.add(x, ctx.batchSize * 1e-3 + ctx.seqLen * 1e-4)
            try {
              return (h.run as (x: unknown, ctx: unknown) => unknown)(shifted, ctx)
            } finally {
              shifted.dispose()
            }
          }
        })) as never
      })
  }
}

/**
 * The same source, dying after `n` texts (a kill mid-harvest). `n` is a multiple of the batch size:
 * a failing source flushes its last partial group, which a SIGKILL would not.
 */
const dying = (src: TextSourceShape, n: number): TextSourceShape =>
  makeTextSource(
    src.name,
    src.stream.pipe(
      Stream.zipWithIndex,
      Stream.mapEffect(([s, i]) =>
        i < n ? Effect.succeed(s) : Effect.fail(new TextSourceError({ source: src.name, message: "killed" }))
      )
    )
  )

const options = (dir: string, source: TextSourceShape, batchSize: number): HarvestOptions => ({
  models: [
    { label: "A", model: batchSensitive(31) },
    { label: "B", model: batchSensitive(32) }
  ],
  tokenizer: tok,
  sites: [blockOutput(1)],
  source,
  policy: Policy.allTokens(),
  store: { dir, shardRows: batchSize === 128 ? 100 : 16 },
  batchSize,
  progress: { log: false }
})

const readAll = async (dir: string) => {
  const store = await run(ActivationStore.open(dir))
  return { rows: store.rows, data: await run(store.rowRange(0, store.rows)), stats: store.normalization }
}

describe("harvest resume is bit-identical (issue 15 item 6)", () => {
  for (const [batchSize, total, killAt] of [
    [1, 40, 23],
    [8, 40, 24],
    [128, 150, 128]
  ] as const) {
    it(`batch size ${batchSize}: killed after ${killAt} of ${total} texts, resumed`, async () => {
      const whole = path.join(tmp.dir, `whole-${batchSize}`)
      const killed = path.join(tmp.dir, `killed-${batchSize}`)
      await run(harvest(options(whole, texts(total), batchSize)))
      const exit = await Effect.runPromiseExit(harvest(options(killed, dying(texts(total), killAt), batchSize)))
      expect(exit._tag).toBe("Failure")
      const partial = await run(ActivationStore.open(killed))
      expect(partial.rows).toBeGreaterThan(0)
      await run(harvest(options(killed, texts(total), batchSize)))
      const a = await readAll(whole)
      const b = await readAll(killed)
      expect(b.rows).toBe(a.rows)
      expect(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength)).toEqual(
        Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)
      )
      expect(b.stats?.mean).toEqual(a.stats?.mean)
      expect(b.stats?.std).toEqual(a.stats?.std)
    }, 60_000)
  }
})
