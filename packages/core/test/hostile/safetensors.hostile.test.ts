/**
 * Hostile inputs for the safetensors reader: every corruption of a file is a typed error naming
 * the file (and the tensor when one is at fault), never a defect or wrong data.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe } from "vitest"
import { type HostileCase, hostileCases } from "../../../../test-support/hostile.js"
import { readSafetensors, writeSafetensors } from "../../src/index.js"

const root = mkdtempSync(path.join(tmpdir(), "safetensors-hostile-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let valid: Buffer
beforeAll(async () => {
  const file = path.join(root, "valid.safetensors")
  await Effect.runPromise(
    writeSafetensors(file, [
      { name: "a", dtype: "F32", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      { name: "b", dtype: "I32", shape: [2], data: Int32Array.from([7, 8]) }
    ])
  )
  valid = readFileSync(file)
})

let n = 0
/** A fresh file per case; the case rewrites its bytes. */
const fresh = () => {
  const file = path.join(root, `case-${n++}.safetensors`)
  writeFileSync(file, valid)
  return file
}
const headerLength = () => Number(valid.readBigUInt64LE(0))
const header = () => JSON.parse(valid.subarray(8, 8 + headerLength()).toString("utf8")) as Record<string, unknown>
/** Replaces the JSON header (padded like the writer) and keeps the data bytes. */
const withHeader = (edit: (h: Record<string, any>) => unknown) => (file: string) => {
  const h = header()
  const out = edit(h) ?? h
  const text = Buffer.from(typeof out === "string" ? out : JSON.stringify(out))
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(text.length))
  writeFileSync(file, Buffer.concat([len, text, valid.subarray(8 + headerLength())]))
}
const bytes = (f: (b: Buffer) => Buffer) => (file: string) => writeFileSync(file, f(Buffer.from(valid)))

const cases: ReadonlyArray<HostileCase<string>> = [
  { name: "missing file", corrupt: (f) => rmSync(f), expect: { tag: "SafetensorsIOError" } },
  { name: "empty file", corrupt: bytes(() => Buffer.alloc(0)), expect: { tag: "SafetensorsTruncatedError" } },
  { name: "4 bytes", corrupt: bytes((b) => b.subarray(0, 4)), expect: { tag: "SafetensorsTruncatedError" } },
  {
    name: "header length 0",
    corrupt: bytes((b) => {
      b.writeBigUInt64LE(0n, 0)
      return b
    }),
    expect: { tag: "SafetensorsHeaderError" }
  },
  {
    name: "header length beyond the file",
    corrupt: bytes((b) => {
      b.writeBigUInt64LE(1n << 40n, 0)
      return b
    }),
    expect: { tag: "SafetensorsHeaderError", message: /exceeds/ }
  },
  {
    name: "header length 2^64-1",
    corrupt: bytes((b) => {
      b.writeBigUInt64LE((1n << 64n) - 1n, 0)
      return b
    }),
    expect: { tag: "SafetensorsHeaderError", message: /exceeds/ }
  },
  { name: "header not JSON", corrupt: withHeader(() => "{not json"), expect: { tag: "SafetensorsHeaderError" } },
  { name: "header a JSON array", corrupt: withHeader(() => "[]"), expect: { tag: "SafetensorsHeaderError" } },
  { name: "header a JSON string", corrupt: withHeader(() => '"x"'), expect: { tag: "SafetensorsHeaderError" } },
  { name: "header null", corrupt: withHeader(() => "null"), expect: { tag: "SafetensorsHeaderError" } },
  {
    name: "header with invalid UTF-8",
    corrupt: bytes((b) => {
      b[9] = 0xff
      return b
    }),
    expect: { tag: "SafetensorsHeaderError" }
  },
  {
    name: "tensor entry not an object",
    corrupt: withHeader((h) => {
      h.a = 5
    }),
    expect: { tag: "SafetensorsHeaderError", message: /\ba\b/ }
  },
  {
    name: "unknown dtype",
    corrupt: withHeader((h) => {
      h.a.dtype = "F128"
    }),
    expect: { tag: "SafetensorsDtypeError", message: /F128/ }
  },
  {
    name: "dtype missing",
    corrupt: withHeader((h) => {
      delete h.a.dtype
    }),
    expect: { tag: "SafetensorsHeaderError" }
  },
  {
    name: "shape with a negative dimension",
    corrupt: withHeader((h) => {
      h.a.shape = [-2, 3]
    }),
    expect: { tag: "SafetensorsHeaderError" }
  },
  {
    name: "shape with a fractional dimension",
    corrupt: withHeader((h) => {
      h.a.shape = [1.5, 4]
    }),
    expect: { tag: "SafetensorsHeaderError" }
  },
  {
    name: "shape a string",
    corrupt: withHeader((h) => {
      h.a.shape = "2x3"
    }),
    expect: { tag: "SafetensorsHeaderError" }
  },
  {
    name: "shape disagrees with the byte range",
    corrupt: withHeader((h) => {
      h.a.shape = [3, 3]
    }),
    expect: { tag: "SafetensorsShapeError", message: /"a"/ }
  },
  {
    name: "offsets reversed",
    corrupt: withHeader((h) => {
      h.a.data_offsets = [24, 0]
    }),
    expect: { tag: "SafetensorsHeaderError" }
  },
  {
    name: "offsets past the end of the data",
    corrupt: withHeader((h) => {
      h.b.data_offsets = [24, 4096]
      h.b.shape = [1018]
    }),
    expect: { tag: "SafetensorsTruncatedError" }
  },
  {
    name: "overlapping tensors",
    corrupt: withHeader((h) => {
      h.b.data_offsets = [16, 24]
    }),
    expect: { tag: "SafetensorsHeaderError" }
  },
  {
    name: "a gap between tensors",
    corrupt: withHeader((h) => {
      h.a.data_offsets = [0, 20]
      h.a.shape = [5]
    }),
    expect: { tag: "SafetensorsHeaderError" }
  },
  {
    name: "offsets missing",
    corrupt: withHeader((h) => {
      delete h.a.data_offsets
    }),
    expect: { tag: "SafetensorsHeaderError" }
  },
  {
    name: "__metadata__ not string-valued",
    corrupt: withHeader((h) => {
      h.__metadata__ = { format: 5 }
    }),
    expect: { tag: "SafetensorsHeaderError" }
  },
  {
    name: "data truncated",
    corrupt: bytes((b) => b.subarray(0, b.length - 4)),
    expect: { tag: "SafetensorsTruncatedError" }
  },
  {
    name: "trailing bytes that belong to no tensor",
    corrupt: bytes((b) => Buffer.concat([b, Buffer.alloc(16)])),
    expect: { tag: "SafetensorsHeaderError", message: /belong to no tensor/ }
  },
  {
    name: "a NaN in F32 data is read as NaN (checked by the model loader, not the file reader)",
    corrupt: bytes((b) => {
      b.writeFloatLE(Number.NaN, 8 + headerLength())
      return b
    }),
    expect: { ok: true }
  }
]

describe("hostile inputs: safetensors files (readSafetensors)", () => {
  hostileCases(cases, fresh, (file) => Effect.runPromiseExit(readSafetensors(file)))
})
