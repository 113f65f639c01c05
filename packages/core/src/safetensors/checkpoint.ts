/**
 * A Hugging Face checkpoint directory: a single `model.safetensors`, or shards listed by
 * `model.safetensors.index.json` (`{"metadata": {...}, "weight_map": {tensor: shard file}}`).
 * Every shard's header is read and checked on open (each tensor of the weight map must be in the
 * shard the map names); tensor data is read lazily, one tensor at a time.
 *
 * `openCheckpoint(dir, { select })` restricts the checkpoint to the tensors `select` accepts (a
 * partial model load): a shard that holds none of them is never opened, so its bytes are never
 * read and it may even be missing or truncated. A single-file checkpoint's header is still read
 * and validated in full (it lists every tensor and must describe the file exactly).
 */

import { existsSync, readdirSync } from "node:fs"
import { readFile } from "node:fs/promises"
import * as path from "node:path"
import { Effect, Schema, type Scope } from "effect"
import {
  type SafetensorsError,
  SafetensorsHeaderError,
  SafetensorsIOError,
  SafetensorsMissingTensorError
} from "./errors.js"
import type { TensorInfo } from "./header.js"
import { openSafetensors, type SafetensorsFile, type SafetensorsTensor } from "./reader.js"

export const SINGLE_FILE = "model.safetensors"
export const INDEX_FILE = "model.safetensors.index.json"

export interface Checkpoint {
  readonly dir: string
  /** The index file when sharded. */
  readonly indexPath: string | undefined
  readonly files: ReadonlyArray<SafetensorsFile>
  /** Every tensor name (weight-map order when sharded, header order otherwise). */
  readonly names: ReadonlyArray<string>
  has(name: string): boolean
  /** The file holding `name`. */
  fileOf(name: string): SafetensorsFile | undefined
  info(name: string): Effect.Effect<TensorInfo, SafetensorsMissingTensorError>
  read(name: string): Effect.Effect<SafetensorsTensor, SafetensorsError>
  readFloat32(name: string): Effect.Effect<SafetensorsTensor<Float32Array>, SafetensorsError>
  /** Tensor-data bytes read so far, over every opened file. */
  bytesRead(): number
}

export interface OpenCheckpointOptions {
  /**
   * Keep only the tensors this accepts: the others are absent from `names` / `has`, and a shard
   * holding none of the accepted tensors is not opened. Default: every tensor.
   */
  readonly select?: (name: string) => boolean
}

const IndexJson = Schema.Struct({
  metadata: Schema.optional(Schema.Unknown),
  weight_map: Schema.Record(Schema.String, Schema.String)
})

const fromFiles = (
  dir: string,
  indexPath: string | undefined,
  files: ReadonlyArray<SafetensorsFile>,
  owner: Map<string, SafetensorsFile>
): Checkpoint => {
  const where = indexPath ?? files[0]?.path ?? dir
  const lookup = (name: string) => {
    const f = owner.get(name)
    return f === undefined
      ? Effect.fail(
          new SafetensorsMissingTensorError({
            path: where,
            tensor: name,
            message: `${where}: no tensor named "${name}" in the checkpoint (${files.map((f) => path.basename(f.path)).join(", ")})`
          })
        )
      : Effect.succeed(f)
  }
  return {
    dir,
    indexPath,
    files,
    names: [...owner.keys()],
    has: (name) => owner.has(name),
    fileOf: (name) => owner.get(name),
    info: (name) => Effect.flatMap(lookup(name), (f) => f.info(name)),
    read: (name) => Effect.flatMap(lookup(name), (f) => f.read(name)),
    readFloat32: (name) => Effect.flatMap(lookup(name), (f) => f.readFloat32(name)),
    bytesRead: () => files.reduce((a, f) => a + f.bytesRead(), 0)
  }
}

/** Opens `dir`'s checkpoint (sharded if an index exists, else `model.safetensors`, else the only `*.safetensors`). */
export const openCheckpoint = Effect.fn("openCheckpoint")(function* (
  dir: string,
  options: OpenCheckpointOptions = {}
): Effect.fn.Return<Checkpoint, SafetensorsError, Scope.Scope> {
  const select = options.select ?? (() => true)
  const indexPath = path.join(dir, INDEX_FILE)
  if (existsSync(indexPath)) {
    const text = yield* Effect.tryPromise({
      try: () => readFile(indexPath, "utf8"),
      catch: (e) => new SafetensorsIOError({ path: indexPath, message: `${indexPath}: cannot read: ${String(e)}` })
    })
    const index = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) =>
        new SafetensorsHeaderError({ path: indexPath, message: `${indexPath}: not valid JSON (${String(e)})` })
    }).pipe(
      Effect.flatMap((json) => Schema.decodeUnknownEffect(IndexJson)(json)),
      Effect.mapError((e) =>
        e._tag === "SafetensorsHeaderError"
          ? e
          : new SafetensorsHeaderError({ path: indexPath, message: `${indexPath}: invalid index: ${e.message}` })
      )
    )
    const weightMap = Object.entries(index.weight_map).filter(([name]) => select(name))
    const shardNames = [...new Set(weightMap.map(([, shard]) => shard))]
    const files = new Map<string, SafetensorsFile>()
    for (const shard of shardNames) {
      if (shard.includes("/") || shard.includes("\\") || shard === ".." || shard === ".") {
        return yield* new SafetensorsHeaderError({
          path: indexPath,
          message: `${indexPath}: shard name "${shard}" is not a plain file name`
        })
      }
      files.set(shard, yield* openSafetensors(path.join(dir, shard)))
    }
    const owner = new Map<string, SafetensorsFile>()
    for (const [name, shard] of weightMap) {
      const file = files.get(shard)!
      if (!file.has(name)) {
        return yield* new SafetensorsMissingTensorError({
          path: file.path,
          tensor: name,
          message: `${file.path}: tensor "${name}" is mapped to this shard by ${INDEX_FILE} but is not in it`
        })
      }
      owner.set(name, file)
    }
    return fromFiles(dir, indexPath, [...files.values()], owner)
  }
  let single = path.join(dir, SINGLE_FILE)
  if (!existsSync(single)) {
    const candidates = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".safetensors")) : []
    if (candidates.length !== 1) {
      return yield* new SafetensorsIOError({
        path: dir,
        message: `${dir}: no ${SINGLE_FILE} or ${INDEX_FILE}${candidates.length > 1 ? ` (and ${candidates.length} other .safetensors files, ambiguous)` : ""}`
      })
    }
    single = path.join(dir, candidates[0]!)
  }
  const file = yield* openSafetensors(single)
  const owner = new Map(file.names.filter(select).map((n) => [n, file] as const))
  return fromFiles(dir, undefined, [file], owner)
})
