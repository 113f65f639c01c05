import { createHash } from "node:crypto"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import {
  decodeBF16,
  decodeF16,
  decodeFloat32Into,
  encodeBF16,
  encodeF16,
  encodeSafetensors,
  floatToBF16Bits,
  floatToHalfBits,
  openCheckpoint,
  openSafetensors,
  parseSafetensors,
  readSafetensors,
  type SafetensorsError,
  safetensorsChunks,
  sharedMissingMessage,
  type TensorToWrite,
  writeSafetensors
} from "../src/index.js"
import { INDEX_FILE } from "../src/safetensors/checkpoint.js"
import { decodeFloat32 } from "../src/safetensors/dtypes.js"
import { ALL_GOLDEN_MODELS, goldenDir, readGolden, shared } from "./helpers.js"

const tmp = () => mkdtempSync(path.join(tmpdir(), "crosscode-st-"))
const runE = <A, E>(e: Effect.Effect<A, E, never>) => Effect.runPromise(e)
const flip = <A, E>(e: Effect.Effect<A, E, never>) => Effect.runPromise(Effect.flip(e))
const scoped = <A, E>(e: Effect.Effect<A, E, import("effect").Scope.Scope>) => Effect.runPromise(Effect.scoped(e))
const flipScoped = <A, E>(e: Effect.Effect<A, E, import("effect").Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(Effect.flip(e)))

/** Builds a raw file from a header object and a data buffer (for malformed-input tests). */
const rawFile = (header: unknown, data: Uint8Array, options: { headerText?: string; lengthOverride?: bigint } = {}) => {
  const text = options.headerText ?? JSON.stringify(header)
  const json = new TextEncoder().encode(text)
  const out = new Uint8Array(8 + json.length + data.length)
  new DataView(out.buffer).setBigUint64(0, options.lengthOverride ?? BigInt(json.length), true)
  out.set(json, 8)
  out.set(data, 8 + json.length)
  return out
}
const f32 = (n: number) => new Uint8Array(new Float32Array(n).fill(1.5).buffer)

describe("safetensors round trips", () => {
  const values = Float32Array.from([0, 1, -2.5, 3.140625, 65504, -1e-3, 1e-8, 7.2e-5])
  it("F32, F64, I32, I64, U8, I8 are exact; F16/BF16 round to nearest even", async () => {
    const tensors: Array<TensorToWrite> = [
      { name: "f32", dtype: "F32", shape: [2, 4], data: values },
      { name: "f64", dtype: "F64", shape: [3], data: [Math.PI, -1e300, 5e-324] },
      { name: "f16", dtype: "F16", shape: [8], data: values },
      { name: "bf16", dtype: "BF16", shape: [4, 2], data: values },
      { name: "i32", dtype: "I32", shape: [3], data: [-(2 ** 31), 0, 2 ** 31 - 1] },
      { name: "i64", dtype: "I64", shape: [3], data: BigInt64Array.from([-(2n ** 63n), 0n, 2n ** 63n - 1n]) },
      { name: "i64n", dtype: "I64", shape: [2], data: [Number.MAX_SAFE_INTEGER, -5] },
      { name: "u8", dtype: "U8", shape: [2], data: [0, 255] },
      { name: "i8", dtype: "I8", shape: [2], data: [-128, 127] },
      { name: "empty", dtype: "F32", shape: [0, 3], data: [] },
      { name: "scalar", dtype: "F32", shape: [], data: [42] }
    ]
    const bytes = await runE(encodeSafetensors(tensors, { format: "pt", note: "ünïcode" }))
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true))
    expect((8 + n) % 8).toBe(0)
    const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + n))
    expect(headerText.trimEnd().length).toBeLessThanOrEqual(n)
    expect(/^ *$/.test(headerText.slice(headerText.trimEnd().length))).toBe(true)
    expect(JSON.parse(headerText).__metadata__).toEqual({ format: "pt", note: "ünïcode" })

    const file = await runE(parseSafetensors(bytes))
    expect(file.names).toEqual(tensors.map((t) => t.name))
    expect(file.metadata).toEqual({ format: "pt", note: "ünïcode" })
    const read = async (name: string) => runE(file.read(name))
    expect([...(await read("f32")).data]).toEqual([...values])
    expect((await read("f32")).shape).toEqual([2, 4])
    expect([...(await read("f64")).data]).toEqual([Math.PI, -1e300, 5e-324])
    expect([...(await read("f16")).data]).toEqual([...decodeF16(encodeF16(values))])
    expect([...(await read("bf16")).data]).toEqual([...decodeBF16(encodeBF16(values))])
    expect([...(await read("i32")).data]).toEqual([-(2 ** 31), 0, 2 ** 31 - 1])
    expect([...(await read("i64")).data]).toEqual([-(2n ** 63n), 0n, 2n ** 63n - 1n])
    expect([...(await read("i64n")).data]).toEqual([BigInt(Number.MAX_SAFE_INTEGER), -5n])
    expect([...(await read("u8")).data]).toEqual([0, 255])
    expect([...(await read("i8")).data]).toEqual([-128, 127])
    expect((await read("empty")).data.length).toBe(0)
    expect([...(await read("scalar")).data]).toEqual([42])
    // readFloat32 decodes any float dtype and refuses integers.
    expect([...(await runE(file.readFloat32("f64"))).data]).toEqual([...Float32Array.from([Math.PI, -1e300, 5e-324])])
    const err = await flip(file.readFloat32("i32"))
    expect(err._tag).toBe("SafetensorsDtypeError")
  })

  it("F16/BF16 conversions: exact values, rounding, specials", () => {
    // Exactly representable values survive.
    for (const v of [0, -0, 1, -2, 0.5, 65504, 2 ** -24, 2 ** -14])
      expect(decodeF16(Uint16Array.of(floatToHalfBits(v)))[0]).toBe(v)
    expect(floatToHalfBits(65520)).toBe(0x7c00) // overflow → inf
    expect(floatToHalfBits(1 + 2 ** -11)).toBe(0x3c00) // tie → even
    expect(floatToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02) // tie → even (up)
    expect(Number.isNaN(decodeF16(Uint16Array.of(floatToHalfBits(Number.NaN)))[0])).toBe(true)
    expect(decodeBF16(Uint16Array.of(0x3f80))[0]).toBe(1)
    expect(decodeBF16(Uint16Array.of(0xc049))[0]).toBe(-3.140625)
    expect(floatToBF16Bits(1 + 2 ** -8)).toBe(0x3f80) // tie → even
    expect(floatToBF16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82)
    expect(Number.isNaN(decodeBF16(Uint16Array.of(floatToBF16Bits(Number.NaN)))[0])).toBe(true)
    expect(decodeBF16(Uint16Array.of(floatToBF16Bits(Number.POSITIVE_INFINITY)))[0]).toBe(Number.POSITIVE_INFINITY)
  })

  it("encodeF16/BF16 into a given buffer; decodeFloat32Into a preallocated array, aligned or not", () => {
    const out = new Uint16Array(values.length + 2)
    const slot = out.subarray(1, 1 + values.length)
    expect(encodeF16(values, slot)).toBe(slot)
    expect([...slot]).toEqual([...encodeF16(values)])
    expect([out[0], out[out.length - 1]]).toEqual([0, 0])
    expect(encodeBF16(values, new Uint16Array(values.length))).toEqual(encodeBF16(values))
    expect(encodeBF16([...values], new Uint16Array(values.length))).toEqual(encodeBF16(values))
    const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
    const encoded = {
      F32: bytesOf(values),
      F64: bytesOf(Float64Array.from([Math.PI, -1e300, 5e-324, 1])),
      F16: bytesOf(encodeF16(values)),
      BF16: bytesOf(encodeBF16(values))
    } as const
    for (const [dtype, bytes] of Object.entries(encoded) as Array<[keyof typeof encoded, Uint8Array]>) {
      const want = decodeFloat32(dtype, bytes)
      // into the middle of a longer array: the rest is untouched
      const into = new Float32Array(want.length + 3).fill(7)
      const target = into.subarray(1)
      expect(decodeFloat32Into(dtype, bytes, target)).toBe(target)
      expect([...into]).toEqual([7, ...want, 7, 7])
      // unaligned source bytes decode the same
      const shifted = new Uint8Array(bytes.byteLength + 1)
      shifted.set(bytes, 1)
      expect([...decodeFloat32Into(dtype, shifted.subarray(1), new Float32Array(want.length))]).toEqual([...want])
      expect(() => decodeFloat32Into(dtype, bytes, new Float32Array(want.length - 1))).toThrow(RangeError)
      expect(() => decodeFloat32Into(dtype, bytes.subarray(1), new Float32Array(want.length))).toThrow(RangeError)
    }
  })

  it("safetensorsChunks: the header, then the given bytes uncopied; the same file as encodeSafetensors", async () => {
    const i32 = Int32Array.of(7, -8, 9)
    const f16 = encodeF16(values)
    const chunks = await runE(
      safetensorsChunks(
        "<memory>",
        [
          { name: "i", dtype: "I32", shape: [3], bytes: new Uint8Array(i32.buffer) },
          { name: "h", dtype: "F16", shape: [2, 4], bytes: new Uint8Array(f16.buffer) }
        ],
        { k: "v" }
      )
    )
    expect(chunks.length).toBe(3)
    expect(chunks[1]!.buffer).toBe(i32.buffer)
    expect(chunks[2]!.buffer).toBe(f16.buffer)
    const joined = new Uint8Array(chunks.reduce((a, c) => a + c.byteLength, 0))
    let o = 0
    for (const c of chunks) {
      joined.set(c, o)
      o += c.byteLength
    }
    const reference = await runE(
      encodeSafetensors(
        [
          { name: "i", dtype: "I32", shape: [3], data: i32 },
          { name: "h", dtype: "F16", shape: [2, 4], data: values }
        ],
        { k: "v" }
      )
    )
    expect(joined).toEqual(reference)
    const e = await flip(
      safetensorsChunks("x.safetensors", [{ name: "w", dtype: "F32", shape: [2], bytes: new Uint8Array(4) }])
    )
    expect(e._tag).toBe("SafetensorsShapeError")
    expect(e.message).toContain('x.safetensors: tensor "w"')
  })

  it("writes to disk (lazy data), reads single tensors through the file handle, leaves no temp file", async () => {
    const dir = tmp()
    const file = path.join(dir, "a.safetensors")
    let produced = 0
    const big = new Float32Array(1000).map((_, i) => i)
    await runE(
      writeSafetensors(file, [
        {
          name: "a",
          dtype: "F32",
          shape: [10, 100],
          data: () => {
            produced++
            return big
          }
        },
        {
          name: "b",
          dtype: "BF16",
          shape: [1000],
          data: () => {
            produced++
            return big
          }
        }
      ])
    )
    expect(produced).toBe(2)
    const a = await scoped(Effect.flatMap(openSafetensors(file), (f) => f.read("a")))
    expect(a.data).toEqual(big)
    const b = await scoped(Effect.flatMap(openSafetensors(file), (f) => f.readFloat32("b")))
    expect(b.data[999]).toBe(1000) // 999 rounds to 1000 in bf16
    const all = await runE(readSafetensors(file))
    expect([...all.tensors.keys()]).toEqual(["a", "b"])
    const { readdirSync } = await import("node:fs")
    expect(readdirSync(dir)).toEqual(["a.safetensors"])
  })

  it("writer errors: length mismatch, duplicate name, bad dtype, non-integer for an int dtype; nothing is written", async () => {
    const dir = tmp()
    const file = path.join(dir, "bad.safetensors")
    const e1 = await flip(writeSafetensors(file, [{ name: "w", dtype: "F32", shape: [2, 2], data: [1, 2, 3] }]))
    expect(e1._tag).toBe("SafetensorsShapeError")
    expect(e1.message).toContain('"w"')
    const e2 = await flip(
      writeSafetensors(file, [
        { name: "w", dtype: "F32", shape: [1], data: [1] },
        { name: "w", dtype: "F32", shape: [1], data: [1] }
      ])
    )
    expect(e2._tag).toBe("SafetensorsHeaderError")
    const e3 = await flip(writeSafetensors(file, [{ name: "w", dtype: "F8_E4M3" as never, shape: [1], data: [1] }]))
    expect(e3._tag).toBe("SafetensorsDtypeError")
    const e4 = await flip(writeSafetensors(file, [{ name: "w", dtype: "I32", shape: [1], data: [1.5] }]))
    expect(e4._tag).toBe("SafetensorsDtypeError")
    const { readdirSync } = await import("node:fs")
    expect(readdirSync(dir)).toEqual([])
  })
})

describe("safetensors malformed input", () => {
  const ok = { w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }
  const parseErr = (bytes: Uint8Array): Promise<SafetensorsError> => flip(parseSafetensors(bytes, "x.safetensors"))

  it("truncated: shorter than the prefix, header past EOF, data past EOF", async () => {
    const e1 = await parseErr(new Uint8Array(5))
    expect(e1._tag).toBe("SafetensorsTruncatedError")
    const e2 = await parseErr(rawFile(ok, f32(2), { lengthOverride: 10_000n }))
    expect(e2._tag).toBe("SafetensorsTruncatedError")
    expect(e2.message).toContain("x.safetensors")
    const e3 = await parseErr(rawFile(ok, f32(1)))
    expect(e3._tag).toBe("SafetensorsTruncatedError")
    // Same through a real file.
    const file = path.join(tmp(), "t.safetensors")
    writeFileSync(file, rawFile(ok, f32(1)))
    const e4 = await flipScoped(openSafetensors(file))
    expect(e4._tag).toBe("SafetensorsTruncatedError")
    expect(e4.message).toContain(file)
  })

  it("bad headers", async () => {
    const cases: Array<[string, Uint8Array, string]> = [
      ["not JSON", rawFile(undefined, f32(2), { headerText: '{"w": ' }), "not valid JSON"],
      ["not an object", rawFile(undefined, f32(2), { headerText: "[1, 2]  " }), "does not start with '{'"],
      ["huge length", rawFile(ok, f32(2), { lengthOverride: 2n ** 40n }), "exceeds"],
      ["entry not object", rawFile({ w: 3 }, new Uint8Array()), '"w"'],
      ["bad shape", rawFile({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 0] } }, new Uint8Array()), "shape"],
      ["bad offsets", rawFile({ w: { dtype: "F32", shape: [2], data_offsets: [0] } }, f32(2)), "data_offsets"],
      ["end < begin", rawFile({ w: { dtype: "F32", shape: [0], data_offsets: [8, 0] } }, f32(2)), "end < begin"],
      ["gap", rawFile({ w: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32(2)), "gap"],
      [
        "overlap",
        rawFile(
          {
            a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
            b: { dtype: "F32", shape: [1], data_offsets: [4, 8] }
          },
          f32(2)
        ),
        "overlapping"
      ],
      ["trailing bytes", rawFile(ok, f32(3)), "belong to no tensor"],
      ["metadata not strings", rawFile({ __metadata__: { a: 1 }, ...ok }, f32(2)), "__metadata__"]
    ]
    for (const [what, bytes, text] of cases) {
      const e = await parseErr(bytes)
      expect(e._tag, what).toBe("SafetensorsHeaderError")
      expect(e.message, what).toContain(text)
    }
  })

  it("unknown dtype and shape/byte-count mismatch name the tensor", async () => {
    const e1 = await parseErr(rawFile({ w: { dtype: "Q4", shape: [2], data_offsets: [0, 8] } }, f32(2)))
    expect(e1._tag).toBe("SafetensorsDtypeError")
    expect(e1).toMatchObject({ tensor: "w", dtype: "Q4" })
    const e2 = await parseErr(rawFile({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, f32(2)))
    expect(e2._tag).toBe("SafetensorsShapeError")
    expect(e2).toMatchObject({ tensor: "w" })
    expect(e2.message).toContain("needs 12 bytes")
    // A spec dtype this reader cannot decode fails on read, naming tensor and dtype.
    const file = await runE(
      parseSafetensors(rawFile({ w: { dtype: "F8_E4M3", shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)))
    )
    const e3 = await flip(file.read("w"))
    expect(e3).toMatchObject({ _tag: "SafetensorsDtypeError", tensor: "w", dtype: "F8_E4M3" })
  })

  it("missing tensor and missing file", async () => {
    const file = path.join(tmp(), "m.safetensors")
    writeFileSync(file, rawFile(ok, f32(2)))
    const e = await flipScoped(Effect.flatMap(openSafetensors(file), (f) => f.read("nope")))
    expect(e).toMatchObject({ _tag: "SafetensorsMissingTensorError", tensor: "nope", path: file })
    expect(e.message).toContain(file)
    const e2 = await flipScoped(openSafetensors(path.join(tmp(), "absent.safetensors")))
    expect(e2._tag).toBe("SafetensorsIOError")
  })
})

describe("sharded checkpoints", () => {
  const writeShards = async (dir: string) => {
    await runE(
      writeSafetensors(path.join(dir, "model-00001-of-00002.safetensors"), [
        { name: "a", dtype: "F32", shape: [2], data: [1, 2] }
      ])
    )
    await runE(
      writeSafetensors(path.join(dir, "model-00002-of-00002.safetensors"), [
        { name: "b", dtype: "BF16", shape: [1], data: [3] },
        { name: "c", dtype: "I64", shape: [1], data: [7] }
      ])
    )
  }
  it("reads through model.safetensors.index.json", async () => {
    const dir = tmp()
    await writeShards(dir)
    writeFileSync(
      path.join(dir, INDEX_FILE),
      JSON.stringify({
        metadata: { total_size: 20 },
        weight_map: {
          a: "model-00001-of-00002.safetensors",
          b: "model-00002-of-00002.safetensors",
          c: "model-00002-of-00002.safetensors"
        }
      })
    )
    const r = await scoped(
      Effect.gen(function* () {
        const ck = yield* openCheckpoint(dir)
        return { names: ck.names, a: yield* ck.readFloat32("a"), b: yield* ck.readFloat32("b"), files: ck.files.length }
      })
    )
    expect(r.names).toEqual(["a", "b", "c"])
    expect([...r.a.data]).toEqual([1, 2])
    expect([...r.b.data]).toEqual([3])
    expect(r.files).toBe(2)
    const e = await flipScoped(Effect.flatMap(openCheckpoint(dir), (ck) => ck.read("zzz")))
    expect(e).toMatchObject({ _tag: "SafetensorsMissingTensorError", tensor: "zzz" })
  })

  it("fails on a tensor mapped to the wrong shard, a missing shard, a bad index", async () => {
    const dir = tmp()
    await writeShards(dir)
    writeFileSync(path.join(dir, INDEX_FILE), JSON.stringify({ weight_map: { a: "model-00002-of-00002.safetensors" } }))
    const e1 = await flipScoped(openCheckpoint(dir))
    expect(e1).toMatchObject({ _tag: "SafetensorsMissingTensorError", tensor: "a" })
    expect(e1.message).toContain("model-00002-of-00002.safetensors")
    writeFileSync(path.join(dir, INDEX_FILE), JSON.stringify({ weight_map: { a: "model-00009.safetensors" } }))
    expect((await flipScoped(openCheckpoint(dir)))._tag).toBe("SafetensorsIOError")
    writeFileSync(path.join(dir, INDEX_FILE), JSON.stringify({ weight_map: { a: 5 } }))
    const e3 = await flipScoped(openCheckpoint(dir))
    expect(e3._tag).toBe("SafetensorsHeaderError")
    expect(e3.message).toContain("weight_map")
  })
})

describe.skipIf(!shared)(`golden safetensors files${shared ? "" : ` (${sharedMissingMessage})`}`, () => {
  for (const model of ALL_GOLDEN_MODELS) {
    it(`${model}: sha256 and tensor_count match golden.json`, async () => {
      const g = readGolden(model)
      const file = path.join(goldenDir(model), g.weights.file)
      expect(createHash("sha256").update(readFileSync(file)).digest("hex")).toBe(g.weights.sha256)
      const r = await scoped(
        Effect.gen(function* () {
          const f = yield* openSafetensors(file)
          const dtypes = new Set(f.names.map((n) => f.header.tensors.get(n)!.dtype))
          // Every tensor decodes.
          for (const n of f.names) yield* f.readFloat32(n)
          return { count: f.names.length, dtypes: [...dtypes], metadata: f.metadata }
        })
      )
      expect(r.count).toBe(g.weights.tensor_count)
      expect(r.dtypes).toEqual([g.weights.dtype])
      expect(r.metadata).toEqual({ format: "pt" })
    })
  }
})
