/**
 * Issue 15 item 5: a prompt that, with its new tokens, does not fit in the model's positions is an
 * `EvalSettingsError` naming the item (it used to be generated past the positions, silently).
 */
import { Cause, Effect, Exit, Logger } from "effect"
import { describe, expect, it } from "vitest"
import { type EvalItem, makeEvalRunner, paperTask, type RunSpec } from "../src/index.js"
import { runFilesExit } from "./files.js"
import { getWeather } from "./fixtures/items.js"
import { fakeTokenizer, scriptedModel } from "./helpers/fakes.js"

const item = (id: string, words: number): EvalItem => ({
  id,
  source: "toolrl",
  category: "toolrl",
  messages: [{ role: "user", content: Array.from({ length: words }, (_, i) => `w${i}`).join(" ") }],
  // the paper prompt lists the tools: a long description makes a long prompt
  tools: [{ ...getWeather, description: "word ".repeat(words) }],
  expected: { _tag: "Calls", calls: [] }
})
const quiet = Logger.layer([Logger.make(() => undefined)])
const runWith = (maxPositions: number | undefined, items: ReadonlyArray<EvalItem>) => {
  const model = scriptedModel(() => "no call")
  const spec = { run: "A-clean", task: paperTask(items, "pos"), settings: { maxNewTokens: 16 } } as RunSpec<never>
  return runFilesExit(
    makeEvalRunner({ model, tokenizer: fakeTokenizer, ...(maxPositions !== undefined ? { maxPositions } : {}) })
      .run(spec)
      .pipe(Effect.provide(quiet))
  )
}

describe("prompts longer than the model's positions (issue 15 item 5)", () => {
  it("is an EvalSettingsError naming the item and the numbers", async () => {
    const exit = await runWith(1900, [item("short", 2), item("long-one", 20_000)])
    expect(Exit.isFailure(exit)).toBe(true)
    const e = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
    expect((e as { _tag: string })._tag).toBe("EvalSettingsError")
    expect((e as Error).message).toMatch(
      /item long-one: a prompt of \d+ tokens .* plus maxNewTokens 16 exceeds the model's 1900 positions/
    )
  })

  it("prompts that fit run as before", async () => {
    const exit = await runWith(100_000, [item("short", 2)])
    expect(Exit.isSuccess(exit)).toBe(true)
  })
})
