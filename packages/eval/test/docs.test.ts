/** Runs the worked example of docs/extending-task-scorer.md exactly as written there. */
import * as path from "node:path"
import { Effect, Logger } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { importDocExample, removeGenDir } from "../../../test-support/docExample.js"
import { type EvalItem, makeEvalRunner, type ScoredItem, type Scorer, type Task } from "../src/index.js"
import { runFiles } from "./files.js"
import { fakeTokenizer, scriptedModel } from "./helpers/fakes.js"

const genDir = path.join(import.meta.dirname, ".cache")
afterAll(() => removeGenDir(genDir))

describe("docs/extending-task-scorer.md", () => {
  it("the custom-scorer example runs and behaves as described", async () => {
    const mod = await importDocExample<{
      argumentRecallScorer: Scorer
      items: ReadonlyArray<EvalItem>
      task: Task
      scoreOffline: (item: EvalItem, response: string) => Effect.Effect<ScoredItem, unknown>
    }>("extending-task-scorer.md", "custom-scorer", genDir)
    const [paris, joke] = mod.items as [EvalItem, EvalItem]
    const half = await runFiles(
      mod.scoreOffline(paris, '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>')
    )
    expect(half.metrics).toMatchObject({
      "args.key_recall": 0.5,
      "args.all_keys": false,
      "paper.tool_correctness": true
    })
    expect(half.details.args).toEqual({ missing: ["get_weather.unit"] })
    const none = await runFiles(mod.scoreOffline(joke, "Why did the chicken cross the road?"))
    expect(none.metrics).toMatchObject({ "args.key_recall": null, "paper.overall_score": -1 })

    // And through the runner, with a scripted model.
    const model = scriptedModel((prompt) =>
      prompt.includes("Weather") || prompt.includes("get_weather")
        ? '<think> x </think>\n<tool_call>\n{"name": "get_weather", "parameters": {"city": "Paris", "unit": "celsius"}}\n</tool_call>'
        : "no"
    )
    const result = await runFiles(
      makeEvalRunner({ model, tokenizer: fakeTokenizer })
        .run({ run: "doc", task: mod.task })
        .pipe(Effect.provide(Logger.layer([Logger.make(() => undefined)])))
    )
    expect(result.records[0]?.metrics["args.all_keys"]).toBe(true)
    expect(result.table).toContain("args.key_recall")
  })
})
