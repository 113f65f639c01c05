#!/usr/bin/env node
// `pnpm test`: one vitest run over every package, then a plain `N passed, N failed` line computed
// from vitest's JSON report (CI reads that line). Extra arguments go to vitest.
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, rmSync } from "node:fs"
import { createRequire } from "node:module"

const report = "vitest-report.json"
rmSync(report, { force: true })
const vitest = createRequire(import.meta.url)
  .resolve("vitest/package.json")
  .replace(/package\.json$/, "vitest.mjs")
const run = spawnSync(
  process.execPath,
  [vitest, "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: "inherit", env: { ...process.env, NO_COLOR: process.env.NO_COLOR ?? "1" } }
)
if (!existsSync(report)) {
  console.log("0 passed, 1 failed")
  console.error("vitest wrote no JSON report (it crashed before reporting)")
  process.exit(run.status || 1)
}
const r = JSON.parse(readFileSync(report, "utf8"))
// Files that fail to import count as failures even though they contribute no test results.
const brokenFiles = r.testResults.filter((f) => f.status === "failed" && f.assertionResults.length === 0).length
const failed = r.numFailedTests + brokenFiles
const skipped = r.numPendingTests + r.numTodoTests
console.log(`${r.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`)
process.exit(failed > 0 || run.status !== 0 ? 1 : 0)
