/**
 * `pnpm bench cluster`: throughput of the fanned-out stages (evaluate + steer, records/s) with 1, 2
 * and 3 runners on loopback, on the embedded pair with a small recipe, against a throwaway
 * PostgreSQL server. The earlier stages run once, single-process, and each measurement starts from
 * a copy of that run directory.
 *
 * On a 2-core machine the runners share the two cores (and the coordinator and PostgreSQL run
 * there too), so more runners cannot go past ~2× and the numbers show the engine's distribution
 * and overhead, not the speed-up of separate GPU machines (docs/scale-out.md).
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { writeBenchRecords } from "@crosscode/core"
import { startThrowawayPostgres } from "../src/cluster/postgres.js"
import { CrosscodeProcess, lineCount, repoRoot } from "../test/clusterHarness.js"

const recipe = path.join(repoRoot, "examples/recipes/embedded.json")
const SMALL = [
  "harvest.text.sources.0.samples=150",
  "harvest.text.sources.1.samples=150",
  "harvest.text.sources.2.samples=40",
  "crosscoders.0.steps=60",
  "crosscoders.1.steps=60",
  "evaluate.n=12",
  "evaluate.maxNewTokens=32",
  "rank.n=30",
  'rank.crosscoders=["dfc"]',
  'steer.partitions=["A-excl","B-excl"]',
  "steer.kPercents=[100]",
  "steer.alphas=[1,16]",
  "steer.n=12",
  "steer.maxNewTokens=32"
].flatMap((s) => ["--set", s])

const root = mkdtempSync(path.join(tmpdir(), "crosscode-cluster-bench-"))
const pg = await startThrowawayPostgres()
const all: Array<CrosscodeProcess> = []
try {
  const base = path.join(root, "base")
  for (const stage of ["harvest", "train", "rank"]) {
    const p = new CrosscodeProcess(stage, [stage, recipe, "--run-dir", base, ...SMALL, "--backend", "wasm"])
    all.push(p)
    if ((await p.exited) !== 0) throw new Error(`${stage} failed:\n${p.tail()}`)
  }
  const records = []
  for (const runners of [1, 2, 3]) {
    const dir = path.join(root, `r${runners}`)
    cpSync(base, dir, { recursive: true })
    const rs = Array.from({ length: runners }, (_, i) => {
      const p = new CrosscodeProcess(`runner${i}`, ["runner", "--cluster", pg.url, "--backend", "wasm"])
      all.push(p)
      return p
    })
    await Promise.all(rs.map((r) => r.waitFor(/Listening on/, 120_000)))
    const t0 = performance.now()
    const coord = new CrosscodeProcess("coordinator", [
      "run",
      recipe,
      "--run-dir",
      dir,
      ...SMALL,
      "--until",
      "steer",
      "--cluster",
      pg.url,
      "--batch-prompts",
      "3"
    ])
    all.push(coord)
    if ((await coord.exited) !== 0) throw new Error(`coordinator failed:\n${coord.tail()}`)
    const seconds = (performance.now() - t0) / 1000
    const n = ["evaluate/records-A.jsonl", "evaluate/records-B.jsonl", "steer/records.jsonl"]
      .map((f) => lineCount(path.join(dir, f)))
      .reduce((a, b) => a + b, 0)
    for (const r of rs) r.kill("SIGTERM")
    await Promise.all(rs.map((r) => r.exited))
    records.push({
      name: "cluster.evaluate_steer",
      backend: "wasm",
      shape: { runners, records: n, batchPrompts: 3 },
      value: n / seconds,
      unit: "records/s",
      extra: { seconds }
    })
  }
  writeBenchRecords("cluster", records)
  const one = records[0]!.value
  for (const r of records) console.log(`${r.shape.runners} runner(s): ${(r.value / one).toFixed(2)}× one runner`)
} finally {
  for (const p of all) p.kill()
  pg.destroy()
  rmSync(root, { recursive: true, force: true })
}
