/**
 * Feature ranking throughput at the paper's scale (D = 8192 features, 1000 + 1000 prompts, TopK 45
 * codes): `pnpm bench ranking` (or `-- --features 2048 --prompts 200` for a quick run).
 */
import { trackPeakRss, writeBenchRecords } from "@crosscode/core"
import { codeMatrix, selectTopSubset } from "../src/index.js"
import { rankFeaturesSync } from "../src/ranking/rank.js"

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const F = arg("features", 8192)
const N = arg("prompts", 1000)
const K = arg("k", 45)

let seed = 12345
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 2147483648
}
/** TopK-sparse codes; the first 64 features fire more on the first set. */
const codes = (rows: number, boost: boolean) => {
  const data = new Float32Array(rows * F)
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < K; j++) {
      const f = boost && j < 8 ? Math.floor(rand() * 64) : Math.floor(rand() * F)
      data[r * F + f] = 0.1 + 4 * rand()
    }
  }
  return codeMatrix(data, rows, F)
}

const tool = codes(N, true)
const general = codes(N, false)
const nExcl = Math.floor(F / 10)
const groups = [
  { name: "exclusive:A", indices: Int32Array.from({ length: nExcl }, (_, i) => i) },
  { name: "exclusive:B", indices: Int32Array.from({ length: nExcl }, (_, i) => nExcl + i) },
  { name: "shared", indices: Int32Array.from({ length: F - 2 * nExcl }, (_, i) => 2 * nExcl + i) }
]
const rss = trackPeakRss()
const t0 = performance.now()
const ranking = rankFeaturesSync(tool, general, { partition: { groups } })
const t1 = performance.now()
for (const p of ["A-excl", "shared", "union"]) selectTopSubset(ranking, p, 4)
const t2 = performance.now()
writeBenchRecords("steering", [
  {
    name: "steering.rank_features",
    backend: "js",
    shape: { features: F, promptsPerSet: N, k: K },
    value: F / ((t1 - t0) / 1000),
    unit: "features/s",
    extra: { rankMs: t1 - t0, selectMs: t2 - t1 },
    peakRssBytes: rss.stop()
  }
])
