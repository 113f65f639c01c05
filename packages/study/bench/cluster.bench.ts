/**
 * `pnpm bench cluster`: throughput of the fanned-out stages with 1, 2 and 3 runners on loopback, on
 * the embedded pair with a small recipe, against a throwaway PostgreSQL server:
 *
 * - harvest by text range (rows/s, the store committed included), from an empty run directory;
 * - evaluate + steer (records/s: one record per prompt and cell), from a copy of a run directory
 *   whose harvest, train and rank ran once, single-process.
 *
 * On a 2-core machine the runners share the two cores (and the coordinator and PostgreSQL run
 * there too), so more runners cannot go past ~2× and the numbers show the engine's distribution
 * and overhead, not the speed-up of separate GPU machines (docs/scale-out.md).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import * as path from "node:path"
import { writeBenchRecords } from "@crosscode/core"
import { startThrowawayPostgres } from "../src/cluster/postgres.js"
import { CrosscodeProcess, lineCount, repoRoot } from "../test/clusterHarness.js"

const recipe = path.join(repoRoot, "examples/recipes/embedded.json")
const SMALL = [
  "harvest.text.sources.0.samples=600",
  "harvest.text.sources.1.samples=600",
  "harvest.text.sources.2.samples=160",
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
  const baseHarvest = JSON.parse(readFileSync(path.join(base, "harvest", "summary.json"), "utf8")) as {
    rows: number
    seconds: number
    rowsPerSecond: number
  }
  const harvestRows = baseHarvest.rows
  /** Seconds the coordinator takes for `args` (stages `until`) in `dir` with the runners up. */
  const coordinate = async (dir: string, until: string, extra: ReadonlyArray<string>) => {
    const t0 = performance.now()
    const coord = new CrosscodeProcess("coordinator", [
      "run",
      recipe,
      "--run-dir",
      dir,
      ...SMALL,
      "--until",
      until,
      "--cluster",
      pg.url,
      ...extra
    ])
    all.push(coord)
    if ((await coord.exited) !== 0) throw new Error(`coordinator failed:\n${coord.tail()}`)
    return (performance.now() - t0) / 1000
  }
  const records = []
  for (const runners of [1, 2, 3]) {
    const rs = Array.from({ length: runners }, (_, i) => {
      const p = new CrosscodeProcess(`runner${i}`, ["runner", "--cluster", pg.url, "--backend", "wasm"])
      all.push(p)
      return p
    })
    await Promise.all(rs.map((r) => r.waitFor(/Listening on/, 120_000)))
    const load = loadavg()[0]
    // harvest: 1,360 texts in 11 ranges of 128 (the last 80); the time includes the coordinator's
    // start, the store's commit and the harvest's final RunStage
    const hs = await coordinate(path.join(root, `h${runners}`), "harvest", ["--harvest-range-texts", "128"])
    records.push({
      name: "cluster.harvest",
      backend: "wasm",
      shape: { runners, rows: harvestRows, rangeTexts: 128 },
      value: harvestRows / hs,
      unit: "rows/s",
      extra: { seconds: hs, load1: load }
    })
    const dir = path.join(root, `r${runners}`)
    cpSync(base, dir, { recursive: true })
    const es = await coordinate(dir, "steer", ["--batch-prompts", "3"])
    const n = ["evaluate/records-A.jsonl", "evaluate/records-B.jsonl", "steer/records.jsonl"]
      .map((f) => lineCount(path.join(dir, f)))
      .reduce((a, b) => a + b, 0)
    records.push({
      name: "cluster.evaluate_steer",
      backend: "wasm",
      shape: { runners, records: n, batchPrompts: 3 },
      value: n / es,
      unit: "records/s",
      extra: { seconds: es, load1: load }
    })
    for (const r of rs) r.kill("SIGTERM")
    await Promise.all(rs.map((r) => r.exited))
  }
  console.log(
    `single-process harvest (no cluster): ${baseHarvest.rowsPerSecond.toFixed(2)} rows/s (${baseHarvest.seconds.toFixed(1)} s, models loaded before)`
  )
  writeBenchRecords("cluster", records)
  for (const name of ["cluster.harvest", "cluster.evaluate_steer"]) {
    const mine = records.filter((r) => r.name === name)
    const one = mine[0]!.value
    for (const r of mine)
      console.log(
        `${name} ${r.shape.runners} runner(s): ${r.value.toFixed(2)} ${r.unit} (${r.extra.seconds.toFixed(1)} s, ${(r.value / one).toFixed(2)}× one runner; load ${r.extra.load1.toFixed(2)} before)`
      )
  }
} finally {
  for (const p of all) p.kill()
  pg.destroy()
  rmSync(root, { recursive: true, force: true })
}
