import { findSharedDir, sharedMissingMessage } from "@crosscode/core"
import { describe, expect, it } from "vitest"
import { singleUserTurn, TOOLRL_PROMPT_HEAD, TOOLRL_PROMPT_TAIL, toolRlSystemPrompt } from "../src/data/toolrl.js"
import {
  loadToolRlJson,
  loadToolRlParquet,
  parseToolRlTools,
  ToolRlGroundTruthError,
  toolRlReward
} from "../src/index.js"
import { matchScore, toolRlFormatReward } from "../src/scorers/toolRlReward.js"
import { runFiles } from "./files.js"

const GT = '<think> I should call. </think>\n<tool_call>\n{"name": "A", "parameters": {"x": 1, "y": 2}}\n</tool_call>'
const call = (lines: ReadonlyArray<string>, think = "t") =>
  `<think> ${think} </think>\n<tool_call>\n${lines.join("\n")}\n</tool_call>`

describe("ToolRL reward (rlla.py), hand-computed", () => {
  it("exact match: format 1 + correctness 3", () => {
    expect(toolRlReward(call(['{"name": "A", "parameters": {"y": 2, "x": 1}}']), GT)).toEqual({
      format: 1,
      correctness: 3,
      total: 4,
      reason: "exact"
    })
  })

  it("one wrong value: S = 1 + (1 + 1) = 3, S_max = 4 → 6·3/4 − 3 = 1.5", () => {
    const r = toolRlReward(call(['{"name": "A", "parameters": {"x": 1, "y": 3}}']), GT)
    expect(r.correctness).toBeCloseTo(1.5, 12)
    expect(r.total).toBeCloseTo(2.5, 12)
  })

  it("greedy matching over several calls", () => {
    // GT [A{x:1}, B{}], pred [B{}, A{x:2}, C{}]: names 2/3; A: 1 (keys) + 0 (values); B: 1 ([] == []);
    // S = 2/3 + 1 + 1 = 8/3, S_max = 1 + 2 + 1 = 4 → 6·(8/3)/4 − 3 = 1.
    const gt = call(['{"name": "A", "parameters": {"x": 1}}', '{"name": "B", "parameters": {}}'])
    const r = toolRlReward(
      call([
        '{"name": "B", "parameters": {}}',
        '{"name": "A", "parameters": {"x": 2}}',
        '{"name": "C", "parameters": {}}'
      ]),
      gt
    )
    expect(r.correctness).toBeCloseTo(1, 12)
    expect(r.format).toBe(1)
  })

  it('values compare with Python ==: 5 == 5.0, "5" != 5', () => {
    const gt = call(['{"name": "A", "parameters": {"n": 5}}'])
    expect(toolRlReward(call(['{"name": "A", "parameters": {"n": 5.0}}']), gt).correctness).toBe(3)
    // "5": names 1, keys 1, values 0 → S = 2, S_max = 3 → 6·2/3 − 3 = 1
    expect(toolRlReward(call(['{"name": "A", "parameters": {"n": "5"}}']), gt).correctness).toBeCloseTo(1, 12)
  })

  it("any parse failure is −3: pretty-printed, missing tag, arguments key, invalid JSON", () => {
    expect(toolRlReward(call(['{"name": "A",', ' "parameters": {"x": 1, "y": 2}}']), GT).correctness).toBe(-3)
    expect(toolRlReward("<think> t </think>\nI will call A.", GT)).toMatchObject({
      format: 0,
      correctness: -3,
      total: -3
    })
    expect(toolRlReward(call(['{"name": "A", "arguments": {"x": 1, "y": 2}}']), GT).correctness).toBe(-3)
    expect(toolRlReward(call(['{"name": "A", "parameters": {"x": 1, "y": 2},}']), GT).correctness).toBe(-3)
    // The same name without "parameters" raises KeyError → −3.
    expect(toolRlReward(call(['{"name": "A"}']), GT)).toMatchObject({
      correctness: -3,
      reason: "parse_failure: KeyError: 'parameters'"
    })
    // A different name is never looked at: S = 0 → −3 by the formula.
    expect(toolRlReward(call(['{"name": "Z"}']), GT)).toMatchObject({ correctness: -3, reason: "partial" })
  })

  it("close tag inside a string argument truncates the block (−3)", () => {
    const gt = call(['{"name": "w", "parameters": {"c": "a </tool_call> b"}}'])
    expect(() => toolRlReward(gt, gt)).toThrow(ToolRlGroundTruthError)
    const gt2 = call(['{"name": "w", "parameters": {"c": "x"}}'])
    expect(toolRlReward(call(['{"name": "w", "parameters": {"c": "a </tool_call> b"}}']), gt2).correctness).toBe(-3)
  })

  it("format reward follows the ground truth's shape", () => {
    const gtResponse = "<think> x </think>\n<response> hi </response>"
    expect(toolRlFormatReward("<think> a </think>\n<response> b </response>", gtResponse)).toBe(1)
    expect(
      toolRlFormatReward("<think> a </think>\n<response> b </response>\n<response> c </response>", gtResponse)
    ).toBe(0)
    expect(toolRlFormatReward("<think> a </think><response> b </response>", gtResponse)).toBe(0)
    const both = `${GT}\n<response> ok </response>`
    expect(toolRlFormatReward(`${call(["{}"])}\n<response> r </response>`, both)).toBe(1)
    expect(toolRlFormatReward(call(["{}"]), both)).toBe(0)
    expect(toolRlFormatReward("<think> only </think>", "<think> x </think>")).toBe(1)
    // Response-only ground truth: no correctness term.
    expect(toolRlReward("<think> a </think>\n<response> b </response>", gtResponse)).toEqual({
      format: 1,
      correctness: 0,
      total: 1,
      reason: "no_gt_call"
    })
  })

  it("cuts the completion like compute_score and honours the variants", () => {
    const r = toolRlReward(
      `<|im_start|>assistant\n${call(['{"name": "A", "parameters": {"x": 1, "y": 2}}'])}<|im_end|>junk`,
      GT
    )
    expect(r.total).toBe(4)
    const partial = call(['{"name": "A", "parameters": {"x": 1, "y": 3}}'])
    expect(toolRlReward(partial, GT, { coarse: true }).correctness).toBe(-3)
    expect(toolRlReward(partial, GT, { correctMax1: true }).correctness).toBeCloseTo(0.5, 12)
    // intermediate: names 1, A not equal → 0; S = 1, S_max = 2 → 0
    expect(toolRlReward(partial, GT, { intermediate: true }).correctness).toBeCloseTo(0, 12)
  })

  it("match_score is a multiset Jaccard", () => {
    expect(matchScore(["a", "a", "b"], ["a", "b", "c"])).toBeCloseTo(2 / 4, 12)
    expect(matchScore([], [])).toBe(1)
    expect(matchScore(["a"], [])).toBe(0)
    expect(matchScore(["a", "b"], ["b", "a"])).toBe(1)
  })
})

describe("ToolRL system prompt", () => {
  const instruction = `${TOOLRL_PROMPT_HEAD}1. Name: Search Managers\nDescription: Search for managers\nParameters: {"name": {"description": "The name \\u00b1", "type": "string", "default": ""}}\n2. Name: Odds\nDescription: Odds.\nParameters: {"year": {"description": "y", "type": "float", "default": 2.0}}${TOOLRL_PROMPT_TAIL}`

  it("parses the numbered tool list and rebuilds it byte-exactly", () => {
    const tools = parseToolRlTools(instruction)
    expect(tools?.map((t) => t.name)).toEqual(["Search Managers", "Odds"])
    expect(toolRlSystemPrompt(tools ?? [])).toBe(instruction)
  })

  it("extracts the question of a single-turn input", () => {
    expect(singleUserTurn("**Dialogue Records History**\n<user> Hi there? </user>")).toBe("Hi there?")
    expect(singleUserTurn("**Dialogue Records History**\n<user> a </user>\n\n<user> b </user>")).toBeUndefined()
  })
})

const shared = findSharedDir()
const toolrlDir = shared !== undefined ? `${shared}/data/toolrl` : undefined

describe.skipIf(toolrlDir === undefined)(`ToolRL data ${toolrlDir === undefined ? sharedMissingMessage : ""}`, () => {
  it("rlla_sft.json: 400 rows, prompts rebuilt byte-exactly, ground truths score the maximum", async () => {
    const items = await runFiles(loadToolRlJson(`${toolrlDir}/rlla_sft.json`))
    expect(items).toHaveLength(400)
    let calls = 0
    for (const item of items) {
      expect(toolRlSystemPrompt(item.tools)).toBe(item.toolRlSystem)
      if (item.expected._tag !== "Calls" || item.expected.text === undefined) throw new Error("no ground truth")
      const r = toolRlReward(item.expected.text, item.expected.text)
      expect(r.format, item.id).toBe(1)
      if (item.expected.calls.length > 0) {
        calls++
        expect(r.correctness, item.id).toBe(3)
      }
    }
    expect(calls).toBe(346)
  })

  it("test.parquet: 80 rows with the same prompt template", async () => {
    const items = await runFiles(loadToolRlParquet(`${toolrlDir}/test.parquet`))
    expect(items).toHaveLength(80)
    expect(items[0]?.id).toBe("toolrl_test_0")
    for (const item of items) {
      expect(toolRlSystemPrompt(item.tools)).toBe(item.toolRlSystem)
      if (item.expected._tag !== "Calls" || item.expected.text === undefined) throw new Error("no ground truth")
      expect(toolRlReward(item.expected.text, item.expected.text).format, item.id).toBe(1)
    }
  })
})
