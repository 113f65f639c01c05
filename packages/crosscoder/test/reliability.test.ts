/**
 * Issue 15 item 7: after a kill, the run directory is made consistent with the checkpoint the
 * trainer resumes from — stale temporary checkpoints are removed and `metrics.jsonl` holds each
 * logged step once (no line of the killed segment survives to be duplicated, no cut line remains).
 */
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { TensorBackend } from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, Fiber, Layer, References } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { type CrosscoderConfig, Plugins, paperLoss, sourcesFor, train } from "../src/index.js"
import { memorySourceLayer, randomArray } from "./helpers.js"

const d = 6
const sources = sourcesFor(["A", "B"])
const config: CrosscoderConfig = {
  architecture: { sources, dim: d, features: 24 },
  sparsity: { kind: "topk", k: 3 },
  partition: { kind: "dfc", fractions: [0.125, 0.125] }
}
const layer = Layer.mergeAll(
  NodeServices.layer,
  TensorBackend.layerFor("wasm"),
  Plugins.layer,
  memorySourceLayer(randomArray(128 * 2 * d, 1, 1), sources, d)
)
const dirs: Array<string> = []
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

const trainTo = (dir: string, stopAfter: number) =>
  Effect.runPromise(
    train(config, {
      steps: 12,
      stopAfter,
      batchSize: 16,
      lr: 1e-2,
      loss: paperLoss(0.01, 0.01),
      logEvery: 2,
      checkpoint: { dir, every: 3, keep: 2 }
    }).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Error"), Effect.asVoid)
  )

const metricLines = async (dir: string) =>
  (await readFile(path.join(dir, "metrics.jsonl"), "utf8"))
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as { step: number; loss: number })

describe("training resume after a kill (issue 15 item 7)", () => {
  it("removes stale temp checkpoints and keeps metrics.jsonl consistent with the checkpoint", async () => {
    const whole = await mkdtemp(path.join(tmpdir(), "trainer-whole-"))
    const killed = await mkdtemp(path.join(tmpdir(), "trainer-killed-"))
    dirs.push(whole, killed)
    await trainTo(whole, 12)

    await trainTo(killed, 6)
    // What a SIGKILL between the step-8 log line and the step-9 checkpoint's rename leaves behind:
    // a metrics line past the checkpoint (step 8), a line cut mid-write, a half-written checkpoint
    // directory and a half-written latest.json.
    await appendFile(path.join(killed, "metrics.jsonl"), `${JSON.stringify({ step: 8, loss: 1 })}\n{"step": 10, "lo`)
    const tmpCheckpoint = path.join(killed, "checkpoints", "step-000000009.tmp-4242")
    await mkdir(tmpCheckpoint)
    await writeFile(path.join(tmpCheckpoint, "model.safetensors"), Buffer.alloc(1 << 16))
    await writeFile(path.join(killed, "latest.json.tmp-4242"), "{")

    await trainTo(killed, 12)
    expect((await readdir(path.join(killed, "checkpoints"))).sort()).toEqual(["step-000000009", "step-000000012"])
    expect(await readdir(killed)).not.toContain("latest.json.tmp-4242")
    const resumed = await metricLines(killed)
    expect(resumed.map((m) => m.step)).toEqual([2, 4, 6, 8, 10, 12])
    // The resumed run is bit-identical to the uninterrupted one, and so is its log.
    expect(resumed.map((m) => m.loss)).toEqual((await metricLines(whole)).map((m) => m.loss))
  })
})

/**
 * Issue 15 item 8: an interrupt (Ctrl-C, SIGTERM, a timeout) lands at the next step. A step is
 * synchronous tensor work; an interrupt requested from outside is delivered when the fiber next
 * yields (the trainer yields between steps). Here it is requested from inside
 * step 4's progress callback; no step may be logged after it, and the run resumes from its
 * checkpoint to the same losses as an uninterrupted run.
 */
describe("training interruption (issue 15 item 8)", () => {
  it("stops at the next step and resumes bit-identically", async () => {
    const whole = await mkdtemp(path.join(tmpdir(), "trainer-intr-whole-"))
    const stopped = await mkdtemp(path.join(tmpdir(), "trainer-intr-stopped-"))
    dirs.push(whole, stopped)
    await trainTo(whole, 12)
    const logged: Array<number> = []
    let fiber: Fiber.Fiber<unknown, unknown> | undefined
    fiber = Effect.runFork(
      train(
        config,
        {
          steps: 12,
          batchSize: 16,
          lr: 1e-2,
          loss: paperLoss(0.01, 0.01),
          logEvery: 2,
          checkpoint: { dir: stopped, every: 3, keep: 2 }
        },
        {
          onProgress: (p) => {
            logged.push(p.step)
            if (p.step === 4) setImmediate(() => Effect.runFork(Fiber.interrupt(fiber!)))
          }
        }
      ).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Error"))
    )
    const exit = await Effect.runPromise(Fiber.await(fiber))
    expect(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause), `${exit._tag} ${logged}`).toBe(true)
    expect(Math.max(...logged)).toBe(4)
    await trainTo(stopped, 12)
    const resumed = await metricLines(stopped)
    expect(resumed.map((m) => m.step)).toEqual([2, 4, 6, 8, 10, 12])
    expect(resumed.map((m) => m.loss)).toEqual((await metricLines(whole)).map((m) => m.loss))
  })
})
