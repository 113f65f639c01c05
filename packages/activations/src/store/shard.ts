/** Encoding and decoding of one activation shard (a safetensors file, through core's codec). */
import { decodeFloat32Into, parseSafetensors, type SafetensorsHeader, safetensorsChunks } from "@crosscode/core"
import { Effect } from "effect"
import type { ActivationStoreError } from "../ActivationSource.js"
import { type StoreDtype, safetensorsDtype } from "../util/dtype.js"
import { toStoreError } from "./fsutil.js"

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

/** What the manifest says a shard holds. */
export interface ShardLayout {
  readonly rows: number
  readonly numSources: number
  readonly dim: number
  readonly dtype: StoreDtype
}

/** A shard file parsed and checked against its layout. */
export interface ShardFile extends ShardColumns {
  readonly rows: number
  /** The activations' bytes: a view of the file's bytes (not copied). */
  readonly activations: Uint8Array
  /** Absolute byte offset of the activations in the file. */
  readonly activationsOffset: number
}

const COLUMNS = ["dataset_ids", "text_index", "position"] as const

const bytesOf = (a: Int32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)

/** The shard file as chunks (header first), ready to be written in order. */
export const encodeShard = (
  path: string,
  layout: ShardLayout,
  activationBytes: Uint8Array,
  columns: ShardColumns,
  metadata: Readonly<Record<string, string>>
): Effect.Effect<Array<Uint8Array>, ActivationStoreError> => {
  const { rows, numSources, dim, dtype } = layout
  return safetensorsChunks(
    path,
    [
      // int32 columns first: keeps the activations 4-byte aligned in the file
      { name: "dataset_ids", dtype: "I32", shape: [rows], bytes: bytesOf(columns.datasetIds.subarray(0, rows)) },
      { name: "text_index", dtype: "I32", shape: [rows], bytes: bytesOf(columns.textIndex.subarray(0, rows)) },
      { name: "position", dtype: "I32", shape: [rows], bytes: bytesOf(columns.position.subarray(0, rows)) },
      { name: "activations", dtype: safetensorsDtype(dtype), shape: [rows, numSources, dim], bytes: activationBytes }
    ],
    metadata
  ).pipe(Effect.mapError(toStoreError(path, "cannot encode shard")))
}

/** The problem with a shard's header given what the manifest expects, if any. */
const shardHeaderProblem = (h: SafetensorsHeader, layout: ShardLayout): string | undefined => {
  const { rows, numSources, dim, dtype } = layout
  const act = h.tensors.get("activations")
  const want = [rows, numSources, dim]
  if (act === undefined) return "no `activations` tensor"
  if (act.dtype !== safetensorsDtype(dtype) || act.shape.join(",") !== want.join(",")) {
    return `activations are ${act.dtype}[${act.shape.join(", ")}], expected ${safetensorsDtype(dtype)}[${want.join(", ")}]`
  }
  for (const name of COLUMNS) {
    const t = h.tensors.get(name)
    if (t === undefined || t.dtype !== "I32" || t.shape.join(",") !== String(rows))
      return `\`${name}\` must be I32[${rows}]`
  }
  return undefined
}

/**
 * Parses a shard file (`path` names it in errors) and checks it against the manifest's layout:
 * any problem is an `ActivationStoreError` "bad shard: …" for `path`.
 */
export const openShard = (
  path: string,
  file: Uint8Array,
  layout: ShardLayout
): Effect.Effect<ShardFile, ActivationStoreError> =>
  Effect.gen(function* () {
    const st = yield* parseSafetensors(file, path)
    const problem = shardHeaderProblem(st.header, layout)
    if (problem !== undefined) return yield* Effect.fail({ message: `${path}: ${problem}` })
    const [datasetIds, textIndex, position] = yield* Effect.forEach(COLUMNS, (name) =>
      Effect.map(st.read(name), (t) => t.data as Int32Array)
    )
    const act = st.header.tensors.get("activations")!
    const offset = st.header.dataOffset + act.begin
    return {
      rows: layout.rows,
      activations: file.subarray(offset, st.header.dataOffset + act.end),
      activationsOffset: offset,
      datasetIds: datasetIds!,
      textIndex: textIndex!,
      position: position!
    }
  }).pipe(Effect.mapError(toStoreError(path, "bad shard")))

/** A whole shard decoded to float32 (for random access by row); `width` = numSources × dim. */
export const decodeShard = (shard: ShardFile, dtype: StoreDtype, width: number): DecodedShard => ({
  // not a spread: the decoded shard is cached and must not keep the file's bytes alive
  rows: shard.rows,
  data: decodeFloat32Into(safetensorsDtype(dtype), shard.activations, new Float32Array(shard.rows * width)),
  datasetIds: shard.datasetIds,
  textIndex: shard.textIndex,
  position: shard.position
})
