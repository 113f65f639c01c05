/**
 * The study reads and writes its small files through the `FileSystem` the program provides: a
 * recipe and a run directory that exist only in memory load, a wrapping layer sees the recipe and
 * the model configs `loadRecipe` reads, and the report data comes back from the same service.
 */
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { memoryFileSystem, recordingFileSystem } from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Path } from "effect"
import { describe, expect, it } from "vitest"
import { collectReportData, loadRecipe } from "../src/index.js"

const recipeFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../examples/recipes/embedded.json")

/** Node's file system (NodeServices), recording the paths read. */
const recordingNodeFs = (reads: Array<string>) =>
  recordingFileSystem(reads).pipe(Layer.provide(NodeServices.layer), Layer.merge(Path.layer))

describe("study files through the provided FileSystem", () => {
  it("loads a recipe that exists only in an in-memory file system", async () => {
    const files = new Map([["/virtual/recipes/study.json", readFileSync(recipeFile, "utf8")]])
    const loaded = await Effect.runPromise(
      loadRecipe("/virtual/recipes/study.json", { env: {} }).pipe(Effect.provide(memoryFileSystem(files)))
    )
    expect(loaded.file).toBe("/virtual/recipes/study.json")
    expect(loaded.recipe.models.A).toBe("/virtual/models/embedded-tooluse")
    // not on disk: a RecipeError naming the file, through the same service
    const missing = await Effect.runPromise(
      Effect.flip(loadRecipe("/virtual/recipes/none.json")).pipe(Effect.provide(memoryFileSystem(files)))
    )
    expect(missing).toMatchObject({ _tag: "RecipeError", file: "/virtual/recipes/none.json" })
    expect(missing.message).toContain("cannot read the recipe")
  })

  it("a wrapping layer sees the recipe and both models' config.json (the token-limit check)", async () => {
    const reads: Array<string> = []
    await Effect.runPromise(loadRecipe(recipeFile, { env: {} }).pipe(Effect.provide(recordingNodeFs(reads))))
    expect(reads[0]).toBe(recipeFile)
    expect(reads.filter((p) => p.endsWith("config.json")).map((p) => path.basename(path.dirname(p)))).toEqual([
      "embedded-tooluse",
      "embedded-base"
    ])
  })

  it("collects report data from a run directory held in memory", async () => {
    const files = new Map([["/virtual/recipes/study.json", readFileSync(recipeFile, "utf8")]])
    const layer = memoryFileSystem(files)
    const { recipe } = await Effect.runPromise(
      loadRecipe("/virtual/recipes/study.json", { env: {}, runDir: "/virtual/run" }).pipe(Effect.provide(layer))
    )
    const harvest = { rows: 12, seconds: 1 }
    files.set("/virtual/run/harvest/summary.json", JSON.stringify(harvest))
    const data = await Effect.runPromise(collectReportData("/virtual/run", recipe).pipe(Effect.provide(layer)))
    expect(data.harvest).toEqual(harvest)
    expect(data.crosscoders).toEqual([])
    // a summary that is there but not JSON is a ReportError naming it
    files.set("/virtual/run/evaluate/summary.json", "{ cut")
    const bad = await Effect.runPromise(
      Effect.flip(collectReportData("/virtual/run", recipe)).pipe(Effect.provide(layer))
    )
    expect(bad).toMatchObject({ _tag: "ReportError", path: "/virtual/run/evaluate/summary.json" })
  })
})
