#!/usr/bin/env node
// Builds the @crosscode/native addon at install time with node-gyp (npm's bundled copy, or one on
// PATH). The addon is optional: when it cannot be built (no compiler, no BLAS headers, no
// node-gyp) this prints one line saying why, records it in build/status.json (the loader reports
// it) and exits 0, so `pnpm install` succeeds and crosscode-ts runs on wasm.
// CROSSCODE_NATIVE_SKIP=1 skips the build; --verbose shows the compiler's output.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const verbose = process.argv.includes("--verbose")
const statusFile = path.join(root, "build", "status.json")
const started = Date.now()

const finish = (ok, reason) => {
  mkdirSync(path.dirname(statusFile), { recursive: true })
  const seconds = Number(((Date.now() - started) / 1000).toFixed(1))
  writeFileSync(statusFile, `${JSON.stringify({ ok, reason, seconds, node: process.version }, null, 2)}\n`)
  console.log(
    ok
      ? `@crosscode/native: addon built in ${seconds}s`
      : `@crosscode/native: addon not built (${reason}); crosscode-ts uses the wasm backend`
  )
  process.exit(0)
}

if (process.env.CROSSCODE_NATIVE_SKIP === "1") finish(false, "CROSSCODE_NATIVE_SKIP=1")

/** node-gyp's CLI: npm's bundled copy next to this Node, else `node-gyp` on PATH. */
const nodeGyp = () => {
  const prefix = path.resolve(path.dirname(process.execPath), "..")
  for (const c of [
    path.join(prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
    path.join(prefix, "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js")
  ]) {
    if (existsSync(c)) return [process.execPath, c]
  }
  const which = spawnSync(process.platform === "win32" ? "where" : "which", ["node-gyp"], { encoding: "utf8" })
  return which.status === 0 ? [which.stdout.trim().split("\n")[0]] : undefined
}

// Node's own headers when they are installed next to it (Debian's nodejs-dev, official tarballs):
// then node-gyp does not download them.
const nodedir = () => {
  const prefix = path.resolve(path.dirname(process.execPath), "..")
  return existsSync(path.join(prefix, "include", "node", "node_api.h")) ? prefix : undefined
}

if (process.platform === "win32") finish(false, "Windows is not supported (no system BLAS)")
const gyp = nodeGyp()
if (gyp === undefined) finish(false, "node-gyp not found (it ships with npm)")
// Where Debian/Ubuntu (libopenblas-dev) and Fedora (openblas-devel) put cblas.h; macOS uses Accelerate.
const cblasDirs = [
  "/usr/include",
  "/usr/include/openblas",
  "/usr/include/x86_64-linux-gnu",
  "/usr/include/x86_64-linux-gnu/openblas-pthread",
  "/usr/include/aarch64-linux-gnu/openblas-pthread"
]
if (process.platform !== "darwin" && !cblasDirs.some((d) => existsSync(path.join(d, "cblas.h"))))
  finish(false, "OpenBLAS headers not found: install libopenblas-dev (Debian/Ubuntu) or openblas-devel")

rmSync(path.join(root, "build", "Release"), { recursive: true, force: true })
const dir = nodedir()
const [cmd, ...pre] = gyp
const r = spawnSync(cmd, [...pre, "rebuild", ...(dir === undefined ? [] : [`--nodedir=${dir}`])], {
  cwd: root,
  encoding: "utf8",
  env: { ...process.env, npm_config_loglevel: verbose ? "info" : "silent" }
})
if (verbose) process.stdout.write(`${r.stdout ?? ""}${r.stderr ?? ""}`)
if (r.status !== 0) {
  const lines = `${r.stdout ?? ""}\n${r.stderr ?? ""}`.split("\n").filter((l) => /error/i.test(l))
  finish(false, `node-gyp failed: ${(lines[0] ?? r.error?.message ?? `exit ${r.status}`).trim()}`)
}
finish(true, "built")
