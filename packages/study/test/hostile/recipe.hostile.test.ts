/**
 * Hostile recipes for `loadRecipe`: each is a typed `RecipeError` naming the file and the field at
 * fault, or a recipe that loads. The limits of issue 15 item 5 are checked here, before anything
 * runs (`--dry-run` loads the recipe the same way): a crosscoder batch larger than the harvested
 * rows, and token budgets beyond the models' `max_position_embeddings` (1024 for the embedded pair).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect } from "vitest"
import { type HostileCase, hostileCases } from "../../../../test-support/hostile.js"
import { type LoadedRecipe, loadRecipe } from "../../src/recipe/load.js"
import { runFilesExit } from "../files.js"

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..")
const original = readFileSync(path.join(repo, "examples/recipes/embedded.json"), "utf8")
const tmp = mkdtempSync(path.join(tmpdir(), "hostile-recipe-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

interface Ctx {
  readonly file: string
  json: Record<string, unknown> | undefined
  text: string | undefined
}
type Json = Record<string, any>
const edit = (f: (r: Json) => void) => (ctx: Ctx) => f(ctx.json as Json)
const raw = (text: string) => (ctx: Ctx) => {
  ctx.text = text
}
const RE = "RecipeError"
const field = (name: string, f: (r: Json) => void, pattern: RegExp): HostileCase<Ctx, LoadedRecipe> => ({
  name,
  corrupt: edit(f),
  expect: { tag: RE, message: pattern }
})

const cases: ReadonlyArray<HostileCase<Ctx, LoadedRecipe>> = [
  { name: "not JSON", corrupt: raw("{ recipe"), expect: { tag: RE, message: /not valid JSON/ } },
  { name: "an empty file", corrupt: raw(""), expect: { tag: RE, message: /not valid JSON/ } },
  { name: "a JSON array", corrupt: raw("[]"), expect: { tag: RE, message: /invalid recipe/ } },
  field("crosscoders.0.k = 0", (r) => (r.crosscoders[0].k = 0), /crosscoders\.0\.k/),
  field("k larger than features", (r) => (r.crosscoders[0].k = 4096), /k = 4096 exceeds features/),
  field("an unknown top-level field", (r) => (r.colour = "blue"), /colour/),
  field("models missing", (r) => delete r.models, /models/),
  field("runDir is a number", (r) => (r.runDir = 7), /runDir/),
  field("a crosscoder name used twice", (r) => (r.crosscoders[1].name = "dfc"), /"dfc" is used twice/),
  field(
    "exclusive shares leave no shared features",
    (r) => (r.crosscoders[0].partition = { A: 0.6, B: 0.5 }),
    /no shared features/
  ),
  field("steer names an unknown crosscoder", (r) => (r.steer.crosscoder = "nope"), /unknown crosscoder "nope"/),
  field("a mix source without samples", (r) => delete r.harvest.text.sources[0].samples, /samples/),
  // issue 15 item 5: found before harvesting, not after
  field(
    "batch size larger than the rows the harvest will produce",
    (r) => (r.crosscoders[0].batchSize = 100_000),
    /\["crosscoders"\]\[0\]\["batchSize"\]: 100000 exceeds the 4200 rows/
  ),
  field(
    "harvest.maxLength beyond the models' positions",
    (r) => (r.harvest.maxLength = 4096),
    /harvest\.maxLength.*4096 exceeds model A's 1024 positions/s
  ),
  field(
    "rank.maxLength beyond the models' positions",
    (r) => (r.rank.maxLength = 2048),
    /rank\.maxLength.*1024 positions/s
  ),
  field(
    "evaluate prompt + new tokens beyond the positions",
    (r) => (r.evaluate.maxPromptTokens = 1000),
    /evaluate\.maxPromptTokens.*1064 exceeds/s
  ),
  field(
    "steer.maxNewTokens beyond the positions",
    (r) => (r.steer.maxNewTokens = 2000),
    /steer\.maxNewTokens.*2000 exceeds/s
  ),
  {
    name: "the embedded recipe loads, its budgets within the positions",
    corrupt: () => undefined,
    expect: { ok: true, check: (l) => expect(l.recipe.crosscoders.map((c) => c.name)).toEqual(["dfc", "cc"]) }
  }
]

let n = 0
describe("hostile recipes (loadRecipe)", () => {
  hostileCases(
    cases,
    () => {
      const json = JSON.parse(original) as Json
      json.models = {
        A: path.join(repo, "examples/models/embedded-tooluse"),
        B: path.join(repo, "examples/models/embedded-base")
      }
      json.tokenizer = path.join(repo, "examples/models/embedded-base")
      for (const s of json.harvest.text.sources) s.path = path.join(repo, "examples/recipes", s.path)
      return { file: path.join(tmp, `recipe-${n++}.json`), json, text: undefined }
    },
    (ctx) => {
      writeFileSync(ctx.file, ctx.text ?? JSON.stringify(ctx.json))
      return runFilesExit(loadRecipe(ctx.file))
    }
  )
})
