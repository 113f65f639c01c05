/**
 * Issue 15 item 6: a harvest killed and resumed is bit-identical to an uninterrupted one at every
 * batch size. Real models' float results depend on the batch they run in (its padded length and
 * size change the kernels' summation order), so the fake model here adds a tiny batch-dependent
 * term: a resumed run that formed its batches from the resume point (not from absolute text
 * positions) would store different numbers.
 */
import { writeFileSync } from "node:fs"
import * as path from "node:path"
import { blockOutput, type LanguageModelShape, type TensorBackendShape } from "@crosscode/core"
import { Cause, Effect, Exit, Fiber, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  ActivationStore,
  cycleSource,
  fromTexts,
  type HarvestOptions,
  harvest,
  jsonlSource,
  makeTextSource,
  mixSources,
  Policy,
  TextSourceError,
  type TextSourceShape,
  takeSamples
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

/**
 * Issue 15 item 8: an interrupt (Ctrl-C, SIGTERM, a timeout) reaches the harvest loop at the next
 * batch, even when every step is synchronous (texts in memory, a model whose forward pass holds
 * the event loop). The interrupt is requested from inside model A's forward pass of batch k; it
 * can only be delivered once the fiber yields, so every forward pass after that one is work done
 * past the interrupt. The stopped store resumes to the same bytes.
 */
describe("harvest interruption (issue 15 item 8)", () => {
  const jsonl = (file: string, n: number) => {
    writeFileSync(
      file,
      `${Array.from({ length: n }, (_, i) => JSON.stringify({ text: words(i, 1 + ((i * 5) % 11)) })).join("\n")}\n`
    )
    return file
  }
  for (const kind of ["in-memory texts", "JSONL mix"] as const) {
    it(`${kind}: stops at the next batch and resumes byte-identically`, async () => {
      const total = 160
      const batchSize = 4
      const source = (): TextSourceShape =>
        kind === "in-memory texts"
          ? texts(total)
          : mixSources(
              [
                takeSamples(cycleSource(jsonlSource({ path: jsonl(path.join(tmp.dir, "a.jsonl"), 50) })), total / 2),
                takeSamples(cycleSource(jsonlSource({ path: jsonl(path.join(tmp.dir, "b.jsonl"), 30) })), total / 2)
              ],
              { seed: 3, cycle: false }
            )
      const slug = kind.replace(/\W+/g, "-")
      const whole = path.join(tmp.dir, `intr-whole-${slug}`)
      const stopped = path.join(tmp.dir, `intr-stopped-${slug}`)
      await run(harvest(options(whole, source(), batchSize)))

      const calls = { n: 0 }
      let atInterrupt = -1
      let fiber: Fiber.Fiber<unknown, unknown> | undefined
      const interrupting = (m: LanguageModelShape): LanguageModelShape => ({
        ...m,
        forward: (request) =>
          Effect.suspend(() => {
            calls.n++
            if (calls.n === 21) {
              atInterrupt = calls.n
              setTimeout(() => Effect.runFork(Fiber.interrupt(fiber!)), 0)
            }
            return m.forward(request)
          })
      })
      const o = options(stopped, source(), batchSize)
      fiber = Effect.runFork(
        harvest({ ...o, models: o.models.map((hm) => ({ ...hm, model: interrupting(hm.model) })) })
      )
      const exit = await Effect.runPromise(Fiber.await(fiber))
      expect(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)).toBe(true)
      // Model B's pass of the same batch is the only one allowed after the interrupt.
      expect(calls.n - atInterrupt).toBeLessThanOrEqual(1)

      await run(harvest(options(stopped, source(), batchSize)))
      const a = await readAll(whole)
      const b = await readAll(stopped)
      expect(b.rows).toBe(a.rows)
      expect(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength)).toEqual(
        Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)
      )
    }, 60_000)
  }
})
