/**
 * A synthetic Qwen2 checkpoint for the benchmarks, streamed straight to disk as BF16: each value
 * is one of 65,536 BF16 samples of N(0, std) (drawn once with `Rng.fillNormal`) picked by a
 * xorshift32, written in 8 MiB chunks — no float32 tensor, no per-value Box–Muller or BF16 encode.
 * Qwen2.5-3B-shaped (36 blocks, 6.2 GB) takes about as long as the disk needs. Norm weights are 1.
 * Sharded like Hugging Face's (`model-0000i-of-0000n.safetensors` + `model.safetensors.index.json`)
 * when `shardBytes` is given, else one `model.safetensors`.
 */
import { closeSync, openSync, renameSync, writeFileSync, writeSync } from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import {
  encodeBF16,
  makeQwen2Config,
  type Qwen2Config,
  qwen2ConfigToJson,
  qwen2WeightShapes,
  Rng
} from "../src/index.js"
import { buildHeader } from "../src/safetensors/writer.js"

/** Qwen2.5-3B's shape (hidden 2048, 16/2 heads, intermediate 11008, vocab 151,936, tied) with `layers` blocks. */
export const qwen25_3bShape = (layers: number): Promise<Qwen2Config> =>
  Effect.runPromise(
    makeQwen2Config({
      vocab_size: 151936,
      hidden_size: 2048,
      intermediate_size: 11008,
      num_hidden_layers: layers,
      num_attention_heads: 16,
      num_key_value_heads: 2,
      tie_word_embeddings: true,
      rope_theta: 1e6,
      initializer_range: 0.02
    })
  )

const CHUNK = 1 << 22 // values per write (8 MiB of BF16)
const BF16_ONE = 0x3f80

/** 65,536 BF16 codes of N(0, std) samples. */
const sampleTable = (std: number, seed: number): Uint16Array =>
  encodeBF16(Rng.seeded(seed).fillNormal(new Float32Array(65536), std))

/** Writes one safetensors file of BF16 tensors, streaming each tensor's random values. */
const writeFile = async (
  file: string,
  tensors: ReadonlyArray<readonly [string, ReadonlyArray<number>]>,
  table: Uint16Array,
  state: { x: number }
): Promise<void> => {
  const header = await Effect.runPromise(
    buildHeader(
      file,
      tensors.map(([name, shape]) => ({ name, dtype: "BF16" as const, shape })),
      { format: "pt" }
    )
  )
  const tmp = `${file}.tmp-${process.pid}`
  const fd = openSync(tmp, "w")
  try {
    writeSync(fd, header)
    const buf = new Uint16Array(CHUNK)
    const bytes = new Uint8Array(buf.buffer)
    let x = state.x
    for (const [name, shape] of tensors) {
      let left = shape.reduce((a, b) => a * b, 1)
      const norm = name.endsWith("norm.weight")
      while (left > 0) {
        const n = Math.min(left, CHUNK)
        if (norm) buf.fill(BF16_ONE, 0, n)
        else {
          for (let i = 0; i < n; i += 2) {
            // xorshift32: two 16-bit table indices per step
            x ^= x << 13
            x ^= x >>> 17
            x ^= x << 5
            buf[i] = table[x & 0xffff]!
            buf[i + 1] = table[x >>> 16]! // past n when n is odd: overwritten or not written
          }
        }
        let done = 0
        while (done < n * 2) done += writeSync(fd, bytes, done, n * 2 - done)
        left -= n
      }
    }
    state.x = x
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
}

/**
 * Writes `config.json` and the BF16 weights of `config` to `dir`; returns the number of shards.
 * Values N(0, `std`) (default the config's `initializer_range`), norms 1.
 */
export const writeSyntheticQwen2 = async (
  dir: string,
  config: Qwen2Config,
  options: { readonly shardBytes?: number; readonly seed?: number; readonly std?: number } = {}
): Promise<number> => {
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(qwen2ConfigToJson(config, "bfloat16")))
  const table = sampleTable(options.std ?? config.initializer_range, options.seed ?? 1)
  const state = { x: (options.seed ?? 1) * 0x9e3779b9 || 1 }
  const all = [...qwen2WeightShapes(config)]
  if (options.shardBytes === undefined) {
    await writeFile(path.join(dir, "model.safetensors"), all, table, state)
    return 1
  }
  const shards: Array<Array<readonly [string, ReadonlyArray<number>]>> = [[]]
  let size = 0
  for (const [name, shape] of all) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2
    if (size > 0 && size + bytes > options.shardBytes) {
      shards.push([])
      size = 0
    }
    shards[shards.length - 1]!.push([name, shape])
    size += bytes
  }
  const weightMap: Record<string, string> = {}
  for (let s = 0; s < shards.length; s++) {
    const file = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`
    for (const [name] of shards[s]!) weightMap[name] = file
    await writeFile(path.join(dir, file), shards[s]!, table, state)
  }
  writeFileSync(
    path.join(dir, "model.safetensors.index.json"),
    JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 1)
  )
  return shards.length
}
