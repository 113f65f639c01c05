/** (De)serialisation of Welford accumulators as safetensors F64 tensors (through core's codec). */
import { type EncodedTensor, parseSafetensors, safetensorsChunks } from "@crosscode/core"
import { Effect } from "effect"
import type { ActivationStoreError } from "../ActivationSource.js"
import { Welford } from "../util/welford.js"
import { toStoreError } from "./fsutil.js"

export interface StatsSet {
  readonly all: Welford
  /** Keyed by dataset index (into the manifest's `datasets`). */
  readonly byDataset: Map<number, Welford>
}

export const emptyStats = (width: number): StatsSet => ({ all: new Welford(width), byDataset: new Map() })

export const mergeStats = (into: StatsSet, other: StatsSet): void => {
  into.all.merge(other.all)
  for (const [d, w] of other.byDataset) {
    const mine = into.byDataset.get(d)
    if (mine === undefined) into.byDataset.set(d, w.clone())
    else mine.merge(w)
  }
}

const bytesOf = (a: Float64Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)

const group = (prefix: string, w: Welford, numSources: number, dim: number): Array<EncodedTensor> => [
  { name: `${prefix}.count`, dtype: "F64", shape: [1], bytes: bytesOf(Float64Array.of(w.count)) },
  { name: `${prefix}.mean`, dtype: "F64", shape: [numSources, dim], bytes: bytesOf(w.mean) },
  { name: `${prefix}.m2`, dtype: "F64", shape: [numSources, dim], bytes: bytesOf(w.m2) }
]

/** The statistics file `path` as chunks (header first), ready to be written in order. */
export const encodeStats = (
  path: string,
  stats: StatsSet,
  numSources: number,
  dim: number
): Effect.Effect<Array<Uint8Array>, ActivationStoreError> => {
  const tensors = group("all", stats.all, numSources, dim)
  for (const d of [...stats.byDataset.keys()].sort((a, b) => a - b)) {
    tensors.push(...group(`dataset.${d}`, stats.byDataset.get(d) as Welford, numSources, dim))
  }
  return safetensorsChunks(path, tensors, {
    format: "crosscode-welford/1",
    numSources: String(numSources),
    dim: String(dim)
  }).pipe(Effect.mapError(toStoreError(path, "cannot encode statistics")))
}

/** Decodes the statistics file `path`; malformed input is an `ActivationStoreError` "bad statistics: …". */
export const decodeStats = (
  path: string,
  file: Uint8Array,
  width: number
): Effect.Effect<StatsSet, ActivationStoreError> =>
  Effect.gen(function* () {
    const st = yield* parseSafetensors(file, path)
    const f64 = (name: string, length: number) =>
      Effect.flatMap(st.read(name), (t) =>
        t.data instanceof Float64Array && t.data.length === length
          ? Effect.succeed(t.data)
          : Effect.fail({ message: `${path}: ${name} is ${t.dtype}[${t.shape.join(", ")}], expected F64[${length}]` })
      )
    const read = (prefix: string) =>
      Effect.gen(function* () {
        const count = (yield* f64(`${prefix}.count`, 1))[0] as number
        return Welford.fromParts(count, yield* f64(`${prefix}.mean`, width), yield* f64(`${prefix}.m2`, width))
      })
    const byDataset = new Map<number, Welford>()
    for (const name of st.names) {
      const m = /^dataset\.(\d+)\.count$/.exec(name)
      if (m !== null) byDataset.set(Number(m[1]), yield* read(`dataset.${m[1]}`))
    }
    return { all: yield* read("all"), byDataset }
  }).pipe(Effect.mapError(toStoreError(path, "bad statistics")))
