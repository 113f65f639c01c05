/**
 * BFCL's prompting (non-FC) prompt style: the system prompt text (BFCL v4 and the legacy
 * `DEFAULT_SYSTEM_PROMPT`), how it is inserted into the conversation, chat-template and raw
 * renderings, the language hint, and the BFCL task scored with BFCL's Python-call decoder.
 *
 * The expected strings were checked by hand against gorilla's
 * `bfcl_eval/constants/default_prompts.py` + `model_handler/utils.py` (and, for every item of the
 * five non-live categories, against a Python transcription of `formulate_system_prompt`).
 */
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { ChatTemplateError, compileChatTemplate, findSharedDir, sharedMissingMessage } from "@crosscode/core"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { bfclLanguageHint, withBfclLanguageHint } from "../src/data/bfcl.js"
import {
  bfclPromptingMessages,
  bfclSystemPrompt,
  bfclTask,
  buildPrompt,
  type ChatRenderer,
  type EvalItem,
  isBfclCategory,
  loadBfclCategory,
  PromptStyles,
  PyFloat,
  parseToolCalls,
  promptCallFormat,
  pyJsonDumps,
  qwen25ChatRenderer,
  runScorers
} from "../src/index.js"
import { BFCL_LEGACY_SYSTEM_PROMPT, bfclRawPrompt } from "../src/prompt/bfclPrompting.js"
import { runFiles } from "./files.js"

/** BFCL's simple_python_0, written out by hand (docs as in the data file). */
const triangle: EvalItem = {
  id: "simple_python_0",
  source: "bfcl",
  category: "simple_python",
  messages: [{ role: "user", content: "Find the area of a triangle with a base of 10 units and height of 5 units." }],
  tools: [
    {
      name: "calculate_triangle_area",
      description: "Calculate the area of a triangle given its base and height.",
      parameters: {
        type: "dict",
        properties: {
          base: { type: "integer", description: "The base of the triangle." },
          height: { type: "integer", description: "The height of the triangle." },
          unit: { type: "string", description: "The unit of measure (defaults to 'units' if not specified)" }
        },
        required: ["base", "height"]
      }
    }
  ],
  expected: {
    _tag: "Bfcl",
    possibleAnswers: [{ calculate_triangle_area: { base: [10], height: [5], unit: ["units", ""] } }]
  }
}

const HEAD =
  "You are an expert in composing functions.You are given a question and a set of possible functions. Based on the question, you will need to make one or more function/tool calls to achieve the purpose. If none of the functions can be used, point it out. If the given question lacks the parameters required by the function, also point it out.\n" +
  "\n" +
  "You should only return the function calls in your response.\n" +
  "\n" +
  "If you decide to invoke any of the function(s), you MUST put it in the format of [func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)].  You SHOULD NOT include any other text in the response.\n" +
  "\n" +
  "At each turn, you should try your best to complete the tasks requested by the user within the current turn. Continue to output functions to call until you have fulfilled the user's request to the best of your ability. Once you have no more functions to call, the system will consider the current turn complete and proceed to the next turn or task.\n" +
  "\n" +
  "Here is a list of functions in json format that you can invoke.\n"

/** `json.dumps(functions, indent=4)` of simple_python_0's docs with BFCL's language hint. */
const TRIANGLE_JSON = `[
    {
        "name": "calculate_triangle_area",
        "description": "Calculate the area of a triangle given its base and height. Note that the provided function is in Python 3 syntax.",
        "parameters": {
            "type": "dict",
            "properties": {
                "base": {
                    "type": "integer",
                    "description": "The base of the triangle."
                },
                "height": {
                    "type": "integer",
                    "description": "The height of the triangle."
                },
                "unit": {
                    "type": "string",
                    "description": "The unit of measure (defaults to 'units' if not specified)"
                }
            },
            "required": [
                "base",
                "height"
            ]
        }
    }
]`

const QUESTION = "Find the area of a triangle with a base of 10 units and height of 5 units."

/** What BFCL's Qwen prompting handler sends for simple_python_0 (system message, user turn, generation prompt). */
const EXPECTED_CHAT = `<|im_start|>system\n${HEAD}${TRIANGLE_JSON}\n<|im_end|>\n<|im_start|>user\n${QUESTION}<|im_end|>\n<|im_start|>assistant\n`

const build = (item: EvalItem, style = PromptStyles.bfclPrompting()) =>
  Effect.runSync(buildPrompt(item, style, qwen25ChatRenderer))

describe("BFCL prompting prompt", () => {
  it("renders simple_python_0 as BFCL v4 does: system prompt with the functions as JSON, then the question", () => {
    expect(build(withBfclLanguageHint(triangle))).toBe(EXPECTED_CHAT)
  })

  it("the system prompt: BFCL's text, the docs as json.dumps(indent=4), a final newline", () => {
    const text = bfclSystemPrompt(withBfclLanguageHint(triangle).tools)
    expect(text).toBe(`${HEAD}${TRIANGLE_JSON}\n`)
    expect(text).toContain(
      "[func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]"
    )
    // without the hint, the docs are the item's as given
    expect(bfclSystemPrompt(triangle.tools)).toContain(
      '"description": "Calculate the area of a triangle given its base and height.",'
    )
  })

  it("legacy variant: the former DEFAULT_SYSTEM_PROMPT with the docs as Python's str()", () => {
    const tool = {
      name: "f",
      description: "Say 'hi'.",
      parameters: { type: "dict", properties: { x: { type: "float", default: new PyFloat(1) } }, required: [] }
    }
    const text = bfclSystemPrompt([tool], "legacy")
    expect(text).toBe(
      BFCL_LEGACY_SYSTEM_PROMPT.replace(
        "{functions}",
        `[{'name': 'f', 'description': "Say 'hi'.", 'parameters': {'type': 'dict', 'properties': {'x': {'type': 'float', 'default': 1.0}}, 'required': []}}]`
      )
    )
    expect(text.startsWith("You are an expert in composing functions. You are given a question")).toBe(true)
    expect(text.endsWith("'required': []}}]\n\n")).toBe(true)
  })

  it("inserts the system prompt as BFCL does: first message, before the item's own system message", () => {
    const plain = bfclPromptingMessages(triangle)
    expect(plain.map((m) => m.role)).toEqual(["system", "user"])
    const withSystem = bfclPromptingMessages({ ...triangle, system: "Be brief." })
    expect(withSystem).toHaveLength(2)
    expect(withSystem[0]?.content).toBe(`${bfclSystemPrompt(triangle.tools)}\n\nBe brief.`)
  })

  it("without a chat template: system prompt and question as plain text, joined by a blank line", () => {
    const raw = build(withBfclLanguageHint(triangle), PromptStyles.bfclPrompting({ chatTemplate: false }))
    expect(raw).toBe(`${HEAD}${TRIANGLE_JSON}\n\n\n${QUESTION}`)
    expect(
      bfclRawPrompt([
        { role: "system", content: "S" },
        { role: "user", content: "U1" },
        { role: "user", content: "U2" }
      ])
    ).toBe("S\n\nU1\n\nU2")
  })

  it("language hint and categories", () => {
    expect(bfclLanguageHint("simple_python")).toBe(" Note that the provided function is in Python 3 syntax.")
    expect(bfclLanguageHint("irrelevance")).toBe(" Note that the provided function is in Python 3 syntax.")
    expect(bfclLanguageHint("simple_java")).toBe(" Note that the provided function is in Java 8 SDK syntax.")
    expect(bfclLanguageHint("simple_javascript")).toBe(" Note that the provided function is in JavaScript syntax.")
    expect(withBfclLanguageHint(triangle).tools[0]?.description).toBe(
      "Calculate the area of a triangle given its base and height. Note that the provided function is in Python 3 syntax."
    )
    expect(isBfclCategory("parallel_multiple")).toBe(true)
    expect(isBfclCategory("simple")).toBe(false)
  })

  it("pyJsonDumps indent matches Python's json.dumps(indent=…)", () => {
    const v = { a: [], b: {}, c: [1, new PyFloat(2), { d: null, é: true }], e: "x" }
    expect(pyJsonDumps(v, { indent: 4 })).toBe(
      '{\n    "a": [],\n    "b": {},\n    "c": [\n        1,\n        2.0,\n        {\n            "d": null,\n            "\\u00e9": true\n        }\n    ],\n    "e": "x"\n}'
    )
    expect(pyJsonDumps([1, [2, []]], { indent: 2 })).toBe("[\n  1,\n  [\n    2,\n    []\n  ]\n]")
    expect(pyJsonDumps([], { indent: 4 })).toBe("[]")
    expect(pyJsonDumps({ a: 1 }, { indent: "\t" })).toBe('{\n\t"a": 1\n}')
    expect(pyJsonDumps([1, 2], { indent: 0 })).toBe("[\n1,\n2\n]")
    expect(pyJsonDumps([1, 2])).toBe("[1, 2]")
  })
})

describe("the BFCL task in either style", () => {
  const score = (style: ReturnType<typeof PromptStyles.bfclPrompting>, response: string, item = triangle) => {
    const task = bfclTask([item], style)
    return {
      task,
      scored: Effect.runSync(
        runScorers(task.scorers, { item, prompt: build(item, style), response, parse: parseToolCalls(response) })
      )
    }
  }

  it("qwenTools → qwen format; bfclPrompting → python format (BFCL's prompting decoder)", () => {
    expect(promptCallFormat(PromptStyles.qwenTools())).toBe("qwen")
    expect(promptCallFormat(PromptStyles.bfclPrompting())).toBe("python")
    expect(promptCallFormat(PromptStyles.paper)).toBe("toolrl")
    expect(bfclTask([triangle]).name).toBe("bfcl-qwen")

    const { task, scored } = score(PromptStyles.bfclPrompting(), "[calculate_triangle_area(base=10, height=5)]")
    expect(task.name).toBe("bfcl-python")
    expect(scored.metrics["bfcl.ast_official"]).toBe(true)
    expect(scored.metrics["bfcl.ast_strict"]).toBe(true)
    expect(scored.metrics["format.strict_format_python"]).toBe(true)
    // a <tool_call> block is not BFCL prompting syntax: BFCL's prompting decoder fails on it
    const qwenAnswer =
      '<tool_call>\n{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}\n</tool_call>'
    expect(score(PromptStyles.bfclPrompting(), qwenAnswer).scored.metrics["bfcl.ast_official"]).toBe(false)
    // and the Qwen style reads it
    const qwenTask = bfclTask([triangle])
    const viaQwen = Effect.runSync(
      runScorers(qwenTask.scorers, {
        item: triangle,
        prompt: "",
        response: qwenAnswer,
        parse: parseToolCalls(qwenAnswer)
      })
    )
    expect(viaQwen.metrics["bfcl.ast_official"]).toBe(true)
  })

  it("irrelevance as BFCL defines it: correct iff the prompting decoder fails or finds no call", () => {
    const irrelevant: EvalItem = {
      ...triangle,
      id: "irrelevance_x",
      category: "irrelevance",
      expected: { _tag: "Calls", calls: [] }
    }
    const verdict = (r: string) =>
      score(PromptStyles.bfclPrompting(), r, irrelevant).scored.metrics["bfcl.ast_official"]
    expect(verdict("I cannot help with that.")).toBe(true)
    expect(verdict("[]")).toBe(true)
    expect(verdict("[calculate_triangle_area(base=1, height=2)]")).toBe(false)
  })
})

const shared = findSharedDir()
const bfclDir = shared !== undefined ? `${shared}/data/bfcl` : undefined

describe.skipIf(shared === undefined)(`shared data ${shared === undefined ? sharedMissingMessage : ""}`, () => {
  it("through Qwen2.5-Instruct's real chat template (jinja) the prompt is the same", () => {
    const template = compileChatTemplate(
      readFileSync(path.join(shared as string, "golden", "chat-template", "qwen2.5-chat-template.jinja"), "utf8")
    )
    const jinja: ChatRenderer = (messages, options) =>
      Effect.try({
        try: () => template.render({ messages, add_generation_prompt: options?.addGenerationPrompt ?? false }),
        catch: (e) => new ChatTemplateError({ message: String(e) })
      })
    expect(Effect.runSync(buildPrompt(withBfclLanguageHint(triangle), PromptStyles.bfclPrompting(), jinja))).toBe(
      EXPECTED_CHAT
    )
  })

  it("simple_python_0 loaded with BFCL's language hint renders to the hand-checked prompt", async () => {
    const items = await runFiles(loadBfclCategory(bfclDir as string, "simple_python", { languageHint: true }))
    expect(build(items[0] as EvalItem)).toBe(EXPECTED_CHAT)
    const plain = await runFiles(loadBfclCategory(bfclDir as string, "simple_python"))
    expect(plain[0]?.tools[0]?.description).toBe("Calculate the area of a triangle given its base and height.")
  })
})
