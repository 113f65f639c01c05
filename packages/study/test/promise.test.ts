/** The Promise API (`runRecipe`, `planRecipe`): what a caller who does not write Effect gets. */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { planRecipe, RecipeError, runRecipe } from "../src/index.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const recipeFile = path.resolve(here, "../../../examples/recipes/embedded.json")
const runDir = mkdtempSync(path.join(tmpdir(), "crosscode-promise-"))
afterAll(() => rmSync(runDir, { recursive: true, force: true }))
const TINY = [
  "harvest.text.sources.0.samples=12",
  "harvest.text.sources.1.samples=12",
  "harvest.text.sources.2.samples=4",
  "harvest.maxLength=64",
  // 28 rows: a batch must fit in them (checked when the recipe is validated)
  "crosscoders.0.batchSize=16",
  "crosscoders.1.batchSize=16"
]

describe("Promise API", () => {
  it("planRecipe resolves with the stage plan as data and text", async () => {
    const plan = await planRecipe(recipeFile, { runDir, set: TINY })
    expect(plan.stages.map((s) => s.stage)).toEqual(["harvest", "train", "evaluate", "rank", "steer", "report"])
    expect(plan.stages.every((s) => s.action === "run")).toBe(true)
    expect(plan.text).toContain("harvest")
  })

  it("runRecipe runs the selected stages, then skips them as complete", async () => {
    const options = { runDir, set: TINY, stages: ["harvest" as const], backend: "wasm" as const, progress: false }
    const first = await runRecipe(recipeFile, options)
    expect(first.runDir).toBe(runDir)
    expect(first.outcomes.map((o) => [o.stage, o.action])).toEqual([["harvest", "run"]])
    const second = await runRecipe(recipeFile, options)
    expect(second.outcomes.map((o) => [o.stage, o.action])).toEqual([["harvest", "skip"]])
    expect(second.headline[0]).toContain(runDir)
  }, 120_000)

  it("rejects with the typed error itself", async () => {
    const error = await runRecipe(path.join(runDir, "missing.json")).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RecipeError)
    expect((error as RecipeError).message).toContain("cannot read the recipe")
  })
})
