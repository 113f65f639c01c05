/** Read an F32/BF16 safetensors file into Float32Arrays (enough for the embedded models' own checks). */
import { readFileSync } from "node:fs"

export const readSafetensorsF32 = (path: string): Map<string, { shape: Array<number>; data: Float32Array }> => {
  const buf = readFileSync(path)
  const n = Number(buf.readBigUInt64LE(0))
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<
    string,
    { dtype: string; shape: Array<number>; data_offsets: [number, number] }
  >
  const out = new Map<string, { shape: Array<number>; data: Float32Array }>()
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue
    const bytes = buf.subarray(8 + n + info.data_offsets[0], 8 + n + info.data_offsets[1])
    const copy = new Uint8Array(bytes)
    let data: Float32Array
    if (info.dtype === "F32") data = new Float32Array(copy.buffer)
    else if (info.dtype === "BF16") {
      const u16 = new Uint16Array(copy.buffer)
      const u32 = new Uint32Array(u16.length)
      for (let i = 0; i < u16.length; i++) u32[i] = (u16[i] as number) << 16
      data = new Float32Array(u32.buffer)
    } else throw new Error(`${path}: unsupported dtype ${info.dtype} for ${name}`)
    out.set(name, { shape: info.shape, data })
  }
  return out
}
