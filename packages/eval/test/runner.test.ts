import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { blockOutput, type Hook, type Intervention, Progress, type ProgressEvent } from "@crosscode/core"
import { Cause, Effect, Exit, type FileSystem, Logger, type Path } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { toolRlSystemPrompt } from "../src/data/toolrl.js"
import {
  comparePaired,
  type EvalItem,
  type InterventionContext,
  makeEvalRunner,
  makeScorer,
  paperTask,
  pyJsonDumps,
  type RunResult,
  type RunSpec,
  readRecords,
  truncateIds
} from "../src/index.js"
import { makeScorerRegistry } from "../src/scorers/ScorerRegistry.js"
import { runFiles, runFilesExit } from "./files.js"
import { getWeather, lcm, writeFile } from "./fixtures/items.js"
import { fakeTokenizer, scriptedModel } from "./helpers/fakes.js"

const dir = mkdtempSync(path.join(tmpdir(), "eval-runner-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const item = (
  id: string,
  tools: EvalItem["tools"],
  question: string,
  calls: ReadonlyArray<{ name: string; arguments: Record<string, never> | Record<string, unknown> }>
): EvalItem => ({
  id,
  source: "toolrl",
  category: "toolrl",
  messages: [{ role: "user", content: question }],
  tools,
  expected: { _tag: "Calls", calls: calls as never }
})

const items: ReadonlyArray<EvalItem> = [
  item("q_weather", [getWeather, lcm], "Weather in Paris?", [{ name: "get_weather", arguments: { city: "Paris" } }]),
  item("q_lcm", [lcm], "LCM of 4 and 6?", [{ name: "lcm", arguments: { a: 4, b: 6 } }]),
  item("q_write", [writeFile], "Save hello to a.txt", [
    { name: "write_file", arguments: { path: "a.txt", content: "hello" } }
  ]),
  item("q_chat", [getWeather], "Tell me a joke.", [])
]

const toolrlCall = (name: string, args: Record<string, unknown>) =>
  `<think> ok </think>\n<tool_call>\n${pyJsonDumps({ name, parameters: args as never })}\n</tool_call>`

/** Answers by which tool list the prompt shows (the paper's prompt is the ToolRL system prompt). */
const script = (prompt: string): string => {
  if (prompt.includes("1. Name: write_file")) return "I would write the file with write_file." // prose: no call
  if (prompt.includes("1. Name: lcm"))
    return '<tool_call>\n{"name": "lcm", "arguments": {"a": 4, "b": 6}}\n</tool_call>' // Qwen format
  if (prompt.includes("2. Name: lcm")) return toolrlCall("get_weather", { city: "Paris" }) // exact ToolRL
  return toolrlCall("get_weather", { city: "Rome" }) // call when none is warranted
}

const task = paperTask(items, "fixture-paper")

const runWith = <E>(model: ReturnType<typeof scriptedModel>, spec: Partial<RunSpec<E>> = {}) =>
  makeEvalRunner({ model, tokenizer: fakeTokenizer }).run({ run: "A-clean", task, ...spec } as RunSpec<E>)

const quiet = Logger.layer([Logger.make(() => undefined)])
const run = <A, E>(eff: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>) =>
  runFiles(eff.pipe(Effect.provide(quiet)))
const runExit = <A, E>(eff: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>) =>
  runFilesExit(eff.pipe(Effect.provide(quiet)))

describe("EvalRunner", () => {
  it("generates, parses, scores and records every item", async () => {
    const model = scriptedModel(script)
    const output = path.join(dir, "basic.jsonl")
    const result: RunResult = await run(runWith(model, { output }))
    expect(result.generated).toBe(4)
    expect(result.resumed).toBe(0)
    expect(model.calls).toHaveLength(4)
    expect(model.calls[0]?.prompts[0]).toBe(toolRlSystemPrompt(items[0]?.tools ?? []))
    expect(model.calls[0]?.maxNewTokens).toBe(200)

    const byId = Object.fromEntries(result.records.map((r) => [r.itemId, r]))
    expect(byId.q_weather?.metrics).toMatchObject({
      "paper.format_accuracy": true,
      "paper.tool_correctness": true,
      "paper.overall_score": 2,
      "format.strict_format_toolrl": true,
      "exact.exact_match_strict": true,
      "toolrl.total": 4
    })
    expect(byId.q_lcm?.metrics).toMatchObject({
      "paper.tool_correctness": true,
      "exact.exact_match": true,
      "exact.exact_match_strict": false,
      "format.leniency_used": true
    })
    expect(byId.q_write?.metrics).toMatchObject({
      "paper.overall_score": -1,
      "format.call_emitted": false,
      "toolrl.correctness": -3
    })
    expect(byId.q_chat?.metrics).toMatchObject({
      "paper.tool_correctness": true,
      "format.no_call_correct": false,
      "exact.exact_match": false
    })

    const rec = byId.q_weather
    expect(rec?.response).toBe(toolrlCall("get_weather", { city: "Paris" }))
    expect(rec?.generation.stopReason).toBe("stop_token")
    expect(rec?.prompt).toMatchObject({ truncated: false })
    expect(rec?.parse.calls[0]).toMatchObject({ name: "get_weather", arguments: { city: "Paris" } })
    expect(rec?.settings).toMatchObject({
      generation: { maxNewTokens: 200, maxPromptTokens: 2048, truncation: "right" },
      prompt: { _tag: "ToolRlRaw" }
    })

    const lines = readFileSync(output, "utf8").trim().split("\n")
    expect(lines).toHaveLength(4)
    expect(JSON.parse(lines[0] as string).key).toBe("A-clean|q_weather")

    const all = result.summary.groups[0]
    const tool = all?.metrics.find((m) => m.metric === "paper.tool_correctness")
    expect(tool).toMatchObject({ kind: "binary", n: 4, k: 3, pct: 75 })
    expect(result.table).toContain("| all | paper.tool_correctness | 4 | 75.0% (3/4) |")
  })

  it("resumes an interrupted run, skipping recorded items and a half-written line", async () => {
    const output = path.join(dir, "resume.jsonl")
    const first = await runExit(runWith(scriptedModel(script, { failOnCall: 3 }), { output }))
    expect(Exit.isFailure(first)).toBe(true)
    if (Exit.isFailure(first)) expect(Cause.pretty(first.cause)).toContain("scripted failure on call 3")
    expect(await runFiles(readRecords(output))).toHaveLength(2)
    appendFileSync(output, '{"key": "A-clean|q_wri') // the process died mid-write

    const model = scriptedModel(script)
    const second = await run(runWith(model, { output }))
    expect(second.resumed).toBe(2)
    expect(second.generated).toBe(2)
    expect(model.calls).toHaveLength(2)
    expect(second.records.map((r) => r.itemId)).toEqual(["q_weather", "q_lcm", "q_write", "q_chat"])
    expect(readFileSync(output, "utf8").trim().split("\n")).toHaveLength(4)

    // A third run has nothing left to do.
    const third = await run(runWith(scriptedModel(script), { output }))
    expect(third.generated).toBe(0)
    expect(third.summary).toEqual(second.summary)
  })

  it("refuses to resume a file made with other settings", async () => {
    const output = path.join(dir, "mismatch.jsonl")
    await run(runWith(scriptedModel(script), { output, limit: 1 }))
    const exit = await runExit(runWith(scriptedModel(script), { output, settings: { maxNewTokens: 50 } }))
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isFailure(exit)) expect(Cause.pretty(exit.cause)).toContain("ResumeMismatchError")
    const changed = await runExit(
      makeEvalRunner({ model: scriptedModel(script), tokenizer: fakeTokenizer }).run({
        run: "A-clean",
        output,
        task: { ...task, items: [{ ...(items[0] as EvalItem), messages: [{ role: "user", content: "changed" }] }] }
      })
    )
    expect(Exit.isFailure(changed) && Cause.pretty(changed.cause)).toContain("different item with the same id")
    // A different run label in the same file is fine.
    const other = await run(runWith(scriptedModel(script), { output, run: "A-short", settings: { maxNewTokens: 50 } }))
    expect(other.generated).toBe(4)
  })

  it("truncates long prompts (right = keep the head, left = keep the tail) and cuts generations at maxNewTokens", async () => {
    expect(truncateIds([1, 2, 3, 4], 2, "right")).toEqual([1, 2])
    expect(truncateIds([1, 2, 3, 4], 2, "left")).toEqual([3, 4])
    const model = scriptedModel(() => "x".repeat(100))
    const result = await run(
      runWith(model, { limit: 1, settings: { maxPromptTokens: 12, truncation: "left", maxNewTokens: 7 } })
    )
    const full = toolRlSystemPrompt(items[0]?.tools ?? [])
    expect(model.calls[0]?.prompts[0]).toBe(full.slice(-12))
    expect(result.records[0]?.prompt).toMatchObject({ tokens: 12, originalTokens: full.length, truncated: true })
    expect(result.records[0]?.response).toBe("xxxxxxx")
    expect(result.records[0]?.generation.stopReason).toBe("max_new_tokens")
    const right = scriptedModel(script)
    await run(runWith(right, { limit: 1, settings: { maxPromptTokens: 12 } }))
    expect(right.calls[0]?.prompts[0]).toBe(full.slice(0, 12))
  })

  it("asks the intervention for hooks per prompt and passes them to generate (batch of 2)", async () => {
    const seen: Array<InterventionContext> = []
    const hook = (row: number): Hook => ({ site: blockOutput(1), when: "prefill", run: () => undefined, ...{ row } })
    const intervention: Intervention<never, never, InterventionContext> = {
      name: "patch-last",
      settings: { layer: 1 },
      hooks: (ctx) => {
        seen.push(ctx)
        return Effect.succeed([hook(ctx.row)])
      }
    }
    const model = scriptedModel(script)
    const result = await run(runWith(model, { intervention, settings: { batchSize: 2 }, run: "A-patched" }))
    expect(model.calls).toHaveLength(2)
    expect(model.calls[0]?.prompts).toHaveLength(2)
    expect(model.calls[0]?.hooks).toHaveLength(2)
    expect(seen.map((c) => [c.item.id, c.promptIndex, c.row, c.batchSize])).toEqual([
      ["q_weather", 0, 0, 2],
      ["q_lcm", 1, 1, 2],
      ["q_write", 2, 0, 2],
      ["q_chat", 3, 1, 2]
    ])
    expect(seen[1]?.promptIds).toEqual(model.calls[0]?.promptIds[1])
    expect(result.records[0]?.intervention).toEqual({ name: "patch-last", settings: { layer: 1 } })
  })

  it("draws one bar of items per run on core's Progress service, counting resumed items as done", async () => {
    const output = path.join(dir, "progress.jsonl")
    await runExit(runWith(scriptedModel(script, { failOnCall: 3 }), { output }))
    const events: Array<ProgressEvent> = []
    await run(runWith(scriptedModel(script), { output }).pipe(Effect.provide(Progress.layerCollect(events))))
    expect(events).toEqual([
      { type: "start", label: "eval A-clean", total: 4, unit: "items", initial: 2 },
      { type: "update", label: "eval A-clean", done: 3, total: 4 },
      { type: "update", label: "eval A-clean", done: 4, total: 4 },
      { type: "finish", label: "eval A-clean", done: 4, total: 4 }
    ])
    // a failing run still finishes its bar
    const failed: Array<ProgressEvent> = []
    await runExit(
      runWith(scriptedModel(script, { failOnCall: 1 }), { output: path.join(dir, "progress-fail.jsonl") }).pipe(
        Effect.provide(Progress.layerCollect(failed))
      )
    )
    expect(failed.at(-1)).toMatchObject({ type: "finish", label: "eval A-clean", done: 0 })
  })

  it("logs progress with items/s and ETA", async () => {
    const messages: Array<string> = []
    const capture = Logger.layer([Logger.make((o) => void messages.push(String(o.message)))])
    await runFiles(runWith(scriptedModel(script), { progressEverySeconds: 0 }).pipe(Effect.provide(capture)))
    expect(messages[0]).toContain("eval A-clean: 4 items, 0 already in (no file), 4 to generate")
    expect(messages.some((m) => /4\/4 items \([\d.]+ items\/s, ETA 0s\)/.test(m))).toBe(true)
  })

  it("rejects bad settings and duplicate ids with typed errors", async () => {
    const bad = await runExit(runWith(scriptedModel(script), { settings: { maxNewTokens: 0 } }))
    expect(Exit.isFailure(bad) && Cause.pretty(bad.cause)).toContain("maxNewTokens must be a positive integer")
    const dup = await runExit(
      makeEvalRunner({ model: scriptedModel(script), tokenizer: fakeTokenizer }).run({
        run: "x",
        task: { ...task, items: [items[0] as EvalItem, items[0] as EvalItem] }
      })
    )
    expect(Exit.isFailure(dup) && Cause.pretty(dup.cause)).toContain("duplicate item id q_weather")
  })

  it("paired comparison of two runs, one runner per model", async () => {
    const program = Effect.gen(function* () {
      const runner = makeEvalRunner({ model: scriptedModel(script), tokenizer: fakeTokenizer })
      const clean = yield* runner.run({ run: "clean", task })
      const fixed = yield* makeEvalRunner({
        model: scriptedModel(() => toolrlCall("lcm", { a: 4, b: 6 })),
        tokenizer: fakeTokenizer
      }).run({
        run: "other",
        task
      })
      return { clean, fixed }
    })
    const { clean, fixed } = await run(program)
    const cmp = comparePaired(clean.records, fixed.records, "paper.tool_correctness")
    // clean: 3/4 tool-correct; "other" always calls lcm, listed only for q_weather and q_lcm → 2/4.
    expect(cmp).toMatchObject({ kind: "binary", n: 4, unpaired: 0, baseline: 75, treatment: 50, delta: -25 })
    expect(cmp?.mcnemar).toEqual({ rescued: 0, broken: 1, p: 1 })
  })

  it("looks scorers up by name in the registry, including registered custom ones (which replace a built-in of the same name)", async () => {
    const custom = makeScorer({
      name: "len",
      description: "length",
      metrics: [],
      score: ({ response }) => ({ metrics: { chars: response.length } })
    })
    const registry = makeScorerRegistry([custom])
    const program = Effect.gen(function* () {
      const scorers = yield* registry.getAll(["paper", "bfcl-toolrl", "len"])
      const unknown = yield* Effect.flip(registry.get("nope"))
      return { names: scorers.map((s) => s.name), unknown: unknown.message, all: registry.names }
    })
    const r = await run(program)
    expect(r.names).toEqual(["paper", "bfcl", "len"])
    expect(r.unknown).toContain('unknown scorer "nope" (known: paper, paper-item-tools, bfcl')
    expect(r.all).toContain("len")
    // the registries' one rule (core's makeRegistry): a later entry replaces the built-in of that name
    const swapped = await run(makeScorerRegistry([{ ...custom, name: "paper" }]).get("paper"))
    expect(swapped.description).toBe("length")
  })
})
