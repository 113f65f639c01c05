/**
 * Test harness for the cluster: the PostgreSQL server the tests use (CROSSCODE_TEST_PG_URL, else a
 * throwaway one when PostgreSQL's server binaries are installed), and `crosscode` processes
 * (runners, coordinators) started with tsx in their own process groups, whose output can be
 * waited on and which can be SIGKILLed.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { findPgBin, startThrowawayPostgres, type ThrowawayPostgres } from "../src/cluster/postgres.js"

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")

export type TestPostgres =
  | { readonly kind: "external"; readonly url: string }
  | { readonly kind: "throwaway"; readonly url: string; readonly server: ThrowawayPostgres }
  | { readonly kind: "none"; readonly why: string }

/** The server the cluster tests run against (decided once, before the tests are collected). */
export const testPostgres = async (): Promise<TestPostgres> => {
  const url = process.env.CROSSCODE_TEST_PG_URL
  if (url !== undefined && url !== "") return { kind: "external", url }
  if (findPgBin() === undefined) {
    return {
      kind: "none",
      why: "no PostgreSQL: set CROSSCODE_TEST_PG_URL=postgres://… or install PostgreSQL's server binaries (initdb, pg_ctl; e.g. /usr/lib/postgresql/15/bin)"
    }
  }
  try {
    const server = await startThrowawayPostgres()
    return { kind: "throwaway", url: server.url, server }
  } catch (e) {
    return { kind: "none", why: `could not start a throwaway PostgreSQL: ${(e as Error).message}` }
  }
}

/** A `crosscode` process; `output` holds everything it printed so far. */
export class CrosscodeProcess {
  readonly child: ChildProcess
  output = ""
  readonly exited: Promise<number | null>
  constructor(
    readonly name: string,
    args: ReadonlyArray<string>
  ) {
    this.child = spawn(
      path.join(repoRoot, "node_modules/.bin/tsx"),
      ["--conditions=source", "packages/study/src/cli.ts", ...args],
      {
        cwd: repoRoot,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NO_COLOR: "1", CROSSCODE_BACKEND: "wasm" }
      }
    )
    const add = (b: Buffer) => {
      this.output += b.toString()
    }
    this.child.stdout?.on("data", add)
    this.child.stderr?.on("data", add)
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)))
  }

  /** Waits until the output matches `pattern` (searching from `from`), or fails after `ms`. */
  async waitFor(pattern: RegExp, ms: number, from = 0): Promise<number> {
    const t0 = Date.now()
    for (;;) {
      const m = pattern.exec(this.output.slice(from))
      if (m !== null) return from + m.index + m[0].length
      if (this.child.exitCode !== null)
        throw new Error(`${this.name} exited (${this.child.exitCode}) before ${pattern}:\n${this.tail()}`)
      if (Date.now() - t0 > ms) throw new Error(`${this.name}: no ${pattern} within ${ms} ms:\n${this.tail()}`)
      await sleep(200)
    }
  }

  tail(n = 3000) {
    return this.output.slice(-n)
  }

  /** SIGKILL to the whole process group (tsx and the node process it runs). */
  kill(signal: NodeJS.Signals = "SIGKILL") {
    if (this.child.pid !== undefined && this.child.exitCode === null) {
      try {
        process.kill(-this.child.pid, signal)
      } catch {
        // already gone
      }
    }
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Waits until `check` holds (polling), or fails with `what` after `ms`. */
export const waitUntil = async (check: () => boolean | Promise<boolean>, ms: number, what: string) => {
  const t0 = Date.now()
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await sleep(250)
  }
}

/** Eval records of a JSONL file by key, without the timing fields (which differ between runs). */
export const recordsByKey = (file: string): Map<string, unknown> => {
  const out = new Map<string, unknown>()
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue
    const { elapsedMs: _e, finishedAt: _f, ...rest } = JSON.parse(line) as Record<string, unknown>
    out.set(rest.key as string, rest)
  }
  return out
}

export const lineCount = (file: string) =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "").length
