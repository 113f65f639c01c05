#!/usr/bin/env node
// `pnpm test`: one vitest run over every package, then a plain `N passed, N failed` line computed
// from vitest's JSON report (CI reads that line). Extra arguments go to vitest.
// Where @crosscode/native's addon is built, a second run repeats the equivalence suites on the
// `native` backend (CROSSCODE_TEST_BACKEND=native: golden Qwen2 tests, the Llama / Gemma 2 goldens
// (the fused decoder kernels' soft-capping, GELU and sliding window), the after-pass reads (their
// float32 copies), the sparse-step suite with the native kernel set); its counts are added to the line. Without the addon it says why it skips.
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, rmSync } from "node:fs"
import { createRequire } from "node:module"

const vitest = createRequire(import.meta.url)
  .resolve("vitest/package.json")
  .replace(/package\.json$/, "vitest.mjs")

/** One vitest run; its counts from the JSON report, or undefined if vitest wrote none. */
const vitestRun = (report, args, env = {}) => {
  rmSync(report, { force: true })
  const run = spawnSync(
    process.execPath,
    [vitest, "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...args],
    { stdio: "inherit", env: { ...process.env, NO_COLOR: process.env.NO_COLOR ?? "1", ...env } }
  )
  if (!existsSync(report)) return { status: run.status || 1 }
  const r = JSON.parse(readFileSync(report, "utf8"))
  // Files that fail to import count as failures even though they contribute no test results.
  const brokenFiles = r.testResults.filter((f) => f.status === "failed" && f.assertionResults.length === 0).length
  return {
    status: run.status,
    passed: r.numPassedTests,
    failed: r.numFailedTests + brokenFiles,
    skipped: r.numPendingTests + r.numTodoTests
  }
}

const main = vitestRun("vitest-report.json", process.argv.slice(2))
if (main.passed === undefined) {
  console.log("0 passed, 1 failed")
  console.error("vitest wrote no JSON report (it crashed before reporting)")
  process.exit(main.status)
}
const total = { ...main }
const addon = "packages/native/build/Release/crosscode_native.node"
if (process.argv.length > 2) {
  // a filtered run: no native pass
} else if (existsSync(addon)) {
  console.log("\n=== equivalence suites on the native backend (CROSSCODE_TEST_BACKEND=native) ===")
  const native = vitestRun(
    "vitest-report-native.json",
    [
      "packages/core/test/golden.test.ts",
      "packages/core/test/families.test.ts",
      "packages/core/test/readAfterPass.test.ts",
      "packages/crosscoder/test/sparseStep.test.ts"
    ],
    { CROSSCODE_TEST_BACKEND: "native" }
  )
  if (native.passed === undefined) {
    total.failed += 1
    console.error("the native pass wrote no JSON report (it crashed before reporting)")
  } else {
    total.passed += native.passed
    total.failed += native.failed
    total.skipped += native.skipped
    if (native.status !== 0 && native.failed === 0) total.failed += 1
  }
} else {
  let why = "not built"
  try {
    why = JSON.parse(readFileSync("packages/native/build/status.json", "utf8")).reason ?? why
  } catch {}
  console.log(`\nnative equivalence pass skipped: @crosscode/native's addon is absent (${why})`)
}
console.log(`${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ""}`)
process.exit(total.failed > 0 || main.status !== 0 ? 1 : 0)
