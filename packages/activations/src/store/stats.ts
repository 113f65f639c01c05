/** (De)serialisation of Welford accumulators as safetensors F64 tensors. */
import {
  bytesOf,
  encodeSafetensors,
  parseSafetensors,
  type TensorToWrite,
  tensorBytes,
  toFloat64Array
} from "../util/safetensors.js"
import { Welford } from "../util/welford.js"

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

const group = (prefix: string, w: Welford, numSources: number, dim: number): Array<TensorToWrite> => [
  { name: `${prefix}.count`, dtype: "F64", shape: [1], bytes: bytesOf(Float64Array.of(w.count)) },
  { name: `${prefix}.mean`, dtype: "F64", shape: [numSources, dim], bytes: bytesOf(w.mean) },
  { name: `${prefix}.m2`, dtype: "F64", shape: [numSources, dim], bytes: bytesOf(w.m2) }
]

export const encodeStats = (stats: StatsSet, numSources: number, dim: number): Array<Uint8Array> => {
  const tensors = group("all", stats.all, numSources, dim)
  for (const d of [...stats.byDataset.keys()].sort((a, b) => a - b)) {
    tensors.push(...group(`dataset.${d}`, stats.byDataset.get(d) as Welford, numSources, dim))
  }
  return encodeSafetensors(tensors, { format: "crosscode-welford/1", numSources: String(numSources), dim: String(dim) })
}

/** Throws `SafetensorsFormatError` on malformed input. */
export const decodeStats = (file: Uint8Array, width: number): StatsSet => {
  const h = parseSafetensors(file)
  const read = (prefix: string): Welford => {
    const count = toFloat64Array(tensorBytes(file, h, `${prefix}.count`))[0] as number
    const mean = toFloat64Array(tensorBytes(file, h, `${prefix}.mean`))
    const m2 = toFloat64Array(tensorBytes(file, h, `${prefix}.m2`))
    if (mean.length !== width || m2.length !== width)
      throw new RangeError(`${prefix}: width ${mean.length}, expected ${width}`)
    return Welford.fromParts(count, mean, m2)
  }
  const byDataset = new Map<number, Welford>()
  for (const name of h.tensors.keys()) {
    const m = /^dataset\.(\d+)\.count$/.exec(name)
    if (m !== null) byDataset.set(Number(m[1]), read(`dataset.${m[1]}`))
  }
  return { all: read("all"), byDataset }
}
