/**
 * `pnpm bench file-io`: what reading through the platform `FileSystem` (@effect/platform-node)
 * costs against `node:fs/promises`, for the three access patterns of the library
 * (docs/architecture.md, "File I/O"):
 *
 * - tensor reads: a checkpoint read tensor by tensor into preallocated arrays (the safetensors reader);
 * - row reads: many small positional reads from one open file (the activation store's row reads);
 * - small files: a config-sized JSON read whole (configs, tokenizer files, recipes, summaries).
 *
 * Files are read from the page cache (each is read once before timing), so the numbers show the
 * per-call overhead at its largest relative size; a cold read from disk hides it further.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { open, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { NodeServices } from "@effect/platform-node"
import { Effect, FileSystem, type Scope } from "effect"
import { type BenchRecord, writeBenchRecords } from "../src/index.js"

const dir = mkdtempSync(path.join(tmpdir(), "crosscode-bench-fileio-"))
const REPS = 9
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Median ms of `f` and `g`, timed alternately (so a change of machine load hits both alike). */
const timeBoth = async (f: () => Promise<void>, g: () => Promise<void>): Promise<[number, number]> => {
  await f() // warm: page cache, JIT
  await g()
  const a: Array<number> = []
  const b: Array<number> = []
  for (let i = 0; i < REPS; i++) {
    let t0 = performance.now()
    await f()
    a.push(performance.now() - t0)
    t0 = performance.now()
    await g()
    b.push(performance.now() - t0)
  }
  return [median(a), median(b)]
}

const runFs = <A>(f: (fs: FileSystem.FileSystem) => Effect.Effect<A, unknown, Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(FileSystem.FileSystem, f)).pipe(Effect.provide(NodeServices.layer)))

/** `count` reads of `size` bytes at consecutive positions into `targets[i % targets.length]`. */
const nodeReads = (file: string, size: number, count: number, targets: ReadonlyArray<Uint8Array>) => async () => {
  const fh = await open(file, "r")
  try {
    for (let i = 0; i < count; i++) {
      const t = targets[i % targets.length]!
      let done = 0
      while (done < size) {
        const { bytesRead } = await fh.read(t, done, size - done, i * size + done)
        if (bytesRead === 0) throw new Error("short read")
        done += bytesRead
      }
    }
  } finally {
    await fh.close()
  }
}

const platformReads = (file: string, size: number, count: number, targets: ReadonlyArray<Uint8Array>) => () =>
  runFs((fs) =>
    Effect.gen(function* () {
      const f = yield* fs.open(file, { flag: "r" })
      for (let i = 0; i < count; i++) {
        const t = targets[i % targets.length]!
        let done = 0
        while (done < size) {
          const n = yield* f.read(t.subarray(done, size), { position: BigInt(i * size + done) })
          if (n === 0) return yield* Effect.die(new Error("short read"))
          done += n
        }
      }
    })
  )

const records: Array<BenchRecord> = []
const compare = async (
  name: string,
  shape: Record<string, number | string>,
  unit: string,
  perMs: number,
  node: () => Promise<void>,
  platform: () => Promise<void>
) => {
  const [nodeMs, platformMs] = await timeBoth(node, platform)
  const extra = {
    nodeMs: +nodeMs.toFixed(2),
    platformMs: +platformMs.toFixed(2),
    ratio: +(platformMs / nodeMs).toFixed(3)
  }
  records.push({ name: `${name}.node`, backend: "node:fs", shape, value: perMs / nodeMs, unit, extra })
  records.push({ name: `${name}.platform`, backend: "platform", shape, value: perMs / platformMs, unit, extra })
}

try {
  // tensor reads: 256 MB as 64 × 4 MB tensors, and 16 MB as 4096 × 4 KB tensors (norms, biases)
  const big = path.join(dir, "weights.bin")
  writeFileSync(big, new Uint8Array(256 * 2 ** 20).fill(7))
  const t4m = Array.from({ length: 4 }, () => new Uint8Array(4 * 2 ** 20))
  await compare(
    "fileio.tensor_read",
    { tensors: 64, bytes: 4 * 2 ** 20 },
    "MB/s",
    256 * 1000,
    nodeReads(big, 4 * 2 ** 20, 64, t4m),
    platformReads(big, 4 * 2 ** 20, 64, t4m)
  )
  const t4k = Array.from({ length: 4 }, () => new Uint8Array(4096))
  await compare(
    "fileio.tensor_read",
    { tensors: 4096, bytes: 4096 },
    "MB/s",
    16 * 1000,
    nodeReads(big, 4096, 4096, t4k),
    platformReads(big, 4096, 4096, t4k)
  )
  // row reads: 20,000 rows of 512 float32 (2 KB), one positional read each
  const rows = Array.from({ length: 4 }, () => new Uint8Array(2048))
  await compare(
    "fileio.row_read",
    { rows: 20000, bytes: 2048 },
    "rows/s",
    20000 * 1000,
    nodeReads(big, 2048, 20000, rows),
    platformReads(big, 2048, 20000, rows)
  )
  // small files: a 20 KB config.json read whole, 500 times
  const config = path.join(dir, "config.json")
  writeFileSync(config, JSON.stringify({ pad: "x".repeat(20000) }))
  await compare(
    "fileio.small_file",
    { files: 500, bytes: 20000 },
    "files/s",
    500 * 1000,
    async () => {
      for (let i = 0; i < 500; i++) JSON.parse(await readFile(config, "utf8"))
    },
    () =>
      runFs((fs) =>
        Effect.gen(function* () {
          for (let i = 0; i < 500; i++) JSON.parse(yield* fs.readFileString(config))
        })
      )
  )
  writeBenchRecords("file-io", records)
  for (const r of records.filter((r) => r.backend === "platform")) {
    console.log(`${r.name}: platform / node:fs time = ${r.extra?.ratio}`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
