/** Encoding and decoding of one activation shard (a safetensors file). */
import { decodeInto, type StoreDtype, safetensorsDtype } from "../util/dtype.js"
import {
  bytesOf,
  encodeSafetensors,
  parseSafetensors,
  SafetensorsFormatError,
  type SafetensorsHeader,
  tensorBytes,
  toInt32Array
} from "../util/safetensors.js"

export interface ShardColumns {
  readonly datasetIds: Int32Array
  readonly textIndex: Int32Array
  readonly position: Int32Array
}

export interface DecodedShard extends ShardColumns {
  readonly rows: number
  /** `[rows * numSources * dim]` float32. */
  readonly data: Float32Array
}

export const encodeShard = (
  rows: number,
  numSources: number,
  dim: number,
  dtype: StoreDtype,
  activationBytes: Uint8Array,
  columns: ShardColumns,
  metadata: Readonly<Record<string, string>>
): Array<Uint8Array> =>
  encodeSafetensors(
    [
      // int32 columns first: keeps the activations 4-byte aligned in the file
      { name: "dataset_ids", dtype: "I32", shape: [rows], bytes: bytesOf(columns.datasetIds.subarray(0, rows)) },
      { name: "text_index", dtype: "I32", shape: [rows], bytes: bytesOf(columns.textIndex.subarray(0, rows)) },
      { name: "position", dtype: "I32", shape: [rows], bytes: bytesOf(columns.position.subarray(0, rows)) },
      { name: "activations", dtype: safetensorsDtype(dtype), shape: [rows, numSources, dim], bytes: activationBytes }
    ],
    metadata
  )

/** Validate a shard's header against what the manifest expects; throws `SafetensorsFormatError`. */
export const checkShardHeader = (
  h: SafetensorsHeader,
  rows: number,
  numSources: number,
  dim: number,
  dtype: StoreDtype
): void => {
  const act = h.tensors.get("activations")
  const want = [rows, numSources, dim]
  if (act === undefined) throw new SafetensorsFormatError("no `activations` tensor")
  if (act.dtype !== safetensorsDtype(dtype) || act.shape.join(",") !== want.join(",")) {
    throw new SafetensorsFormatError(
      `activations are ${act.dtype}[${act.shape.join(", ")}], expected ${safetensorsDtype(dtype)}[${want.join(", ")}]`
    )
  }
  for (const name of ["dataset_ids", "text_index", "position"]) {
    const t = h.tensors.get(name)
    if (t === undefined || t.dtype !== "I32" || t.shape.join(",") !== String(rows)) {
      throw new SafetensorsFormatError(`\`${name}\` must be I32[${rows}]`)
    }
  }
}

export const decodeShard = (
  file: Uint8Array,
  rows: number,
  numSources: number,
  dim: number,
  dtype: StoreDtype
): DecodedShard => {
  const h = parseSafetensors(file)
  checkShardHeader(h, rows, numSources, dim, dtype)
  const data = new Float32Array(rows * numSources * dim)
  decodeInto(tensorBytes(file, h, "activations"), dtype, data)
  return {
    rows,
    data,
    datasetIds: toInt32Array(tensorBytes(file, h, "dataset_ids")),
    textIndex: toInt32Array(tensorBytes(file, h, "text_index")),
    position: toInt32Array(tensorBytes(file, h, "position"))
  }
}
