/** Reads a small safetensors file synchronously into Float32Arrays (core's codec; float dtypes only). */
import { readFileSync } from "node:fs"
import { parseSafetensors } from "@crosscode/core"
import { Effect } from "effect"

export const readSafetensorsF32 = (path: string): Map<string, { shape: Array<number>; data: Float32Array }> =>
  Effect.runSync(
    Effect.gen(function* () {
      const file = yield* parseSafetensors(new Uint8Array(readFileSync(path)), path)
      const out = new Map<string, { shape: Array<number>; data: Float32Array }>()
      for (const name of file.names) {
        const t = yield* file.readFloat32(name)
        out.set(name, { shape: [...t.shape], data: t.data })
      }
      return out
    })
  )
