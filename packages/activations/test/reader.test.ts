import { blockOutput, type TensorBackendShape } from "@crosscode/core"
import { Effect, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type ActivationBatch,
  type ActivationSourceShape,
  ActivationStore,
  type BatchOptions,
  fromTexts,
  harvest,
  makeInMemorySource,
  makeTextSource,
  Policy
} from "../src/index.js"
import { planEpoch } from "../src/store/batches.js"
import { makeFakeModel, makeFakeTokenizer } from "./fakeModel.js"
import { getTf, run, tempDir } from "./helpers.js"

let tf: TensorBackendShape["tf"]
const tmp = tempDir("reader")
let store: ActivationStore.ActivationStoreShape
const H = 6
beforeAll(async () => {
  tf = await getTf()
  const tok = makeFakeTokenizer()
  const words = (i: number, n: number) => Array.from({ length: n }, (_, k) => `v${(i * 5 + k) % 40}`).join(" ")
  const a = fromTexts(
    "web",
    Array.from({ length: 30 }, (_, i) => words(i, 1 + (i % 7)))
  )
  const b = fromTexts(
    "tool",
    Array.from({ length: 20 }, (_, i) => words(i + 100, 2 + (i % 5)))
  )
  const r = await run(
    harvest({
      models: [
        { label: "A", model: makeFakeModel(tf, { seed: 1, hiddenSize: H }) },
        { label: "B", model: makeFakeModel(tf, { seed: 2, hiddenSize: H }) }
      ],
      tokenizer: tok,
      sites: [blockOutput(1)],
      source: makeTextSource("web+tool", Stream.concat(a.stream, b.stream)),
      policy: Policy.allTokens(),
      store: { dir: `${tmp.dir}/store`, shardRows: 23 },
      batchSize: 5,
      progress: { log: false }
    })
  )
  expect(r.rows).toBe(195)
  store = await run(ActivationStore.open(r.dir))
})
afterAll(() => tmp.cleanup())

const collect = (src: ActivationSourceShape, o: BatchOptions) => run(Stream.runCollect(src.batches(o)))
const ids = (bs: ReadonlyArray<ActivationBatch>) => bs.flatMap((b) => [...b.rowIds])

describe("reader: shuffling", () => {
  it("covers every row exactly once per epoch, in a different order each epoch; deterministic per seed", async () => {
    for (const shuffleBufferRows of [undefined, 10, 1]) {
      const o = {
        batchSize: 8,
        seed: 5,
        epochs: 3,
        dropLast: false,
        ...(shuffleBufferRows !== undefined ? { shuffleBufferRows } : {})
      }
      const bs = await collect(store, o)
      const all = ids(bs)
      expect(all.length).toBe(3 * 195)
      const epochs = [all.slice(0, 195), all.slice(195, 390), all.slice(390)]
      for (const e of epochs) expect([...e].sort((x, y) => x - y)).toEqual(Array.from({ length: 195 }, (_, i) => i))
      expect(epochs[0]).not.toEqual(epochs[1])
      expect(ids(await collect(store, o))).toEqual(all)
      expect(ids(await collect(store, { ...o, seed: 6 }))).not.toEqual(all)
    }
  })

  it("batch rows carry the right data and dataset ids", async () => {
    const bs = await collect(store, { batchSize: 16, seed: 1, dropLast: false })
    for (const b of bs) {
      expect(b.numSources).toBe(2)
      expect(b.dim).toBe(H)
      for (let i = 0; i < b.rows; i++) {
        const r = b.rowIds[i] as number
        expect(b.data.subarray(i * 2 * H, (i + 1) * 2 * H)).toEqual(await run(store.row(r)))
        expect(store.datasets[b.datasetIds[i] as number]).toBe((await run(store.rowText(r))).dataset)
      }
    }
  })

  it("chunk-aware: with a small buffer, rows come from few shards at a time", () => {
    const plan = planEpoch([10, 10, 10, 10], 3, 0, true, 5)
    const shardOf = (r: number) => Math.floor(r / 10)
    const first = [...plan.order.slice(0, 5)].map(shardOf)
    const firstTwo = new Set([plan.chunkOrder[0], plan.chunkOrder[1]])
    for (const s of first) expect(firstTwo.has(s)).toBe(true)
    expect(plan.maxLive).toBeLessThanOrEqual(15)
    const full = planEpoch([10, 10, 10, 10], 3, 0, true, 1000)
    expect(full.maxLive).toBe(40)
  })

  it("no shuffle: store order; dropLast drops the tail of each epoch", async () => {
    const bs = await collect(store, { batchSize: 50, seed: 0, shuffle: false, epochs: 2 })
    expect(bs.map((b) => b.rows)).toEqual([50, 50, 50, 50, 50, 50])
    expect([...(bs[0] as ActivationBatch).rowIds.slice(0, 3)]).toEqual([0, 1, 2])
    expect(bs.map((b) => b.cursor)).toEqual([
      { epoch: 0, offset: 50 },
      { epoch: 0, offset: 100 },
      { epoch: 1, offset: 0 },
      { epoch: 1, offset: 50 },
      { epoch: 1, offset: 100 },
      { epoch: 2, offset: 0 }
    ])
    const keep = await collect(store, { batchSize: 50, seed: 0, shuffle: false, dropLast: false })
    expect(keep.map((b) => b.rows)).toEqual([50, 50, 50, 45])
  })
})

describe("reader: random access", () => {
  it("row() agrees with rowRange() whether served from cache, a positional read or a fresh load", async () => {
    const all = await run(store.rowRange(0, store.rows))
    const small = await run(ActivationStore.open(store.path, { cacheShards: 1 }))
    const order = [5, 190, 3, 60, 61, 100, 4, 194, 0, 120, 30]
    for (let pass = 0; pass < 2; pass++) {
      for (const r of order) expect(await run(small.row(r))).toEqual(all.subarray(r * 2 * H, (r + 1) * 2 * H))
    }
    const exit = await Effect.runPromiseExit(small.row(195))
    expect(JSON.stringify(exit)).toContain("out of range")
  })
})

describe("reader: resume from a cursor", () => {
  it("reading N batches then resuming from the cursor yields exactly the remaining batches", async () => {
    const o = { batchSize: 7, seed: 9, epochs: 3, shuffleBufferRows: 30 }
    const full = await collect(store, o)
    for (const n of [1, 5, 24, 25, 26, 49]) {
      const head = await run(Stream.runCollect(store.batches(o).pipe(Stream.take(n))))
      const cursor = (head[head.length - 1] as ActivationBatch).cursor
      const rest = await collect(store, { ...o, from: cursor })
      expect(head.length + rest.length).toBe(full.length)
      expect(ids(rest)).toEqual(ids(full.slice(n)))
      expect(rest.map((b) => [...b.data.slice(0, 4)])).toEqual(full.slice(n).map((b) => [...b.data.slice(0, 4)]))
    }
  })

  it("infinite epochs can be taken from; an empty epoch with Infinity fails instead of hanging", async () => {
    const bs = await run(
      Stream.runCollect(
        store.batches({ batchSize: 100, seed: 1, epochs: Number.POSITIVE_INFINITY }).pipe(Stream.take(5))
      )
    )
    expect(bs.length).toBe(5)
    const exit = await Effect.runPromiseExit(
      Stream.runDrain(store.batches({ batchSize: 1000, seed: 1, epochs: Number.POSITIVE_INFINITY }))
    )
    expect(JSON.stringify(exit)).toContain("no batch fits")
  })
})

describe("reader: normalization on read", () => {
  const raw = () => run(store.rowRange(0, store.rows))
  it("zscore, scale and per-dataset zscore", async () => {
    const data = await raw()
    const w = 2 * H
    const stats = store.normalization
    if (stats === undefined) throw new Error("no stats")
    for (const [normalize, normalizeBy] of [
      ["zscore", "all"],
      ["scale", "all"],
      ["zscore", "dataset"]
    ] as const) {
      const bs = await collect(store, { batchSize: 10, seed: 2, normalize, normalizeBy, dropLast: false })
      for (const b of bs) {
        for (let i = 0; i < b.rows; i++) {
          const r = b.rowIds[i] as number
          const st = normalizeBy === "dataset" ? store.normalizationByDataset?.[b.datasetIds[i] as number] : stats
          if (st === undefined) throw new Error("no dataset stats")
          for (let j = 0; j < w; j++) {
            const x = data[r * w + j] as number
            const div = normalize === "zscore" ? (st.std[j] as number) : (st.scale[Math.floor(j / H)] as number)
            expect(b.data[i * w + j]).toBeCloseTo((x - (st.mean[j] as number)) / div, 4)
          }
        }
      }
    }
    // normalized data over the whole store has mean 0 and (sample) std 1 per dimension
    const z = (await collect(store, { batchSize: 195, seed: 2, normalize: "zscore" }))[0] as ActivationBatch
    for (let j = 0; j < w; j++) {
      let m = 0
      for (let i = 0; i < 195; i++) m += z.data[i * w + j] as number
      expect(m / 195).toBeCloseTo(0, 4)
      let v = 0
      for (let i = 0; i < 195; i++) v += ((z.data[i * w + j] as number) - m / 195) ** 2
      // Bessel's correction: the sum of squares over n − 1 is 1 (over n it would be 194/195)
      expect(v / 194).toBeCloseTo(1, 3)
    }
  })
})

describe("in-memory source", () => {
  it("batches exactly like the store for the same data and chunking", async () => {
    const data = await run(store.rowRange(0, store.rows))
    const dsIds = new Int32Array(store.rows)
    for (let r = 0; r < store.rows; r++) dsIds[r] = store.datasets.indexOf((await run(store.rowText(r))).dataset)
    const mem = await run(
      makeInMemorySource({ data, numSources: 2, dim: H, datasets: store.datasets, datasetIds: dsIds, chunkRows: 23 })
    )
    const o = { batchSize: 9, seed: 4, epochs: 2, normalize: "zscore" as const, shuffleBufferRows: 40 }
    const a = await collect(store, o)
    const b = await collect(mem, o)
    expect(ids(b)).toEqual(ids(a))
    for (let k = 0; k < a.length; k++) {
      const x = (a[k] as ActivationBatch).data
      const y = (b[k] as ActivationBatch).data
      for (let i = 0; i < x.length; i++) expect(y[i]).toBeCloseTo(x[i] as number, 4)
    }
    expect(mem.normalization?.count).toBe(store.rows)
  })

  it("rejects bad input with a typed error", async () => {
    const exit = await Effect.runPromiseExit(makeInMemorySource({ data: new Float32Array(7), numSources: 2, dim: 3 }))
    expect(JSON.stringify(exit)).toContain("not a multiple")
    const nan = await Effect.runPromiseExit(
      makeInMemorySource({ data: Float32Array.of(1, Number.NaN), numSources: 1, dim: 2 })
    )
    expect(JSON.stringify(nan)).toContain("non-finite")
  })
})
