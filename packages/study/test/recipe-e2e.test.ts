/**
 * End to end: `crosscode run examples/recipes/embedded.json` with smaller settings and fixed seeds,
 * on the WebAssembly backend, through the real CLI. Checks the study's expected outcome on the
 * embedded pair, every number computed from this run:
 *
 * - A's clean tool correctness is clearly above B's;
 * - reconstruction through the DFC keeps most of A's behaviour;
 * - at least one A-exclusive feature's steering (a grid cell, or a top feature alone) raises A's
 *   tool correctness;
 * - B-exclusive steering changes nothing (sweep cells, and a direct check with every B-exclusive
 *   feature at α = 32 that some of them are active and the generations are identical);
 *
 * and that the report exists with its tables and plots, and a second run skips every stage.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { cleanIntervention, Progress, TensorBackend } from "@crosscode/core"
import { Plugins } from "@crosscode/crosscoder"
import { makeEvalRunner } from "@crosscode/eval"
import { PairEncoder, sparseFromDense, steerFeatures, steeringDelta } from "@crosscode/steering"
import { NodeServices } from "@effect/platform-node"
import { Effect, Exit, Layer } from "effect"
import { afterAll, describe, expect, it, vi } from "vitest"
import { runCli } from "../src/cli/commands.js"
import { makeRunContext, recipeModels } from "../src/recipe/context.js"
import { loadRecipe } from "../src/recipe/load.js"
import { readStageRecord } from "../src/recipe/runDir.js"
import { readTexts, samplePrompts, studyTask, TOOL_METRIC } from "../src/recipe/sources.js"
import type { EvalSummary } from "../src/recipe/stages/evaluate.js"
import type { RankSummary } from "../src/recipe/stages/rank.js"
import type { SingleFeatureCell } from "../src/recipe/stages/steer.js"
import type { CrosscoderSummary } from "../src/recipe/stages/train.js"
import type { SweepResult } from "../src/sweep/Sweep.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const recipeFile = path.resolve(here, "../../../examples/recipes/embedded.json")
const runDir = mkdtempSync(path.join(tmpdir(), "crosscode-e2e-"))
afterAll(() => rmSync(runDir, { recursive: true, force: true }))

/** The embedded recipe, scaled down for CI (2 cores, a few minutes). */
const SMALL = [
  "harvest.text.sources.0.samples=600",
  "harvest.text.sources.1.samples=600",
  "harvest.text.sources.2.samples=100",
  "crosscoders.0.steps=400",
  "crosscoders.1.steps=400",
  "crosscoders.0.evalEvery=200",
  "crosscoders.1.evalEvery=200",
  "crosscoders.0.evalRows=1024",
  "crosscoders.1.evalRows=1024",
  "crosscoders.0.logEvery=100",
  "crosscoders.1.logEvery=100",
  "evaluate.n=20",
  "rank.n=60",
  "rank.scanRows=600",
  'rank.crosscoders=["dfc"]',
  'steer.partitions=["A-excl","B-excl"]',
  "steer.kPercents=[34,100]",
  "steer.alphas=[1,16,32]",
  "steer.n=20",
  "steer.singleFeatures.alphas=[8,16]"
]

const cli = (args: ReadonlyArray<string>) => {
  const out: Array<string> = []
  const log = vi.spyOn(console, "log").mockImplementation((...a: Array<unknown>) => {
    out.push(a.join(" "))
  })
  return Effect.runPromiseExit(
    runCli(args).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, Progress.layerSilent)))
  ).then((exit) => {
    log.mockRestore()
    return { exit, output: out.join("\n") }
  })
}

const readJson = <A>(...parts: Array<string>): A => JSON.parse(readFileSync(path.join(runDir, ...parts), "utf8")) as A

describe("the embedded study, end to end", () => {
  it("reproduces the expected outcome", async () => {
    const t0 = performance.now()
    const args = ["run", recipeFile, "--run-dir", runDir, "--backend", "wasm", ...SMALL.flatMap((s) => ["--set", s])]
    const first = await cli(args)
    if (Exit.isFailure(first.exit)) throw new Error(`crosscode run failed: ${JSON.stringify(first.exit.cause)}`)
    const seconds = (performance.now() - t0) / 1000
    console.log(`${first.output}\ne2e run: ${seconds.toFixed(0)} s`)

    const ev = readJson<EvalSummary>("evaluate", "summary.json")
    const dfc = ev.crosscoders.find((c) => c.name === "dfc")!
    // A's clean tool correctness is clearly above B's
    expect(ev.clean.A.tool.pct - ev.clean.B.tool.pct).toBeGreaterThanOrEqual(15)
    expect(ev.clean.A.tool.lo).toBeGreaterThan(ev.clean.B.tool.pct)
    // reconstruction keeps most of A's behaviour
    expect(dfc.recon.A.tool.pct).toBeGreaterThanOrEqual(0.5 * ev.clean.A.tool.pct)

    const sweep = readJson<SweepResult>("steer", "sweep.json")
    const aExcl = sweep.cells.filter((c) => c.partition === "A-excl" && c.stats !== undefined)
    expect(aExcl.length).toBeGreaterThan(0)
    // at least one A-exclusive feature's steering raises A's tool correctness: a grid cell (top
    // k% by d) or one of the top A-exclusive features steered alone
    const singles = readJson<Array<SingleFeatureCell>>("steer", "singles.json").filter((c) => c.partition === "A-excl")
    expect(singles.length).toBeGreaterThan(0)
    const raised = [
      ...aExcl.map((c) => ({ delta: c.stats!.delta, rescued: c.stats!.mcnemar?.rescued ?? 0 })),
      ...singles.map((c) => ({ delta: c.stats.delta, rescued: c.stats.mcnemar?.rescued ?? 0 }))
    ]
    expect(Math.max(...raised.map((r) => r.delta))).toBeGreaterThan(0)
    expect(raised.some((r) => r.delta > 0 && r.rescued > 0)).toBe(true)
    // α = 1 is a no-op
    for (const c of aExcl.filter((c) => c.alpha === 1)) expect(c.stats!.delta).toBe(0)
    // B-exclusive steering changes nothing (cells with tool-signed B-exclusive features, if any)
    for (const c of sweep.cells.filter((c) => c.partition === "B-excl" && c.stats !== undefined)) {
      expect(c.stats!.delta).toBe(0)
      expect(c.stats!.mcnemar?.rescued ?? 0).toBe(0)
      expect(c.stats!.mcnemar?.broken ?? 0).toBe(0)
    }

    // the training curves and the partition's integrity
    const cc = readJson<CrosscoderSummary>("train", "dfc", "summary.json")
    expect(cc.final.fve).toBeGreaterThan(0.5)
    expect(cc.integrity.encoderMaxForbidden).toBe(0)
    expect(cc.integrity.decoderMaxForbidden).toBe(0)
    expect(cc.relativeNormA.slice(0, cc.groups[0]!.count).every((r) => r === 1)).toBe(true)
    const rank = readJson<RankSummary>("rank", "dfc", "top-features.json")
    expect(rank.topFeatures.some((f) => f.group === "exclusive:A" && f.topTexts.length > 0)).toBe(true)

    // the report
    const md = readFileSync(path.join(runDir, "report", "report.md"), "utf8")
    for (const s of [
      "## Reconstruction and spillover",
      "## Steering",
      "## Features",
      "ΔA (RL model) and ΔB",
      "*A-excl: Δ tool correctness"
    ])
      expect(md).toContain(s)
    for (const p of ["steering-heatmap", "alpha-curves", "decoder-norms", "training-curves", "reconstruction"]) {
      expect(existsSync(path.join(runDir, "report", `${p}.svg`))).toBe(true)
    }
    expect(existsSync(path.join(runDir, "report", "report.html"))).toBe(true)
    expect(first.output).toMatch(/best single feature: A-excl #\d+/)

    // a second run skips every completed stage
    const tokens = Object.fromEntries(
      ["harvest", "train", "evaluate", "rank", "steer"].map((s) => [s, readStageRecord(runDir, s as "harvest")?.token])
    )
    const second = await cli(args)
    expect(Exit.isSuccess(second.exit)).toBe(true)
    for (const [s, t] of Object.entries(tokens)) expect(readStageRecord(runDir, s as "harvest")?.token).toBe(t)
  }, 600_000)

  it("B-exclusive steering of A is exactly a no-op, with the B-exclusive features active", async () => {
    const loaded = await Effect.runPromise(
      loadRecipe(recipeFile, { runDir, set: SMALL }).pipe(Effect.provide(NodeServices.layer))
    )
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const ctx = makeRunContext(loaded, yield* recipeModels(loaded.recipe))
        const pe = yield* ctx.pairEncoder("dfc")
        const cc = pe.crosscoder
        const models = yield* ctx.models
        const tokenizer = yield* ctx.tokenizer
        const features = Array.from(cc.partition.groups.find((g) => g.name === "exclusive:B")!.indices)
        // where the B-exclusive features are active: general text and the evaluation prompts
        const items = yield* samplePrompts(loaded.recipe.evaluate.prompts, 10, 42, "test")
        const general = yield* readTexts(loaded.recipe.rank.generalTexts, 20, "test")
        const enc = yield* pe.encodeLastTokens(
          [...general, ...items.map((i) => i.toolRlSystem!)].map((t) => tokenizer.encode(t))
        )
        const codes = sparseFromDense(enc.codes, enc.rows, cc.features)
        let active = 0
        for (let r = 0; r < enc.rows; r++) for (const j of features) if (enc.codes[r * cc.features + j]! > 0) active++
        const maxAbs = (v: Float32Array) => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0)
        const intoA = maxAbs(steeringDelta(cc, codes, pe.sourcesOf("A")[0]!, features, 32))
        const intoB = maxAbs(steeringDelta(cc, codes, pe.sourcesOf("B")[0]!, features, 32))
        // and the generations of A with every B-exclusive feature steered at α = 32
        const runner = makeEvalRunner({ model: models.A, tokenizer })
        const task = studyTask(items, "b-excl-check")
        const settings = { maxNewTokens: 48 }
        const clean = yield* runner.run({ run: "clean", task, intervention: cleanIntervention, settings })
        const steered = yield* runner
          .run({ run: "b-excl", task, intervention: steerFeatures({ target: "A", features, alpha: 32 }), settings })
          .pipe(Effect.provideService(PairEncoder, pe))
        return { active, intoA, intoB, clean: clean.records, steered: steered.records }
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.mergeAll(TensorBackend.layerFor("wasm"), Plugins.layer, NodeServices.layer))
      )
    )
    console.log(
      `B-exclusive features active ${result.active} times; steering delta max |·| into A ${result.intoA}, into B ${result.intoB}`
    )
    expect(result.active).toBeGreaterThan(0)
    expect(result.intoB).toBeGreaterThan(0)
    expect(result.intoA).toBe(0)
    expect(result.steered.map((r) => r.response)).toEqual(result.clean.map((r) => r.response))
    expect(result.steered.map((r) => r.metrics[TOOL_METRIC])).toEqual(result.clean.map((r) => r.metrics[TOOL_METRIC]))
  }, 300_000)
})
