/**
 * `pnpm bench [filter] [-- args]`: runs every `packages/<pkg>/bench/<name>.bench.ts` (or those whose path
 * contains `filter`) in its own process, so one benchmark's memory does not skew the next.
 * Results land in `bench-results/*.jsonl` (see @crosscode/core `writeBenchRecords`).
 */

import { spawnSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "..")
const args = process.argv.slice(2)
const dashdash = args.indexOf("--")
const filters = dashdash === -1 ? args : args.slice(0, dashdash)
const passThrough = dashdash === -1 ? [] : args.slice(dashdash + 1)

const scripts: Array<string> = []
for (const pkg of readdirSync(path.join(root, "packages"))) {
  const dir = path.join(root, "packages", pkg, "bench")
  if (!existsSync(dir)) continue
  for (const f of readdirSync(dir).sort()) {
    if (f.endsWith(".bench.ts")) scripts.push(path.join(dir, f))
  }
}
// match the path inside the repository: a checkout's own path (e.g. a worktree named after a bench) must not select everything
const selected = scripts.filter((s) => filters.length === 0 || filters.some((f) => path.relative(root, s).includes(f)))
if (selected.length === 0) {
  console.error(
    `no benchmark matches ${filters.join(", ")}; available:\n${scripts.map((s) => `  ${path.relative(root, s)}`).join("\n")}`
  )
  process.exit(1)
}
let failed = 0
for (const script of selected) {
  console.log(`\n=== ${path.relative(root, script)} ===`)
  const r = spawnSync(process.execPath, ["--import", "tsx", "--conditions=source", script, ...passThrough], {
    stdio: "inherit",
    cwd: root,
    env: { ...process.env, CROSSCODE_BENCH_OUT: process.env.CROSSCODE_BENCH_OUT ?? path.join(root, "bench-results") }
  })
  if (r.status !== 0) failed++
}
console.log(`\nresults: ${path.join(root, "bench-results")}`)
process.exit(failed === 0 ? 0 : 1)
