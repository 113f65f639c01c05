// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the tests write ${VAR} references on purpose
// biome-ignore-all lint/suspicious/noExplicitAny: recipe JSON is edited freely in these tests
/**
 * Recipe files: the shipped recipes decode, errors name the offending field, `${VAR}` and `--set`
 * work, paths resolve, the dry-run plan is right, and the run directory's stage bookkeeping
 * (complete / pending / stale / outdated) behaves.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Exit } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { applySet, decodeRecipe, expandEnv, loadRecipe } from "../src/recipe/load.js"
import { newToken, readStageRecord, stageFingerprint, stageStatus, writeStageRecord } from "../src/recipe/runDir.js"
import { formatPlan, planStages } from "../src/recipe/runner.js"
import { STAGES } from "../src/recipe/schema.js"
import { expectedHarvestRows, harvestSource } from "../src/recipe/sources.js"
import { runFiles, runFilesExit } from "./files.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const recipes = path.resolve(here, "../../../examples/recipes")
const embedded = path.join(recipes, "embedded.json")
const paper = path.join(recipes, "paper-qwen2.5-3b.json")
const tmp = mkdtempSync(path.join(tmpdir(), "crosscode-recipe-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const load = (file: string, o: Parameters<typeof loadRecipe>[1] = {}) =>
  runFiles(loadRecipe(file, { cwd: tmp, env: {}, ...o }))
const failure = async (json: unknown, o: Parameters<typeof decodeRecipe>[2] = {}) => {
  const exit = await runFilesExit(decodeRecipe(json, path.join(tmp, "r.json"), { cwd: tmp, env: {}, ...o }))
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  return String(Exit.isFailure(exit) ? JSON.stringify(exit.cause) : "")
}
const embeddedJson = () => JSON.parse(readFileSync(embedded, "utf8")) as Record<string, any>

describe("shipped recipes", () => {
  it("embedded.json decodes, with inputs resolved against the recipe's directory", async () => {
    const { recipe } = await load(embedded)
    expect(recipe.models.A).toBe(path.resolve(recipes, "../models/embedded-tooluse"))
    expect(recipe.models.B).toBe(path.resolve(recipes, "../models/embedded-base"))
    expect(recipe.runDir).toBe(path.resolve(tmp, "runs/embedded"))
    expect(recipe.crosscoders.map((c) => c.partition)).toEqual([{ A: 0.1, B: 0.1 }, "none"])
    expect(recipe.evaluate.prompts.path).toBe(path.resolve(recipes, "../data/embedded/eval-tool-prompts.jsonl"))
    expect(recipe.harvest.text.kind).toBe("mix")
  })

  it("paper-qwen2.5-3b.json has the paper's settings", async () => {
    const { recipe } = await load(paper)
    expect(recipe.site.layer).toBe(13)
    const dfcs = recipe.crosscoders.filter((c) => c.partition !== "none")
    expect(
      recipe.crosscoders.every(
        (c) => c.features === 8192 && c.k === 45 && c.steps === 9000 && c.batchSize === 1024 && c.lr === 1e-4
      )
    ).toBe(true)
    expect(dfcs.map((c) => c.partition)).toEqual([
      { A: 0.1, B: 0.1 },
      { A: 0.05, B: 0.05 }
    ])
    expect(recipe.crosscoders.some((c) => c.partition === "none")).toBe(true)
    expect(recipe.steer.alphas).toEqual([1, 6, 16, 32, 64])
    expect(recipe.steer.n).toBe(40)
    expect(recipe.evaluate.n).toBe(100)
    expect(recipe.evaluate.seed).toBe(42)
    expect(recipe.evaluate.maxNewTokens).toBe(200)
    expect(recipe.harvest.text).toMatchObject({ kind: "paper", samplesPerDataset: 40000 })
    // default model locations: <repo>/models/…
    expect(recipe.models.A).toBe(path.resolve(recipes, "../../models/ToolRL-Qwen2.5-3B"))
  })

  it("paper recipe: model directories come from the environment or the flags", async () => {
    const fromEnv = await load(paper, {
      env: { CROSSCODE_MODEL_A: "/m/rl", CROSSCODE_MODEL_B: "/m/base", CROSSCODE_TOKENIZER: "/m/base" }
    })
    expect(fromEnv.recipe.models).toEqual({ A: "/m/rl", B: "/m/base" })
    expect(fromEnv.recipe.tokenizer).toBe("/m/base")
    const fromFlags = await load(paper, { modelA: "x/rl", modelB: "x/base", tokenizer: "x/base" })
    expect(fromFlags.recipe.models).toEqual({ A: path.join(tmp, "x/rl"), B: path.join(tmp, "x/base") })
    expect(fromFlags.recipe.tokenizer).toBe(path.join(tmp, "x/base"))
  })

  it("the dry run of the paper recipe lists every stage with the paper's settings and flags missing models", async () => {
    const loaded = await load(paper, { runDir: path.join(tmp, "paper-run") })
    const plan = planStages(loaded)
    expect(plan.map((p) => p.stage)).toEqual([...STAGES])
    expect(plan.map((p) => p.action)).toEqual(["run", "run", "run", "run", "run", "run"])
    const text = formatPlan(loaded, plan)
    expect(text).toContain("site: block 13 output")
    expect(text).toContain("dfc-D8k-excl10-k45: D = 8192, k = 45, DFC A 10% / B 10% exclusive")
    expect(text).toContain("dfc-D8k-excl5-k45: D = 8192, k = 45, DFC A 5% / B 5% exclusive")
    expect(text).toContain("α 1, 6, 16, 32, 64, 40 prompts per cell")
    expect(text).toContain("100 prompts from")
    expect(text).toMatch(/ToolRL-Qwen2\.5-3B \(MISSING\)/)
  })
})

describe("recipe errors name the field", () => {
  it("a wrong type", async () => {
    const j = embeddedJson()
    j.crosscoders[0].k = "sixteen"
    const msg = await failure(j)
    expect(msg).toContain('[\\"crosscoders\\"][0][\\"k\\"]')
  })

  it("an unknown key (a typo)", async () => {
    const j = embeddedJson()
    j.steer.alpha = [1, 2]
    const msg = await failure(j)
    expect(msg).toContain('[\\"steer\\"][\\"alpha\\"]')
  })

  it("a missing field", async () => {
    const j = embeddedJson()
    delete j.evaluate.n
    expect(await failure(j)).toContain('[\\"evaluate\\"][\\"n\\"]')
  })

  it("cross-field problems", async () => {
    const j = embeddedJson()
    j.steer.crosscoder = "nope"
    j.crosscoders[1].name = "dfc"
    j.crosscoders[0].k = 100000
    const msg = await failure(j)
    expect(msg).toContain('unknown crosscoder \\"nope\\"')
    expect(msg).toContain('the name \\"dfc\\" is used twice')
    expect(msg).toContain("exceeds features")
  })

  it("an environment variable without a default", async () => {
    const j = embeddedJson()
    j.models.A = "${MY_MODEL}"
    const msg = await failure(j)
    expect(msg).toContain("MY_MODEL")
    expect(msg).toContain('[\\"models\\"][\\"A\\"]')
  })

  it("unreadable and non-JSON files", async () => {
    const bad = path.join(tmp, "bad.json")
    writeFileSync(bad, "{ not json")
    const exit = await runFilesExit(loadRecipe(bad, { cwd: tmp }))
    expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("not valid JSON")
    const missing = await runFilesExit(loadRecipe(path.join(tmp, "none.json"), { cwd: tmp }))
    expect(Exit.isFailure(missing) && JSON.stringify(missing.cause)).toContain("cannot read the recipe")
  })
})

describe("harvest text", () => {
  it("a mix takes each source's own sample count", async () => {
    const { recipe } = await load(embedded)
    const t = recipe.harvest.text
    expect(t.kind === "mix" && t.sources.map((s) => s.samples)).toEqual([2000, 2000, 200])
    expect(expectedHarvestRows(t)).toBe(4200)
    expect(harvestSource(t, 0).name).toContain("rank-tool-prompts.jsonl")
    const concat = harvestSource({ ...t, order: "concat" } as typeof t, 0).name
    expect(concat.startsWith("concat(")).toBe(true)
  })

  it("a mix source without a count, and no samplesPerSource, is an error naming it", async () => {
    const j = embeddedJson()
    delete j.harvest.text.sources[1].samples
    expect(await failure(j)).toContain('[\\"harvest\\"][\\"text\\"][\\"sources\\"][1][\\"samples\\"]')
  })
})

describe("overrides", () => {
  it("${VAR} and ${VAR:-default} expand in every string", () => {
    const r = expandEnv({ a: "${X}/m", b: ["${Y:-dflt}"], c: 3 }, { X: "/root" })
    expect(r.value).toEqual({ a: "/root/m", b: ["dflt"], c: 3 })
    expect(r.missing).toEqual([])
    expect(expandEnv({ a: "${Z}" }, {}).missing).toEqual(['Z (at ["a"])'])
  })

  it("--set assigns JSON values by dotted path (array indices included)", async () => {
    expect(applySet({ a: { b: [1, { c: 2 }] } }, "a.b.1.c=5").value).toEqual({ a: { b: [1, { c: 5 }] } })
    expect(applySet({}, "x.y=hello").value).toEqual({ x: { y: "hello" } })
    expect(applySet({}, "novalue").error).toContain("key.path=value")
    const { recipe } = await load(embedded, {
      set: ["crosscoders.0.steps=10", "steer.alphas=[1,2]", "runDir=elsewhere"]
    })
    expect(recipe.crosscoders[0]!.steps).toBe(10)
    expect(recipe.steer.alphas).toEqual([1, 2])
    expect(recipe.runDir).toBe(path.join(tmp, "elsewhere"))
  })
})

describe("run directory bookkeeping", () => {
  it("complete → pending → stale → outdated", async () => {
    const runDir = path.join(tmp, "bookkeeping")
    const { recipe } = await load(embedded, { runDir })
    expect(stageStatus(runDir, recipe, "harvest")).toEqual({ kind: "pending", partial: false })
    const harvest = {
      stage: "harvest" as const,
      fingerprint: stageFingerprint(recipe, "harvest"),
      token: newToken(),
      upstream: {},
      completedAt: "t",
      seconds: 1
    }
    await runFiles(writeStageRecord(runDir, harvest))
    expect(stageStatus(runDir, recipe, "harvest").kind).toBe("complete")
    await runFiles(
      writeStageRecord(runDir, {
        ...harvest,
        stage: "train",
        fingerprint: stageFingerprint(recipe, "train"),
        upstream: { harvest: harvest.token }
      })
    )
    expect(stageStatus(runDir, recipe, "train").kind).toBe("complete")
    // a different recipe: both stale (train's fingerprint includes the harvest settings)
    const changed = { ...recipe, harvest: { ...recipe.harvest, maxLength: 64 } }
    expect(stageStatus(runDir, changed, "harvest").kind).toBe("stale")
    expect(stageStatus(runDir, changed, "train").kind).toBe("stale")
    // changing only the steering grid leaves harvest and train complete
    const steerOnly = { ...recipe, steer: { ...recipe.steer, alphas: [1, 2] as [number, ...Array<number>] } }
    expect(stageStatus(runDir, steerOnly, "train").kind).toBe("complete")
    // the harvest is rerun: train is outdated
    await runFiles(writeStageRecord(runDir, { ...harvest, token: newToken() }))
    expect(stageStatus(runDir, recipe, "train")).toMatchObject({ kind: "outdated", because: "harvest" })
    expect(readStageRecord(runDir, "train")?.upstream.harvest).toBe(harvest.token)
    // the plan reports it
    const plan = planStages({ file: embedded, recipe, raw: {} })
    expect(plan.find((p) => p.stage === "harvest")?.action).toBe("skip")
    expect(plan.find((p) => p.stage === "train")?.action).toBe("rerun")
    expect(planStages({ file: embedded, recipe: changed, raw: {} }).find((p) => p.stage === "harvest")?.action).toBe(
      "refuse"
    )
    expect(planStages({ file: embedded, recipe, raw: {} }, { force: ["train"] }).map((p) => p.action)).toEqual([
      "skip",
      "rerun",
      "rerun",
      "rerun",
      "rerun",
      "rerun"
    ])
  })
})

describe("site by hook name", () => {
  it("accepts a TransformerLens name for the block output and refuses a block input", async () => {
    const named = await runFiles(
      decodeRecipe({ ...embeddedJson(), site: "blocks.1.hook_resid_post" }, embedded, { cwd: tmp, env: {} })
    )
    expect(named.recipe.site).toEqual({ layer: 1 })
    expect(await failure({ ...embeddedJson(), site: "blocks.2.hook_resid_pre" })).toContain(
      'use \\"blocks.1.hook_resid_post\\" (the same activations)'
    )
    expect(await failure({ ...embeddedJson(), site: "blocks.2.attn.hook_z" })).toContain("is not a site name")
  })
})
