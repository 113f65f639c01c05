import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import {
  blockInput,
  blockOutput,
  type HookSite,
  type LanguageModelShape,
  Progress,
  type ProgressEvent,
  type TensorBackendShape
} from "@crosscode/core"
import { Effect, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  ActivationStore,
  fromSamples,
  fromTexts,
  type HarvestOptions,
  harvest,
  makeTextSource,
  Policy,
  type TextSample,
  TextSourceError,
  type TextSourceShape
} from "../src/index.js"
import { fakeValue, makeFakeModel, makeFakeTokenizer } from "./fakeModel.js"
import { getTf, run, tempDir } from "./helpers.js"

let tf: TensorBackendShape["tf"]
const tmp = tempDir("harvest")
beforeAll(async () => {
  tf = await getTf()
})
afterAll(() => tmp.cleanup())

const H = 8
const words = (i: number, n: number) => Array.from({ length: n }, (_, k) => `w${(i * 7 + k * 3) % 50}`).join(" ")
const texts = (n: number, dataset = "web") =>
  fromTexts(
    dataset,
    Array.from({ length: n }, (_, i) => words(i, 1 + ((i * 5) % 11)))
  )
const tok = makeFakeTokenizer()
let counter = 0
const newDir = (name: string) => path.join(tmp.dir, `${name}-${counter++}`)
const quiet = { log: false } as const

const model = (seed: number, extra: Partial<Parameters<typeof makeFakeModel>[1]> = {}): LanguageModelShape =>
  makeFakeModel(tf, { seed, hiddenSize: H, ...extra })

const siteLayer = (s: HookSite) => (s.point === "block_output" ? s.layer : s.layer - 1)

/** Expected row of the store for (tokens, position): sources model-major, then site. */
const expectedRow = (
  seeds: ReadonlyArray<number>,
  sites: ReadonlyArray<HookSite>,
  tokens: ReadonlyArray<number>,
  p: number
) => {
  const out: Array<number> = []
  for (const seed of seeds)
    for (const s of sites) for (let j = 0; j < H; j++) out.push(fakeValue(seed, siteLayer(s), tokens, p, j))
  return Float32Array.from(out)
}

const readAll = async (dir: string) => {
  const store = await run(ActivationStore.open(dir))
  const data = await run(store.rowRange(0, store.rows))
  const meta = await run(
    Effect.forEach(
      Array.from({ length: store.rows }, (_, i) => i),
      (i) => store.rowText(i)
    )
  )
  return { store, data, meta }
}

describe("harvest: positions", () => {
  for (const padding of ["left", "right"] as const) {
    it(`lastToken reads the last real token under ${padding} padding (checked against each sequence run alone)`, async () => {
      const m = model(1)
      const dir = newDir(`last-${padding}`)
      const src = texts(13)
      const res = await run(
        harvest({
          models: [{ label: "A", model: m }],
          tokenizer: tok,
          sites: [blockOutput(2)],
          source: src,
          store: { dir, shardRows: 5 },
          batchSize: 4,
          padding,
          progress: quiet
        })
      )
      expect(res.rows).toBe(13)
      expect(res.shards).toBe(3)
      expect(res.stopReason).toBe("sourceExhausted")
      const { store, data, meta } = await readAll(dir)
      expect(store.sources).toEqual([{ model: "A", site: "block_output.2" }])
      const samples = await run(Stream.runCollect(src.stream))
      for (let i = 0; i < 13; i++) {
        const ids = tok.encode((samples[i] as TextSample).text)
        const [solo] = await run(m.forward({ inputIds: [ids], hiddenStates: true, stopAtLayer: 2 }))
        const hs = solo?.hiddenStates?.[3] as Float32Array
        const want = hs.subarray((ids.length - 1) * H, ids.length * H)
        expect(data.subarray(i * H, (i + 1) * H)).toEqual(want)
        expect(meta[i]?.position).toBe(ids.length - 1)
        expect(meta[i]?.tokenIds).toEqual(ids)
        expect(meta[i]?.text).toBe(samples[i]?.text)
      }
    })
  }

  it("the reference's attention_mask.sum(1) - 1 index is wrong under left padding (documented bug)", async () => {
    // What the reference computes, on the padded batch our fake model builds:
    const m = model(1)
    const seqs = [tok.encode("a b c d e"), tok.encode("f g")]
    let atSumMinusOne: Float32Array | undefined
    await run(
      m.forward({
        inputIds: seqs,
        padding: "left",
        stopAtLayer: 0,
        hooks: [
          {
            site: blockOutput(0),
            when: "prefill",
            run: (h, ctx) => {
              let sum = 0
              for (let t = 0; t < ctx.seqLen; t++) sum += ctx.attentionMask[ctx.seqLen + t] as number
              atSumMinusOne = Float32Array.from(h.slice([1, sum - 1, 0], [1, 1, H]).dataSync())
              return undefined
            }
          }
        ]
      })
    )
    expect(atSumMinusOne?.[0]).toBe(1e4) // a pad position
  })

  it("two models × three sites, allTokens: every row is [model-major sources] at the right position", async () => {
    const sites = [blockOutput(1), blockInput(2), blockOutput(3)]
    const dir = newDir("multi")
    const calls = { n: 0 }
    await run(
      harvest({
        models: [
          { label: "A", model: model(11, { calls }) },
          { label: "B", model: model(22) }
        ],
        tokenizer: tok,
        sites,
        source: texts(9),
        policy: Policy.allTokens(),
        store: { dir, shardRows: 7, dtype: "f32" },
        batchSize: 3,
        padding: "left",
        progress: quiet
      })
    )
    expect(calls.n).toBe(3)
    const { store, data, meta } = await readAll(dir)
    expect(store.sources.map((s) => `${s.model}/${s.site}`)).toEqual([
      "A/block_output.1",
      "A/block_input.2",
      "A/block_output.3",
      "B/block_output.1",
      "B/block_input.2",
      "B/block_output.3"
    ])
    const samples = await run(Stream.runCollect(texts(9).stream))
    const totalTokens = samples.reduce((a, s) => a + tok.encode(s.text).length, 0)
    expect(store.rows).toBe(totalTokens)
    const w = 6 * H
    for (let r = 0; r < store.rows; r++) {
      const mt = meta[r] as { tokenIds?: ReadonlyArray<number>; position?: number }
      expect(data.subarray(r * w, (r + 1) * w)).toEqual(
        expectedRow([11, 22], sites, mt.tokenIds ?? [], mt.position ?? -1)
      )
    }
  })

  it("allTokens filters: BOS/special tokens, first n, explicit ids", async () => {
    const bosTok = makeFakeTokenizer(1000, true)
    const dir = newDir("filters")
    const src = fromTexts("d", ["w1 w2 w3 w4 w5", "w6 w7"])
    const skipId = bosTok.encode("w4", { addSpecialTokens: false })[0] as number
    await run(
      harvest({
        models: [{ label: "A", model: model(3) }],
        tokenizer: bosTok,
        sites: [blockOutput(0)],
        source: src,
        policy: Policy.allTokens({ skipFirst: 2, skipTokenIds: [skipId] }),
        store: { dir },
        progress: quiet
      })
    )
    const { meta } = await readAll(dir)
    // text 0 = [BOS, w1..w5]: skip positions 0,1 (first 2) and w4 (position 4) → 2, 3, 5
    // text 1 = [BOS, w6, w7]: skip 0,1 → 2
    expect(meta.map((m) => [m.id, m.position])).toEqual([
      ["d:0", 2],
      ["d:0", 3],
      ["d:0", 5],
      ["d:1", 2]
    ])
  })

  it("norm-outlier filter (batch median, warm-up median, fixed median)", async () => {
    const huge = tok.encode("boom")[0] as number
    const src = fromTexts("d", ["a b boom c d", "e f g", "boom h i j", "k l m n o p"])
    const common = {
      models: [{ label: "A", model: model(4, { hugeToken: { id: huge, factor: 50 } }) }],
      tokenizer: tok,
      sites: [blockOutput(1)],
      source: src,
      batchSize: 2,
      progress: quiet
    }
    for (const median of ["batch", { warmupBatches: 1 }, { fixed: [2.5] }] as const) {
      const dir = newDir("norm")
      await run(
        harvest({ ...common, policy: Policy.allTokens({ normOutlier: { multiple: 5, median } }), store: { dir } })
      )
      const { store, meta } = await readAll(dir)
      expect(store.rows).toBe(18 - 2)
      for (const m of meta) expect(m.tokenIds?.[m.position ?? -1]).not.toBe(huge)
      if (typeof median === "object" && "warmupBatches" in median) expect(store.manifest.medianNorms?.length).toBe(1)
    }
  })
})

describe("harvest: store contents and statistics", () => {
  it("per-dataset and overall Welford statistics equal a two-pass computation over the stored (f16) rows", async () => {
    const dir = newDir("stats")
    const src = makeTextSource("two datasets", Stream.concat(texts(20, "web").stream, texts(15, "tool").stream))
    await run(
      harvest({
        models: [
          { label: "A", model: model(5) },
          { label: "B", model: model(6) }
        ],
        tokenizer: tok,
        sites: [blockOutput(1)],
        source: src,
        policy: Policy.allTokens(),
        store: { dir, shardRows: 13, dtype: "f16" },
        batchSize: 4,
        progress: quiet
      })
    )
    const { store, data } = await readAll(dir)
    expect(store.datasets).toEqual(["web", "tool"])
    const w = 2 * H
    const ds = new Int32Array(store.rows)
    for (let r = 0; r < store.rows; r++) ds[r] = (await run(store.rowText(r))).dataset === "web" ? 0 : 1
    const check = (stats: NonNullable<typeof store.normalization>, rows: Array<number>) => {
      expect(stats.count).toBe(rows.length)
      for (let j = 0; j < w; j++) {
        let mean = 0
        for (const r of rows) mean += data[r * w + j] as number
        mean /= rows.length
        let m2 = 0
        for (const r of rows) m2 += ((data[r * w + j] as number) - mean) ** 2
        expect(stats.mean[j]).toBeCloseTo(mean, 5)
        expect(stats.std[j]).toBeCloseTo(Math.max(Math.sqrt(m2 / (rows.length - 1)), 1e-6), 5)
      }
      for (let s = 0; s < 2; s++) {
        let tot = 0
        for (let d = 0; d < H; d++) {
          const j = s * H + d
          let mean = 0
          for (const r of rows) mean += data[r * w + j] as number
          mean /= rows.length
          for (const r of rows) tot += ((data[r * w + j] as number) - mean) ** 2
        }
        expect(stats.scale[s]).toBeCloseTo(Math.sqrt(tot / rows.length / H), 5)
      }
    }
    const all = Array.from({ length: store.rows }, (_, i) => i)
    check(store.normalization as NonNullable<typeof store.normalization>, all)
    check(
      store.normalizationByDataset[0] as NonNullable<typeof store.normalization>,
      all.filter((r) => ds[r] === 0)
    )
    check(
      store.normalizationByDataset[1] as NonNullable<typeof store.normalization>,
      all.filter((r) => ds[r] === 1)
    )
    // f16 storage: values are the rounded ones
    const f32 = await run(
      harvest({
        models: [
          { label: "A", model: model(5) },
          { label: "B", model: model(6) }
        ],
        tokenizer: tok,
        sites: [blockOutput(1)],
        source: src,
        policy: Policy.allTokens(),
        store: { dir: newDir("stats32"), shardRows: 13, dtype: "f32" },
        batchSize: 4,
        progress: quiet
      })
    )
    const raw = await run(Effect.flatMap(ActivationStore.open(f32.dir), (s) => s.rowRange(0, s.rows)))
    let maxRel = 0
    for (let i = 0; i < raw.length; i++)
      maxRel = Math.max(
        maxRel,
        Math.abs((raw[i] as number) - (data[i] as number)) / Math.max(1e-3, Math.abs(raw[i] as number))
      )
    expect(maxRel).toBeGreaterThan(0)
    expect(maxRel).toBeLessThan(2 ** -10)
  })

  it("maxRows stops; a later call with a larger maxRows continues; a finished store is left alone", async () => {
    const dir = newDir("maxrows")
    const opts: HarvestOptions = {
      models: [{ label: "A", model: model(7) }],
      tokenizer: tok,
      sites: [blockOutput(0)],
      source: texts(30),
      store: { dir, shardRows: 4 },
      batchSize: 3,
      progress: quiet
    }
    const a = await run(harvest({ ...opts, maxRows: 10 }))
    expect([a.rows, a.stopReason, a.complete]).toEqual([10, "maxRows", true])
    const b = await run(harvest({ ...opts, maxRows: 25 }))
    expect([b.rows, b.rowsThisRun, b.stopReason]).toEqual([25, 15, "maxRows"])
    const c = await run(harvest(opts))
    expect([c.rows, c.stopReason]).toEqual([30, "sourceExhausted"])
    const d = await run(harvest(opts))
    expect([d.rows, d.rowsThisRun]).toEqual([30, 0])
    const { meta } = await readAll(dir)
    expect(meta.map((m) => m.id)).toEqual(Array.from({ length: 30 }, (_, i) => `web:${i}`))
  })

  it("reports progress (rows, rows/s, ETA)", async () => {
    const seen: Array<{ rows: number; rate: number; eta: number | undefined }> = []
    await run(
      harvest({
        models: [{ label: "A", model: model(7) }],
        tokenizer: tok,
        sites: [blockOutput(0)],
        source: texts(12),
        store: { dir: newDir("progress") },
        batchSize: 4,
        maxRows: 10,
        progress: {
          intervalMs: 0,
          log: false,
          onProgress: (p) => seen.push({ rows: p.rows, rate: p.rowsPerSecond, eta: p.etaSeconds })
        }
      })
    )
    expect(seen.map((s) => s.rows)).toEqual([4, 8, 10, 10])
    for (const s of seen) {
      expect(s.rate).toBeGreaterThan(0)
      expect(s.eta).toBeGreaterThanOrEqual(0)
    }
  })

  it("draws one bar of rows on core's Progress service (every batch, finished at the end)", async () => {
    const events: Array<ProgressEvent> = []
    await run(
      harvest({
        models: [{ label: "A", model: model(7) }],
        tokenizer: tok,
        sites: [blockOutput(0)],
        source: texts(12),
        store: { dir: newDir("progress-bar") },
        batchSize: 4,
        progress: { log: false, label: "harvest test", expectedRows: 12 }
      }).pipe(Effect.provide(Progress.layerCollect(events)))
    )
    expect(events[0]).toEqual({ type: "start", label: "harvest test", total: 12, unit: "rows", initial: 0 })
    expect(events.filter((e) => e.type === "update").map((e) => (e.type === "update" ? e.done : -1))).toEqual([
      4, 8, 12, 12
    ])
    expect(events.at(-1)).toEqual({ type: "finish", label: "harvest test", done: 12, total: 12 })
  })

  it("storeText none / tokens", async () => {
    for (const storeText of ["none", "tokens"] as const) {
      const dir = newDir("storetext")
      await run(
        harvest({
          models: [{ label: "A", model: model(7) }],
          tokenizer: tok,
          sites: [blockOutput(0)],
          source: texts(3),
          store: { dir, storeText },
          progress: quiet
        })
      )
      const t = await run(Effect.flatMap(ActivationStore.open(dir), (s) => s.rowText(1)))
      expect(t.text).toBeUndefined()
      expect(t.tokenIds === undefined).toBe(storeText === "none")
      expect(t.dataset).toBe("web")
    }
  })

  it("pre-tokenized samples need no tokenizer", async () => {
    const dir = newDir("pretok")
    const src = fromSamples("ids", [
      { text: "", dataset: "x", id: "s0", tokenIds: [5, 6, 7] },
      { text: "", dataset: "x", id: "s1", tokenIds: [9] }
    ])
    const r = await run(
      harvest({
        models: [{ label: "A", model: model(8) }],
        sites: [blockOutput(1)],
        source: src,
        store: { dir },
        progress: quiet
      })
    )
    expect(r.rows).toBe(2)
    const row = await run(Effect.flatMap(ActivationStore.open(dir), (s) => s.row(0)))
    expect(row).toEqual(expectedRow([8], [blockOutput(1)], [5, 6, 7], 2))
  })
})

describe("harvest: errors name the problem", () => {
  const fails = async (opts: HarvestOptions, text: string) => {
    const exit = await Effect.runPromiseExit(harvest(opts))
    expect(exit._tag).toBe("Failure")
    expect(JSON.stringify(exit)).toContain(text)
  }
  const base = (): HarvestOptions => ({
    models: [{ label: "A", model: model(1) }],
    tokenizer: tok,
    sites: [blockOutput(1)],
    source: texts(5),
    store: { dir: newDir("err") },
    progress: quiet
  })
  it("hidden sizes disagree", () =>
    fails(
      {
        ...base(),
        models: [
          { label: "A", model: model(1) },
          { label: "B", model: makeFakeModel(tf, { seed: 2, hiddenSize: 4 }) }
        ]
      },
      "disagree on hidden size"
    ))
  it("site outside the model", () => fails({ ...base(), sites: [blockOutput(9)] }, "outside model A"))
  it("duplicate labels", () =>
    fails(
      {
        ...base(),
        models: [
          { label: "A", model: model(1) },
          { label: "A", model: model(2) }
        ]
      },
      "unique"
    ))
  it("non-finite activation names the text", () => {
    const nan = tok.encode("w7")[0] as number
    return fails(
      { ...base(), models: [{ label: "A", model: model(1, { nanToken: nan }) }], policy: Policy.allTokens() },
      "non-finite activation NaN from model A at block_output.1 for text web:1 (#1), token 0"
    )
  })
  it("f16 overflow", () =>
    fails(
      {
        ...base(),
        models: [{ label: "A", model: model(1, { hugeToken: { id: tok.encode("w0")[0] as number, factor: 1e6 } }) }],
        policy: Policy.allTokens(),
        store: { dir: newDir("f16"), dtype: "f16" }
      },
      "overflows f16"
    ))
  it("resuming with different settings is refused", async () => {
    const opts = base()
    await run(harvest({ ...opts, maxRows: 2 }))
    await fails({ ...opts, sites: [blockOutput(2)] }, "harvested with different settings")
    await fails({ ...opts, source: texts(6) }, "textSource")
  })
})

describe("harvest: crash and resume", () => {
  /** A source with the same name that dies after `n` samples (a crash mid-harvest). */
  const dying = (src: TextSourceShape, n: number): TextSourceShape =>
    makeTextSource(
      src.name,
      src.stream.pipe(
        Stream.zipWithIndex,
        Stream.mapEffect(([s, i]) =>
          i < n ? Effect.succeed(s) : Effect.fail(new TextSourceError({ source: src.name, message: "simulated crash" }))
        )
      )
    )
  const opts = (dir: string, source: TextSourceShape): HarvestOptions => ({
    models: [
      { label: "A", model: model(31) },
      { label: "B", model: model(32) }
    ],
    tokenizer: tok,
    sites: [blockOutput(1)],
    source,
    policy: Policy.allTokens(),
    store: { dir, shardRows: 16 },
    batchSize: 4,
    progress: quiet
  })
  let reference: Awaited<ReturnType<typeof readAll>>
  beforeAll(async () => {
    const dir = newDir("ref")
    await run(harvest(opts(dir, texts(40))))
    reference = await readAll(dir)
  })
  const expectSameAsReference = async (dir: string) => {
    const got = await readAll(dir)
    expect(got.store.rows).toBe(reference.store.rows)
    expect(got.meta.map((m) => `${m.id}@${m.position}`)).toEqual(reference.meta.map((m) => `${m.id}@${m.position}`))
    expect(got.data).toEqual(reference.data)
    expect(got.store.normalization?.mean).toEqual(reference.store.normalization?.mean)
    expect(got.store.manifest.complete).toBe(true)
    await run(got.store.verify)
  }

  it("an interrupted harvest continues where it stopped, losing and duplicating nothing", async () => {
    const dir = newDir("crash")
    const exit = await Effect.runPromiseExit(harvest(opts(dir, dying(texts(40), 23))))
    expect(JSON.stringify(exit)).toContain("simulated crash")
    const m1 = (await run(ActivationStore.open(dir))).manifest
    expect(m1.shards.length).toBeGreaterThan(0)
    expect(m1.complete).toBe(false)
    // the crash point falls inside a text: rows of that text were split between the committed shard and the rest
    const cut = m1.shards[m1.shards.length - 1]?.next as { text: number; afterPosition: number }
    const rowsOfCutText = reference.meta.filter((m) => m.id === `web:${cut.text}`).map((m) => m.position as number)
    expect(rowsOfCutText.some((p) => p > cut.afterPosition)).toBe(true)
    // debris a crash could leave: a half-written tmp file and a shard file the manifest never listed
    writeFileSync(path.join(dir, "shard-000099.safetensors.tmp"), "partial")
    writeFileSync(
      path.join(dir, `shard-${String(m1.shards.length).padStart(6, "0")}.safetensors`),
      "orphan written before the manifest"
    )
    const r = await run(harvest(opts(dir, texts(40))))
    expect(r.resumed?.rows).toBe(m1.rows)
    expect(r.rows).toBe(reference.store.rows)
    expect(readdirSync(dir).some((f) => f.endsWith(".tmp"))).toBe(false)
    await expectSameAsReference(dir)
  })

  it("a corrupted shard is detected on resume and rewritten from the resume point", async () => {
    const dir = newDir("corrupt")
    await Effect.runPromiseExit(harvest(opts(dir, dying(texts(40), 30))))
    const m1 = (await run(ActivationStore.open(dir))).manifest
    expect(m1.shards.length).toBeGreaterThanOrEqual(3)
    const f = path.join(dir, m1.shards[1]?.activations.file as string)
    const bytes = readFileSync(f)
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0xff
    writeFileSync(f, bytes)
    const r = await run(harvest(opts(dir, texts(40))))
    expect(r.resumed?.dropped.map((d) => d.index)).toEqual(m1.shards.slice(1).map((s) => s.index))
    expect(r.resumed?.dropped[0]?.reason).toContain("sha256")
    expect(r.resumed?.rows).toBe(16)
    await expectSameAsReference(dir)
  })

  it("a truncated (partial) last shard is detected on resume and rewritten", async () => {
    const dir = newDir("partial")
    await Effect.runPromiseExit(harvest(opts(dir, dying(texts(40), 30))))
    const m1 = (await run(ActivationStore.open(dir))).manifest
    const last = m1.shards[m1.shards.length - 1]
    const f = path.join(dir, last?.activations.file as string)
    writeFileSync(f, readFileSync(f).subarray(0, 100))
    await expectSameAsReference((await run(harvest(opts(dir, texts(40))))).dir)
  })

  it("readers never read a corrupt shard silently", async () => {
    const dir = newDir("reader-corrupt")
    await run(harvest(opts(dir, texts(40))))
    const store = await run(ActivationStore.open(dir))
    const f = path.join(dir, store.manifest.shards[0]?.activations.file as string)
    const bytes = readFileSync(f)
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1
    writeFileSync(f, bytes)
    const reopened = await run(ActivationStore.open(dir)) // sizes still match
    for (const eff of [
      reopened.row(0),
      Stream.runDrain(reopened.batches({ batchSize: 8, seed: 1 })),
      reopened.verify,
      ActivationStore.open(dir, { verify: "full" })
    ] as const) {
      const exit = await Effect.runPromiseExit(eff as Effect.Effect<unknown, unknown>)
      expect(exit._tag).toBe("Failure")
      expect(JSON.stringify(exit)).toContain("sha256")
    }
    writeFileSync(f, bytes.subarray(0, 50))
    const exit = await Effect.runPromiseExit(ActivationStore.open(dir))
    expect(JSON.stringify(exit)).toContain("partial or corrupt")
    expect(existsSync(path.join(dir, "manifest.json"))).toBe(true)
  })
})
