import { readFileSync } from "node:fs"
import { type ChatMessage, findSharedDir, sharedMissingMessage } from "@crosscode/core"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { TOOLRL_PROMPT_HEAD, TOOLRL_PROMPT_TAIL, toolRlSystemPrompt } from "../src/data/toolrl.js"
import { buildPrompt, type ChatRenderer, PromptStyles, pyJsonLoads, qwen25ChatRenderer } from "../src/index.js"
import { gorillaToJsonSchema, renderQwen25, toolForTemplate } from "../src/prompt/prompts.js"
import { getWeather, weatherItem } from "./fixtures/items.js"

const build = (
  style: Parameters<typeof buildPrompt>[1],
  render: ChatRenderer = qwen25ChatRenderer,
  item = weatherItem
) => Effect.runSync(buildPrompt(item, style, render))

describe("prompt styles", () => {
  it("ToolRlRaw: the ToolRL system prompt only (the paper), optionally + user turn", () => {
    const system = toolRlSystemPrompt(weatherItem.tools)
    expect(system.startsWith(TOOLRL_PROMPT_HEAD)).toBe(true)
    expect(system.endsWith(TOOLRL_PROMPT_TAIL)).toBe(true)
    expect(system).toContain(
      '1. Name: get_weather\nDescription: Get the current weather for a city.\nParameters: {"city": {"type": "string", "description": "City name."}, "unit": {"type": "string", "description": "celsius or fahrenheit."}}\n2. Name: lcm'
    )
    expect(build(PromptStyles.paper)).toBe(system)
    expect(build(PromptStyles.toolRlRaw({ includeUserTurn: true }))).toBe(
      `${system}\n**Dialogue Records History**\n<user> What's the weather in Paris? </user>`
    )
    // An item's own ToolRL prompt is used verbatim.
    expect(build(PromptStyles.paper, qwen25ChatRenderer, { ...weatherItem, toolRlSystem: "VERBATIM" })).toBe("VERBATIM")
  })

  it("ToolRlChat: ToolRL prompt as system turn, user turn, generation prompt", () => {
    const text = build(PromptStyles.toolRlChat)
    expect(text.startsWith(`<|im_start|>system\n${TOOLRL_PROMPT_HEAD}`)).toBe(true)
    expect(
      text.endsWith(
        "<|im_start|>user\n**Dialogue Records History**\n<user> What's the weather in Paris? </user><|im_end|>\n<|im_start|>assistant\n"
      )
    ).toBe(true)
  })

  it("QwenTools: tools passed to the template, bare Gorilla docs by default", () => {
    const seen: Array<{ messages: ReadonlyArray<ChatMessage>; tools: unknown }> = []
    const spy: ChatRenderer = (messages, options) => {
      seen.push({ messages, tools: options?.tools })
      return qwen25ChatRenderer(messages, options)
    }
    const text = build(PromptStyles.qwenTools(), spy)
    expect(seen[0]?.messages).toEqual([{ role: "user", content: "What's the weather in Paris?" }])
    expect(text).toContain(
      '\n{"name": "get_weather", "description": "Get the current weather for a city.", "parameters": {"type": "dict", '
    )
    expect(text.endsWith("<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n<|im_start|>assistant\n")).toBe(
      true
    )
    const openai = build(
      PromptStyles.qwenTools({ toolShape: "openai", schemaTypes: "json-schema", systemPrompt: "Be brief." })
    )
    expect(openai.startsWith("<|im_start|>system\nBe brief.\n\n# Tools")).toBe(true)
    expect(openai).toContain(
      '{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city.", "parameters": {"type": "object"'
    )
  })

  it("Gorilla types convert to JSON Schema", () => {
    expect(
      gorillaToJsonSchema({
        type: "dict",
        properties: { a: { type: "float" }, b: { type: "tuple", items: { type: "any" } } }
      })
    ).toEqual({
      type: "object",
      properties: { a: { type: "number" }, b: { type: "array", items: { type: "string" } } }
    })
    expect(toolForTemplate(getWeather, "openai").type).toBe("function")
  })

  it("a chat template failure is a PromptBuildError naming the item", () => {
    const failing: ChatRenderer = () => Effect.fail({ _tag: "ChatTemplateError", message: "no template" } as never)
    const exit = Effect.runSyncExit(buildPrompt(weatherItem, PromptStyles.qwenTools(), failing))
    expect(JSON.stringify(exit)).toContain("PromptBuildError")
    expect(JSON.stringify(exit)).toContain("fx_weather")
  })
})

const shared = findSharedDir()
const golden = shared !== undefined ? `${shared}/golden/chat-template` : undefined

describe.skipIf(golden === undefined)(
  `renderQwen25 vs transformers' renderings ${golden === undefined ? sharedMissingMessage : ""}`,
  () => {
    it("renders all six golden conversations byte-exactly", () => {
      const parsed = pyJsonLoads(readFileSync(`${golden}/cases.json`, "utf8"))
      if (!parsed.ok) throw new Error(parsed.message)
      const cases = (
        parsed.value as {
          cases: Array<{
            name: string
            messages: Array<ChatMessage>
            tools: Array<unknown> | null
            add_generation_prompt: boolean
            rendered: string
          }>
        }
      ).cases
      expect(cases).toHaveLength(6)
      for (const c of cases) {
        const out = renderQwen25(c.messages, {
          ...(c.tools !== null ? { tools: c.tools } : {}),
          addGenerationPrompt: c.add_generation_prompt
        })
        expect(out, c.name).toBe(c.rendered)
      }
    })
  }
)
