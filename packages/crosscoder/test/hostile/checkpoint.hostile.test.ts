/**
 * Hostile inputs for `loadCrosscoder`: every corruption of a saved checkpoint directory is a typed
 * error naming what is wrong (never a defect, never a crosscoder that loads with wrong numbers).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe } from "vitest"
import { type HostileCase, hostileCases } from "../../../../test-support/hostile.js"
import { CONFIG_FILE, checkpointTensors, MODEL_FILE } from "../../src/checkpoint/checkpoint.js"
import { writeSafetensors } from "../../src/checkpoint/safetensors.js"
import { type Crosscoder, type CrosscoderConfig, loadCrosscoder, saveCrosscoder, sourcesFor } from "../../src/index.js"
import { build, run, TestLayer } from "../helpers.js"

const root = mkdtempSync(path.join(tmpdir(), "crosscoder-hostile-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const valid = path.join(root, "valid")
let cc: Crosscoder

const config: CrosscoderConfig = {
  architecture: { sources: sourcesFor(["A", "B"]), dim: 4, features: 20 },
  sparsity: { kind: "batch-topk", k: 3 },
  partition: { kind: "dfc", counts: [2, 2] }
}

beforeAll(async () => {
  cc = await build(config, undefined, { seed: 3 })
  await run(saveCrosscoder(valid, cc))
})

let n = 0
const fresh = () => {
  const dir = path.join(root, `case-${n++}`)
  cpSync(valid, dir, { recursive: true })
  return dir
}
const editConfig = (patch: (c: Record<string, unknown>) => void) => (dir: string) => {
  const file = path.join(dir, CONFIG_FILE)
  const c = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>
  patch(c)
  writeFileSync(file, JSON.stringify(c))
}
/** Rewrites model.safetensors with the tensors of the valid checkpoint, edited. */
const editTensors =
  (edit: (t: Array<{ name: string; dtype: "F32"; shape: ReadonlyArray<number>; data: Float32Array }>) => void) =>
  async (dir: string) => {
    const tensors = checkpointTensors(cc).map((t) => ({
      name: t.name,
      dtype: "F32" as const,
      shape: [...t.shape],
      data: Float32Array.from(t.data as Float32Array)
    }))
    edit(tensors)
    await Effect.runPromise(writeSafetensors(path.join(dir, MODEL_FILE), tensors))
  }
const setValue = (name: string, index: number, value: number) =>
  editTensors((ts) => {
    ts.find((t) => t.name === name)!.data[index] = value
  })

const CE = "CheckpointError"
const cases: ReadonlyArray<HostileCase<string>> = [
  { name: "config.json missing", corrupt: (d) => rmSync(path.join(d, CONFIG_FILE)), expect: { tag: CE } },
  {
    name: "config.json not JSON",
    corrupt: (d) => writeFileSync(path.join(d, CONFIG_FILE), "{nope"),
    expect: { tag: CE, message: /config\.json/ }
  },
  { name: "config.json empty", corrupt: (d) => writeFileSync(path.join(d, CONFIG_FILE), ""), expect: { tag: CE } },
  { name: "config.json an array", corrupt: (d) => writeFileSync(path.join(d, CONFIG_FILE), "[]"), expect: { tag: CE } },
  {
    name: "config.json is a directory",
    corrupt: (d) => {
      rmSync(path.join(d, CONFIG_FILE))
      mkdirSync(path.join(d, CONFIG_FILE))
    },
    expect: { tag: CE }
  },
  {
    name: "wrong format",
    corrupt: editConfig((c) => {
      c.format = "something-else"
    }),
    expect: { tag: CE, message: /not a crosscoder config/ }
  },
  {
    name: "format version from the future",
    corrupt: editConfig((c) => {
      c.formatVersion = 99
    }),
    expect: { tag: CE, message: /newer/ }
  },
  {
    name: "features changed (shape mismatch)",
    corrupt: editConfig((c) => {
      ;(c.architecture as { features: number }).features = 24
    }),
    expect: { tag: CE, message: /shape/ }
  },
  {
    name: "dim a string",
    corrupt: editConfig((c) => {
      ;(c.architecture as { dim: unknown }).dim = "4"
    }),
    expect: { tag: CE, message: /not a crosscoder config/ }
  },
  {
    name: "no sources",
    corrupt: editConfig((c) => {
      ;(c.architecture as { sources: unknown }).sources = []
    }),
    expect: { tag: "CrosscoderConfigError", message: /sources/ }
  },
  {
    name: "partition counts edited (groups recorded)",
    corrupt: editConfig((c) => {
      c.partition = { kind: "dfc", counts: [4, 4] }
    }),
    expect: { tag: CE, message: /resolves to groups .* saved with/ }
  },
  {
    name: "partition counts edited, recorded groups removed",
    corrupt: editConfig((c) => {
      c.partition = { kind: "dfc", counts: [4, 4] }
      delete c.partitionGroups
    }),
    expect: { tag: CE, message: /forbids \d+ weights of W_enc that are not 0/ }
  },
  {
    name: "partition switched to fractions that no longer match",
    corrupt: editConfig((c) => {
      c.partition = { kind: "dfc", fractions: [0.25, 0.25] }
      delete c.partitionGroups
    }),
    expect: { tag: CE, message: /forbids/ }
  },
  {
    name: "unknown partition kind",
    corrupt: editConfig((c) => {
      c.partition = { kind: "mystery" }
    }),
    expect: { tag: "CrosscoderConfigError", message: /mystery/ }
  },
  {
    name: "unknown sparsity kind",
    corrupt: editConfig((c) => {
      c.sparsity = { kind: "mystery" }
    }),
    expect: { tag: "CrosscoderConfigError", message: /mystery/ }
  },
  {
    name: "normalization mode unknown",
    corrupt: editConfig((c) => {
      c.normalization = { mode: "whiten", count: 0 }
    }),
    expect: { tag: CE }
  },
  { name: "model.safetensors missing", corrupt: (d) => rmSync(path.join(d, MODEL_FILE)), expect: { tag: CE } },
  {
    name: "model.safetensors empty",
    corrupt: (d) => writeFileSync(path.join(d, MODEL_FILE), ""),
    expect: { tag: CE, message: /model\.safetensors/ }
  },
  {
    name: "model.safetensors truncated mid-data",
    corrupt: (d) => truncateSync(path.join(d, MODEL_FILE), 300),
    expect: { tag: CE }
  },
  {
    name: "model.safetensors header length beyond the file",
    corrupt: (d) => {
      const file = path.join(d, MODEL_FILE)
      const b = readFileSync(file)
      b.writeBigUInt64LE(10n ** 12n, 0)
      writeFileSync(file, b)
    },
    expect: { tag: CE }
  },
  {
    name: "model.safetensors header not JSON",
    corrupt: (d) => {
      const file = path.join(d, MODEL_FILE)
      const b = readFileSync(file)
      b.write("!!!!", 8)
      writeFileSync(file, b)
    },
    expect: { tag: CE }
  },
  {
    name: "W_enc missing",
    corrupt: editTensors((ts) => {
      ts.splice(
        ts.findIndex((t) => t.name === "W_enc"),
        1
      )
    }),
    expect: { tag: CE, message: /missing tensor W_enc/ }
  },
  {
    name: "W_dec with a wrong shape",
    corrupt: editTensors((ts) => {
      const t = ts.find((x) => x.name === "W_dec")!
      t.shape = [t.shape[0]! * t.shape[1]!, t.shape[2]!]
    }),
    expect: { tag: CE, message: /W_dec has shape/ }
  },
  { name: "W_dec holds a NaN", corrupt: setValue("W_dec", 5, Number.NaN), expect: { tag: CE, message: /W_dec.*NaN/ } },
  {
    name: "b_enc holds +Inf",
    corrupt: setValue("b_enc", 0, Number.POSITIVE_INFINITY),
    expect: { tag: CE, message: /b_enc.*\+Inf/ }
  },
  {
    name: "a forbidden decoder weight is non-zero",
    corrupt: setValue("W_dec", (0 * 2 + 1) * 4, 0.5), // feature 0 (A-exclusive), source B
    expect: { tag: CE, message: /forbids 1 weights of W_dec/ }
  },
  {
    name: "normalization divisor 0",
    corrupt: setValue("normalization.divisor", 2, 0),
    expect: { tag: CE, message: /normalization\.divisor\[2\] is 0/ }
  },
  {
    name: "normalization divisor negative",
    corrupt: setValue("normalization.divisor", 0, -1),
    expect: { tag: CE, message: /> 0/ }
  },
  {
    name: "normalization mean NaN",
    corrupt: setValue("normalization.mean", 1, Number.NaN),
    expect: { tag: CE, message: /normalization\.mean/ }
  },
  {
    name: "normalization divisor Inf",
    corrupt: setValue("normalization.divisor", 1, Number.POSITIVE_INFINITY),
    expect: { tag: CE, message: /normalization\.divisor/ }
  },
  {
    name: "unrelated config edit (trainedSteps) still loads",
    corrupt: editConfig((c) => {
      c.trainedSteps = 7
    }),
    expect: { ok: true, check: (x) => void ((x as Crosscoder).trainedSteps === 7 || assertFail()) }
  }
]

const assertFail = () => {
  throw new Error("trainedSteps not read back")
}

describe("hostile inputs: crosscoder checkpoints (loadCrosscoder)", () => {
  hostileCases<string, unknown>(cases, fresh, (dir) =>
    Effect.runPromiseExit(Effect.provide(loadCrosscoder(dir), TestLayer))
  )
})
