/**
 * Issue 15 item 8: Ctrl-C (SIGINT) and SIGTERM stop `crosscode run` cleanly during harvest and
 * training — exit status 130, resumable state — and a rerun resumes and completes.
 *
 * The command is spawned exactly as the workspace's `pnpm crosscode` script runs it. (It used to
 * run under the `tsx` wrapper, which relays a signal to the child and SIGKILLs it when the child
 * does not acknowledge within 30 ms — always the case while a forward pass or a training step
 * holds the event loop — so SIGTERM during a harvest ended with 143 and no cleanup.)
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"

const here = path.dirname(fileURLToPath(import.meta.url))
const repoRoot = path.resolve(here, "../../..")
const runDir = mkdtempSync(path.join(tmpdir(), "crosscode-interrupt-"))
afterAll(() => rmSync(runDir, { recursive: true, force: true }))

const SMALL = [
  "harvest.text.sources.0.samples=60",
  "harvest.text.sources.1.samples=60",
  "harvest.text.sources.2.samples=20",
  "harvest.shardRows=16",
  "crosscoders.0.steps=400",
  "crosscoders.1.steps=400",
  "crosscoders.0.batchSize=32",
  "crosscoders.1.batchSize=32",
  "crosscoders.0.evalEvery=100",
  "crosscoders.1.evalEvery=100"
].flatMap((s) => ["--set", s])

/** The root package.json's `crosscode` script as a command and arguments. */
const crosscodeCommand = (): [string, Array<string>] => {
  const script = (
    JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
      scripts: Record<string, string>
    }
  ).scripts.crosscode!
  const [cmd, ...args] = script.split(/\s+/)
  return [cmd === "node" ? process.execPath : path.join(repoRoot, "node_modules/.bin", cmd!), args]
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

class Cli {
  readonly child: ChildProcess
  output = ""
  readonly exited: Promise<number | null>
  constructor(args: ReadonlyArray<string>) {
    const [cmd, pre] = crosscodeCommand()
    this.child = spawn(cmd, [...pre, "run", "examples/recipes/embedded.json", "--run-dir", runDir, ...SMALL, ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", CROSSCODE_BACKEND: "wasm" }
    })
    const add = (b: Buffer) => {
      this.output += b.toString()
    }
    this.child.stdout?.on("data", add)
    this.child.stderr?.on("data", add)
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => resolve(code ?? (signal ? -1 : null)))
    )
  }
  async waitFor(pattern: RegExp, ms: number): Promise<void> {
    const t0 = Date.now()
    while (!pattern.test(this.output)) {
      if (this.child.exitCode !== null)
        throw new Error(`exited (${this.child.exitCode}) before ${pattern}:\n${this.output}`)
      if (Date.now() - t0 > ms) throw new Error(`no ${pattern} within ${ms} ms:\n${this.output}`)
      await sleep(100)
    }
  }
}

/** Rows the activation store's manifest lists (0 before the first shard). */
const storeRows = (): number => {
  try {
    return (JSON.parse(readFileSync(path.join(runDir, "harvest/store/manifest.json"), "utf8")) as { rows: number }).rows
  } catch {
    return 0
  }
}

const stageDone = (stage: string) => existsSync(path.join(runDir, stage, "stage.json"))

describe("crosscode run: Ctrl-C and SIGTERM (issue 15 item 8)", () => {
  it("SIGINT during harvest and SIGTERM during training exit 130; a rerun resumes and completes", async () => {
    // 1. Interrupt the harvest once a few shards are written.
    const a = new Cli(["--until", "train"])
    await a.waitFor(/\[harvest\] started/, 120_000)
    const t0 = Date.now()
    while (storeRows() === 0 && Date.now() - t0 < 120_000) await sleep(100)
    a.child.kill("SIGINT")
    expect(await a.exited, a.output).toBe(130)
    expect(stageDone("harvest")).toBe(false)
    expect(storeRows()).toBeGreaterThan(0)
    expect(storeRows()).toBeLessThan(140)

    // 2. Resume the harvest; SIGTERM during the first crosscoder's training.
    const b = new Cli(["--until", "train"])
    await b.waitFor(/harvest: resuming/, 120_000)
    // The curve point of step 100 is measured after that step's checkpoint is written.
    await b.waitFor(/train dfc step 100: FVE/, 180_000)
    b.child.kill("SIGTERM")
    expect(await b.exited, b.output).toBe(130)
    expect(stageDone("harvest")).toBe(true)
    expect(stageDone("train")).toBe(false)

    // 3. A rerun resumes training from its checkpoint and completes.
    const c = new Cli(["--until", "train"])
    expect(await c.exited, c.output).toBe(0)
    expect(c.output).toMatch(/started: [1-9]\d*\/400 steps already done/)
    expect(stageDone("train")).toBe(true)
  }, 600_000)
})
