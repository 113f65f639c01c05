import {
  decodeF16,
  decodeFloat32Into,
  floatToBF16Bits,
  floatToHalfBits,
  parseSafetensors,
  Rng,
  safetensorsChunks
} from "@crosscode/core"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { Welford } from "../src/index.js"
import { encodeInto } from "../src/util/dtype.js"

/** float32 value of every half bit pattern. */
const halfTable = decodeF16(Uint16Array.from({ length: 65536 }, (_, h) => h))

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.byteLength, 0))
  let o = 0
  for (const c of chunks) {
    out.set(c, o)
    o += c.byteLength
  }
  return out
}

describe("dtype codecs", () => {
  it("f16 encodes known values with round-to-nearest-even", () => {
    expect(floatToHalfBits(1)).toBe(0x3c00)
    expect(floatToHalfBits(-2)).toBe(0xc000)
    expect(floatToHalfBits(65504)).toBe(0x7bff)
    expect(floatToHalfBits(65520)).toBe(0x7c00) // rounds up to inf
    expect(floatToHalfBits(2 ** -24)).toBe(0x0001) // smallest subnormal
    expect(floatToHalfBits(2 ** -25)).toBe(0x0000) // tie → even (0)
    expect(floatToHalfBits(1.5 * 2 ** -24)).toBe(0x0002) // tie → even (2)
    expect(floatToHalfBits(1 + 2 ** -11)).toBe(0x3c00) // tie → even
    expect(floatToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02)
    expect(Number.isNaN(halfTable[floatToHalfBits(Number.NaN)] as number)).toBe(true)
  })

  it("f16 round trip is exact for every half value", () => {
    const t = halfTable
    for (let h = 0; h < 65536; h++) {
      const v = t[h] as number
      if (Number.isNaN(v)) continue
      const back = floatToHalfBits(v)
      // ±0 both fine
      expect(t[back]).toBe(v)
    }
  })

  it("bf16 rounds to nearest even and decodes by shifting", () => {
    expect(floatToBF16Bits(1)).toBe(0x3f80)
    expect(floatToBF16Bits(1 + 2 ** -8)).toBe(0x3f80) // tie → even
    expect(floatToBF16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82)
    const src = Float32Array.of(1.2345, -3.5e10, 0, 7e-30)
    const bytes = new Uint8Array(src.length * 2)
    const rounded = new Float32Array(src.length)
    expect(encodeInto(src, "bf16", bytes, rounded)).toBe(-1)
    const back = new Float32Array(src.length)
    decodeFloat32Into("BF16", bytes, back)
    expect([...back]).toEqual([...rounded])
    for (let i = 0; i < src.length; i++)
      expect(Math.abs((back[i] as number) - (src[i] as number))).toBeLessThanOrEqual(
        Math.abs(src[i] as number) * 2 ** -8
      )
  })

  it("encodeInto reports non-finite values and f16 overflow", () => {
    const bytes = new Uint8Array(16)
    expect(encodeInto(Float32Array.of(1, 2, Number.NaN), "f32", bytes)).toBe(2)
    expect(encodeInto(Float32Array.of(1, 1e5), "f16", bytes)).toBe(1)
    expect(encodeInto(Float32Array.of(1, 1e5), "bf16", bytes)).toBe(-1)
  })
})

describe("safetensors codec", () => {
  it("round-trips tensors and rejects truncated or inconsistent files", async () => {
    const a = Float32Array.of(1, 2, 3, 4, 5, 6)
    const b = Int32Array.of(7, 8)
    const file = concat(
      await Effect.runPromise(
        safetensorsChunks(
          "<memory>",
          [
            { name: "b", dtype: "I32", shape: [2], bytes: new Uint8Array(b.buffer) },
            { name: "a", dtype: "F32", shape: [2, 3], bytes: new Uint8Array(a.buffer) }
          ],
          { k: "v" }
        )
      )
    )
    const parse = (bytes: Uint8Array) => Effect.runPromise(parseSafetensors(bytes))
    const failure = (bytes: Uint8Array) => Effect.runPromise(Effect.flip(parseSafetensors(bytes))).then((e) => e._tag)
    const h = await parse(file)
    expect(h.header.dataOffset % 8).toBe(0)
    expect(h.metadata).toEqual({ k: "v" })
    expect((await Effect.runPromise(h.readFloat32("a"))).data).toEqual(a)
    expect(await failure(file.subarray(0, file.length - 1))).toBe("SafetensorsTruncatedError")
    expect(await failure(file.subarray(0, 5))).toBe("SafetensorsTruncatedError")
    const bad = file.slice()
    bad[12] = 0x7b // corrupt the JSON
    expect(await failure(bad)).toBe("SafetensorsHeaderError")
  })
})

describe("Welford", () => {
  it("equals a two-pass computation, whatever the batching and merge order", () => {
    const rng = Rng.seeded(3)
    const rows = 517
    const width = 12
    const data = new Float32Array(rows * width)
    for (let i = 0; i < data.length; i++)
      data[i] = Math.fround((rng.uniform() - 0.5) * 10 + 1000 * (i % width === 3 ? 1 : 0))
    // two-pass reference in float64
    const mean = new Float64Array(width)
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < width; j++) mean[j] = (mean[j] as number) + (data[r * width + j] as number) / rows
    const m2 = new Float64Array(width)
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < width; j++) {
        const d = (data[r * width + j] as number) - (mean[j] as number)
        m2[j] = (m2[j] as number) + d * d
      }
    }
    const single = new Welford(width)
    for (let r = 0; r < rows; r++) single.add(data.subarray(r * width, (r + 1) * width))
    const parts: Array<Welford> = []
    let start = 0
    while (start < rows) {
      const k = Math.min(rows - start, 1 + rng.int(60))
      const w = new Welford(width)
      w.addRows(data.subarray(start * width, (start + k) * width), k)
      parts.push(w)
      start += k
    }
    const merged = new Welford(width)
    for (const p of parts.reverse()) merged.merge(p)
    for (const w of [single, merged]) {
      expect(w.count).toBe(rows)
      for (let j = 0; j < width; j++) {
        expect(w.mean[j]).toBeCloseTo(mean[j] as number, 9)
        expect(Math.abs((w.m2[j] as number) - (m2[j] as number)) / (m2[j] as number)).toBeLessThan(1e-10)
      }
    }
    const st = merged.finalize(3, 4)
    for (let j = 0; j < width; j++) expect(st.std[j]).toBeCloseTo(Math.sqrt((m2[j] as number) / (rows - 1)), 4)
    for (let s = 0; s < 3; s++) {
      let sum = 0
      for (let d = 0; d < 4; d++) sum += m2[s * 4 + d] as number
      expect(st.scale[s]).toBeCloseTo(Math.sqrt(sum / rows / 4), 4)
    }
  })

  it("selected rows only", () => {
    const data = Float32Array.of(1, 10, 2, 20, 3, 30, 4, 40)
    const w = new Welford(2)
    w.addRows(data, 4, [1, 3])
    expect(w.count).toBe(2)
    expect([...w.mean]).toEqual([3, 30])
  })
})
