/**
 * Hostile activation stores: every corruption of a store directory is an `ActivationStoreError`
 * naming the file when the store is opened, verified or read — never a defect or wrong rows.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { blockOutput, type TensorBackendShape } from "@crosscode/core"
import { Effect } from "effect"
import { afterAll, beforeAll, describe } from "vitest"
import { type HostileCase, hostileCases } from "../../../../test-support/hostile.js"
import { ActivationStore, fromTexts, harvest, Policy } from "../../src/index.js"
import { makeFakeModel, makeFakeTokenizer } from "../fakeModel.js"
import { getTf, run, tempDir } from "../helpers.js"

let tf: TensorBackendShape["tf"]
const tmp = tempDir("store-hostile")
const valid = path.join(tmp.dir, "valid")
beforeAll(async () => {
  tf = await getTf()
  await run(
    harvest({
      models: [{ label: "A", model: makeFakeModel(tf, { seed: 1, hiddenSize: 8 }) }],
      tokenizer: makeFakeTokenizer(),
      sites: [blockOutput(1)],
      source: fromTexts(
        "web",
        Array.from({ length: 12 }, (_, i) => `w${i} w${i + 1} w${i + 2}`)
      ),
      policy: Policy.allTokens(),
      store: { dir: valid, shardRows: 8 },
      batchSize: 4,
      progress: { log: false }
    })
  )
})
afterAll(() => tmp.cleanup())

let n = 0
const fresh = () => {
  const dir = path.join(tmp.dir, `case-${n++}`)
  cpSync(valid, dir, { recursive: true })
  return dir
}
const manifest = (dir: string) => path.join(dir, "manifest.json")
const editManifest = (edit: (m: Record<string, any>) => void) => (dir: string) => {
  const m = JSON.parse(readFileSync(manifest(dir), "utf8")) as Record<string, any>
  edit(m)
  writeFileSync(manifest(dir), JSON.stringify(m))
}
const shard = (dir: string, i = 0) => path.join(dir, `shard-${String(i).padStart(6, "0")}.safetensors`)
const SE = "ActivationStoreError"

const cases: ReadonlyArray<HostileCase<string>> = [
  { name: "no manifest", corrupt: (d) => rmSync(manifest(d)), expect: { tag: SE, message: /manifest/ } },
  { name: "manifest not JSON", corrupt: (d) => writeFileSync(manifest(d), "{"), expect: { tag: SE } },
  { name: "manifest empty", corrupt: (d) => writeFileSync(manifest(d), ""), expect: { tag: SE } },
  {
    name: "manifest a directory",
    corrupt: (d) => {
      rmSync(manifest(d))
      mkdirSync(manifest(d))
    },
    expect: { tag: SE }
  },
  {
    name: "wrong format",
    corrupt: editManifest((m) => {
      m.format = "other/9"
    }),
    expect: { tag: SE }
  },
  {
    name: "rows negative",
    corrupt: editManifest((m) => {
      m.rows = -1
    }),
    expect: { tag: SE }
  },
  {
    name: "shards not an array",
    corrupt: editManifest((m) => {
      m.shards = {}
    }),
    expect: { tag: SE }
  },
  { name: "a shard file missing", corrupt: (d) => rmSync(shard(d, 1)), expect: { tag: SE, message: /shard-000001/ } },
  {
    name: "a shard truncated",
    corrupt: (d) => truncateSync(shard(d, 0), 40),
    expect: { tag: SE, message: /shard-000000/ }
  },
  {
    name: "a shard's bytes flipped (sha256 mismatch)",
    corrupt: (d) => {
      const b = readFileSync(shard(d, 0))
      b[b.length - 1] = (b[b.length - 1] as number) ^ 0xff
      writeFileSync(shard(d, 0), b)
    },
    expect: { tag: SE, message: /sha256|shard-000000/ }
  },
  { name: "a shard replaced by text", corrupt: (d) => writeFileSync(shard(d, 0), "hello"), expect: { tag: SE } },
  {
    name: "shard row counts that do not add up",
    corrupt: editManifest((m) => {
      m.shards[0].rows += 1
    }),
    expect: { tag: SE }
  }
]

describe("hostile inputs: activation stores (open, verify, read every row)", () => {
  hostileCases(cases, fresh, (dir) =>
    Effect.runPromiseExit(
      Effect.gen(function* () {
        const store = yield* ActivationStore.open(dir)
        yield* store.verify
        return yield* store.rowRange(0, store.rows)
      })
    )
  )
})
