/**
 * The paper's rubric against hand-computed cases (each also checked by running the authors'
 * `score_response` in CPython 3.11 while writing this test).
 */
import { describe, expect, it } from "vitest"
import { paperRubric } from "../src/index.js"
import { paperToolsInPrompt } from "../src/scorers/paperRubric.js"

const PROMPT =
  "**Available Tools**\n1. Name: GetNews\nDescription: news\nParameters: {}\n2. Name: Search Managers\nDescription: d\nParameters: {}"

describe("paper rubric (score_response)", () => {
  it("tagged call naming a listed tool: +2", () => {
    const r = paperRubric(
      '<think> x </think>\n<tool_call>\n{"name": "GetNews", "parameters": {"page": 1}}\n</tool_call>',
      PROMPT
    )
    expect(r).toMatchObject({ formatAccuracy: true, toolCorrectness: true, overallScore: 2, calledName: "getnews" })
    expect(r.toolsInPrompt).toEqual(["getnews", "search managers"])
  })

  it("tag + name of an unlisted tool: 0", () => {
    expect(paperRubric('<tool_call>\n{"name": "weather"}\n</tool_call>', PROMPT)).toMatchObject({
      formatAccuracy: true,
      toolCorrectness: false,
      overallScore: 0
    })
  })

  it("a listed name without the tag: +1 (the name need not be inside tags)", () => {
    expect(paperRubric('{"name": "Search Managers", "parameters": {}}', PROMPT)).toMatchObject({
      formatAccuracy: false,
      toolCorrectness: true,
      overallScore: 1
    })
  })

  it("prose: −1", () => {
    expect(paperRubric("I would call GetNews for page 1.", PROMPT)).toMatchObject({
      formatAccuracy: false,
      toolCorrectness: false,
      overallScore: -1,
      calledName: ""
    })
  })

  it("fuzzy match is substring either way, case-insensitive", () => {
    expect(paperRubric('<TOOL_CALL>{"name" :  "News"}', "1. Name: GetNews\nDescription: d").overallScore).toBe(2)
    expect(paperRubric('<tool_call>{"name": "get"}', "1. Name: GetNews\nDescription: d").toolCorrectness).toBe(true)
    expect(paperRubric('<tool_call>\n{"name": "GetNews_v2"}', "1. Name: GetNews\nDescription: d").toolCorrectness).toBe(
      true
    )
  })

  it('only the FIRST "name" counts; an empty name does not match the regex', () => {
    expect(paperRubric('<tool_call>{"name": "foo"} {"name": "GetNews"}', PROMPT).toolCorrectness).toBe(false)
    const r = paperRubric('{"name": ""} "name": "getnews"', "1. Name: GetNews\nDescription: d")
    expect(r).toMatchObject({ formatAccuracy: false, toolCorrectness: true, overallScore: 1, calledName: "getnews" })
  })

  it("no numbered list in the prompt: never tool-correct", () => {
    expect(paperRubric('<tool_call>{"name": "x"}', "no list").overallScore).toBe(0)
    expect(paperRubric("<tool_call>", "no list").overallScore).toBe(-1)
  })

  it("reproduces re.findall's quirks on the tool list", () => {
    // Consecutive "N. Name:" lines: the newline consumed by one match cannot start the next.
    expect(paperToolsInPrompt("1. Name: a\n2. Name: b\n3. Name: c")).toEqual(["a", "c"])
    expect(paperToolsInPrompt("1. Name: a\n\n2. Name: b")).toEqual(["a", "b"])
    expect(paperToolsInPrompt("Tools:\n1. Name: Alpha \nDescription: d\n2. Name:Beta\n10.Name:   Gamma Ray")).toEqual([
      "alpha",
      "beta"
    ])
    // \s* after "Name:" also crosses a newline.
    expect(paperToolsInPrompt("1. Name:\nfoo\nDescription: x")).toEqual(["foo"])
    // Python's \d matches any Unicode digit.
    expect(paperToolsInPrompt("١. Name: arabic-indic")).toEqual(["arabic-indic"])
  })
})
