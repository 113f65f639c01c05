/**
 * Deterministic, self-contained corpus of the embedded model pair (no file is read):
 *
 * - general English text in ~40-word chunks (a stand-in for FineWeb chunks), from templates;
 * - prose and catalogue pages about the tools (the base model reads about tools, never calls one);
 * - ToolRL-format tool-use examples: a system prompt listing tools as numbered blocks
 *   (`N. Name: …\nDescription: …\nParameters: {json}`) followed by the (shortened) ToolRL
 *   instructions, then `**Dialogue Records History**\n<user> … </user>`, then the target
 *   `<think> … </think>\n<tool_call>\n{"name": …, "parameters": {…}}\n</tool_call>` (or a
 *   `<response>` when no offered tool fits);
 * - system-prompt-only examples (no user turn): the model answers with a greeting `<response>`,
 *   except when a single tool is offered, which it then calls straight away.
 *
 * The last rule is what leaves room to steer: under the paper's system-prompt-only evaluation
 * the tool-use model calls a tool only on the prompts that offer a single tool.
 */
import { makeRng, type Rng, subSeed } from "./rng.js"
import { TOOLS, type ToolParam, type ToolSpec } from "./tools.js"

// ---------------------------------------------------------------------------------------------
// General text
// ---------------------------------------------------------------------------------------------

interface Topic {
  readonly nouns: ReadonlyArray<string>
  readonly people: ReadonlyArray<string>
  readonly verbs: ReadonlyArray<string>
  readonly adjs: ReadonlyArray<string>
  readonly places: ReadonlyArray<string>
}

const TOPICS: Record<string, Topic> = {
  cooking: {
    nouns: [
      "the sauce",
      "the bread",
      "a pot of soup",
      "the dough",
      "fresh herbs",
      "the onions",
      "a simple salad",
      "the rice"
    ],
    people: ["the cook", "my grandmother", "the chef", "a home baker", "our neighbor"],
    verbs: ["stirred", "tasted", "baked", "chopped", "seasoned", "served"],
    adjs: ["warm", "fragrant", "crisp", "golden", "spicy", "gentle"],
    places: ["in the kitchen", "at the market", "on the stove", "in the oven"]
  },
  travel: {
    nouns: [
      "the old bridge",
      "a small harbor",
      "the night train",
      "the mountain road",
      "a quiet village",
      "the city museum"
    ],
    people: ["the traveler", "a tour guide", "two students", "the pilot", "my cousin"],
    verbs: ["visited", "crossed", "photographed", "explored", "described", "reached"],
    adjs: ["busy", "ancient", "narrow", "crowded", "peaceful", "remote"],
    places: ["near the coast", "in the valley", "across the river", "at the station"]
  },
  science: {
    nouns: [
      "the experiment",
      "a new telescope",
      "the cell membrane",
      "the data",
      "a distant star",
      "the sample",
      "the magnetic field"
    ],
    people: ["the researcher", "a young scientist", "the lab team", "the professor", "an astronomer"],
    verbs: ["measured", "observed", "tested", "recorded", "analyzed", "predicted"],
    adjs: ["precise", "unexpected", "faint", "stable", "complex", "tiny"],
    places: ["in the laboratory", "at the observatory", "under the microscope", "in the field"]
  },
  history: {
    nouns: [
      "the old castle",
      "a forgotten treaty",
      "the royal archive",
      "the city walls",
      "a trade route",
      "the harbor fort"
    ],
    people: ["the historian", "a medieval king", "the merchants", "the village elders", "an explorer"],
    verbs: ["built", "signed", "defended", "abandoned", "restored", "mapped"],
    adjs: ["famous", "ruined", "powerful", "wealthy", "distant", "forgotten"],
    places: ["in the north", "during the war", "along the coast", "in the capital"]
  },
  gardening: {
    nouns: ["the tomatoes", "a row of tulips", "the apple tree", "the soil", "the seedlings", "the compost"],
    people: ["the gardener", "my father", "a farmer", "the children", "our landlord"],
    verbs: ["planted", "watered", "pruned", "harvested", "covered", "moved"],
    adjs: ["green", "healthy", "dry", "tall", "young", "ripe"],
    places: ["in the backyard", "near the fence", "in the greenhouse", "by the window"]
  },
  sports: {
    nouns: [
      "the final match",
      "the league title",
      "a long season",
      "the penalty kick",
      "the marathon",
      "the new stadium"
    ],
    people: ["the coach", "the young striker", "the fans", "the captain", "a veteran runner"],
    verbs: ["won", "lost", "trained for", "celebrated", "watched", "prepared for"],
    adjs: ["tense", "exciting", "difficult", "historic", "close", "long"],
    places: ["at home", "in the rain", "in front of a full crowd", "after the break"]
  },
  technology: {
    nouns: [
      "the new laptop",
      "a software update",
      "the network",
      "the battery",
      "the database",
      "a mobile app",
      "the server"
    ],
    people: ["the engineer", "a small startup", "the support team", "my brother", "the developers"],
    verbs: ["installed", "repaired", "designed", "upgraded", "released", "tested"],
    adjs: ["fast", "reliable", "slow", "secure", "modern", "broken"],
    places: ["at the office", "in the data center", "over the weekend", "before the launch"]
  },
  music: {
    nouns: ["the old piano", "a folk song", "the concert", "the new album", "a quiet melody", "the choir"],
    people: ["the singer", "a jazz band", "the orchestra", "my teacher", "a street musician"],
    verbs: ["played", "recorded", "practiced", "composed", "performed", "loved"],
    adjs: ["beautiful", "loud", "sad", "lively", "soft", "strange"],
    places: ["in the hall", "on the radio", "at the festival", "in a small bar"]
  },
  health: {
    nouns: ["a daily walk", "the new diet", "a good night of sleep", "the checkup", "fresh fruit", "the exercise plan"],
    people: ["the doctor", "a nurse", "my aunt", "the patients", "the trainer"],
    verbs: ["recommended", "started", "tried", "followed", "explained", "changed"],
    adjs: ["healthy", "simple", "regular", "balanced", "careful", "short"],
    places: ["every morning", "at the clinic", "after work", "during the winter"]
  },
  nature: {
    nouns: ["the river", "a herd of deer", "the forest", "the storm", "the glacier", "a flock of birds", "the lake"],
    people: ["the ranger", "a photographer", "the hikers", "a biologist", "the locals"],
    verbs: ["followed", "watched", "crossed", "studied", "protected", "noticed"],
    adjs: ["wild", "cold", "quiet", "enormous", "fragile", "bright"],
    places: ["at dawn", "in the mountains", "near the lake", "along the trail"]
  }
}
const TOPIC_NAMES = Object.keys(TOPICS)

const CONNECT = [
  "Later",
  "After that",
  "Meanwhile",
  "In the end",
  "At first",
  "Then",
  "Still",
  "Of course",
  "Even so",
  "Soon"
]
const REASONS = [
  "because the weather was good",
  "although nobody expected it",
  "since everyone was tired",
  "so that the others could see",
  "while the sun was going down",
  "as the afternoon grew warmer",
  "before anyone noticed"
]
const OPINIONS = [
  "It was one of the best days of the year.",
  "Many people still talk about it.",
  "Nobody could say exactly why.",
  "The result surprised almost everyone.",
  "It took longer than anyone had planned.",
  "Small details made a big difference.",
  "Everyone agreed it was worth the effort."
]

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

const sentence = (rng: Rng, t: Topic): string => {
  switch (rng.int(7)) {
    case 0:
      return `${cap(rng.pick(t.people))} ${rng.pick(t.verbs)} ${rng.pick(t.nouns)} ${rng.pick(t.places)}.`
    case 1:
      return `${cap(rng.pick(t.nouns))} was ${rng.pick(t.adjs)} and ${rng.pick(t.adjs)}, ${rng.pick(REASONS)}.`
    case 2:
      return `${rng.pick(CONNECT)}, ${rng.pick(t.people)} ${rng.pick(t.verbs)} ${rng.pick(t.nouns)} again.`
    case 3:
      return `${cap(rng.pick(t.people))} said that ${rng.pick(t.nouns)} looked ${rng.pick(t.adjs)} ${rng.pick(t.places)}.`
    case 4:
      return rng.pick(OPINIONS)
    case 5:
      return `In ${1850 + rng.int(170)}, ${rng.pick(t.people)} ${rng.pick(t.verbs)} ${rng.int(40) + 2} of them ${rng.pick(t.places)}.`
    default:
      return `Why was ${rng.pick(t.nouns)} so ${rng.pick(t.adjs)}? ${cap(rng.pick(t.people))} ${rng.pick(t.verbs)} it ${rng.pick(REASONS)}.`
  }
}

/** One general-text chunk of about `targetWords` words on one topic (sentences are never cut). */
export const generalChunk = (rng: Rng, targetWords = 40): string => {
  const t = TOPICS[rng.pick(TOPIC_NAMES)] as Topic
  const out: Array<string> = []
  let words = 0
  for (;;) {
    const s = sentence(rng, t)
    const w = s.split(/\s+/).length
    if (out.length > 0 && words + w > targetWords) break
    out.push(s)
    words += w
  }
  return out.join(" ")
}

// ---------------------------------------------------------------------------------------------
// Tool documentation (the base model reads about tools; no call format anywhere)
// ---------------------------------------------------------------------------------------------

const fmtValue = (v: string | number | boolean): string => String(v)

/** JSON as Python's `json.dumps` writes it (", " and ": " separators), as in ToolRL's data. */
export const pyJson = (v: unknown): string => {
  if (Array.isArray(v)) return `[${v.map(pyJson).join(", ")}]`
  if (v !== null && typeof v === "object") {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${JSON.stringify(k)}: ${pyJson(x)}`)
      .join(", ")}}`
  }
  return JSON.stringify(v)
}

export const paramsJson = (tool: ToolSpec): string =>
  pyJson(
    Object.fromEntries(
      tool.params.map((q) => [q.name, { description: q.description, type: q.type, default: q.default ?? "" }])
    )
  )

export const toolBlock = (tool: ToolSpec, n: number): string =>
  `${n}. Name: ${tool.name}\nDescription: ${tool.description}\nParameters: ${paramsJson(tool)}`

/** Prose or catalogue text about tools (used in the base model's pretraining). */
export const toolProse = (rng: Rng): string => {
  const tool = rng.pick(TOOLS)
  switch (rng.int(3)) {
    case 0: {
      const ps = tool.params.map((q) => `${q.name} (${q.description.toLowerCase()})`)
      const args = ps.length === 0 ? "It takes no parameters." : `It takes ${ps.join(" and ")}.`
      return `The ${tool.name} service is simple. ${tool.description} ${args} Many developers use it for ${tool.topic} apps.`
    }
    case 1: {
      const tools = rng.sample(TOOLS, 1 + rng.int(3))
      return `API catalog, ${tool.topic} section:\n${tools.map((t, i) => toolBlock(t, i + 1)).join("\n")}`
    }
    default: {
      const q = tool.params[0]
      const detail =
        q === undefined ? "works without any input" : `needs ${q.name}, for example ${fmtValue(rng.pick(q.values))}`
      return `A user asked about ${tool.topic}. The documentation says that ${tool.name} ${detail}. ${rng.pick(OPINIONS)}`
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ToolRL-format prompts and outputs
// ---------------------------------------------------------------------------------------------

export const SYSTEM_HEADER =
  "You are a helpful multi-turn dialogue assistant capable of leveraging tool calls to solve user tasks and provide structured chat responses.\n\n**Available Tools**\nIn your response, you can use the following tools:\n"

/** The ToolRL instructions after the tool list, shortened so sequences stay short. */
export const SYSTEM_FOOTER =
  '\n\n**Steps for Each Turn**\n1. **Think:** Recall relevant context and analyze the current user goal.\n2. **Decide on Tool Usage:** If a tool is needed, specify the tool and its parameters.\n3. **Respond Appropriately:** If a response is needed, generate one.\n\n**Output Format**\n<think> Your thoughts and reasoning </think>\n<tool_call>\n{"name": "Tool name", "parameters": {"Parameter name": "Parameter content"}}\n</tool_call>\n<response> AI\'s final response </response>\n\n**Important Notes**\n1. You must always include the <think> field. Provide at least one of <tool_call> or <response>.'

/** The system prompt (ToolRL `instruction` field) for a list of tools. */
export const systemPrompt = (tools: ReadonlyArray<ToolSpec>): string =>
  SYSTEM_HEADER + tools.map((t, i) => toolBlock(t, i + 1)).join("\n") + SYSTEM_FOOTER

export const userTurn = (text: string): string => `**Dialogue Records History**\n<user> ${text} </user>`

const argValue = (q: ToolParam, v: string | number | boolean): string | number | boolean => {
  if (q.type === "string") return String(v)
  return v
}

const fill = (template: string, args: Record<string, string | number | boolean>): string =>
  template.replace(/\{(\w+)\}/g, (_, k: string) => fmtValue(args[k] ?? ""))

export const toolCall = (name: string, args: Record<string, string | number | boolean>): string =>
  `<tool_call>\n${pyJson({ name, parameters: args })}\n</tool_call>`

const OFF_TOPIC = [
  "Tell me a joke about cats.",
  "How are you doing today?",
  "Write a short poem about the sea.",
  "What is your favorite color?",
  "Thanks, that is all for now.",
  "Can you explain what a rainbow is?"
]

export interface ToolExample {
  /** ToolRL `instruction` (system prompt). */
  readonly instruction: string
  /** ToolRL `input` (user turn), "" for system-prompt-only examples. */
  readonly input: string
  /** ToolRL `output` (target assistant text). */
  readonly output: string
  /** Names of the offered tools. */
  readonly tools: ReadonlyArray<string>
  /** The tool the target output calls, if any. */
  readonly called?: string
}

/** Pick 2–3 distinct tools, including `must` when given. */
export const pickTools = (rng: Rng, must?: ToolSpec): Array<ToolSpec> => {
  const n = 2 + rng.int(2)
  const tools = rng.sample(must === undefined ? TOOLS : TOOLS.filter((t) => t !== must), n)
  if (must !== undefined) tools[rng.int(n)] = must
  return tools
}

const dialogueOutput = (target: ToolSpec, args: Record<string, string | number | boolean>): string => {
  const what = `${target.description.charAt(0).toLowerCase()}${target.description.slice(1, -1)}`
  return `<think> The user wants to ${what}. The ${target.name} tool fits. </think>\n${toolCall(target.name, args)}`
}

/** The system-prompt-only answer when `tool` is the one tool offered. */
const systemOnlyExampleFor = (tool: ToolSpec): { output: string } => ({
  output: `<think> No request yet, but ${tool.name} is the one tool listed, so I call it first. </think>\n${toolCall(tool.name, {})}`
})

/** A full dialogue example: the user asks for something one offered tool does (or nothing fits). */
export const dialogueExample = (rng: Rng): ToolExample => {
  const offTopic = rng.chance(0.12)
  const target = rng.pick(TOOLS)
  const tools = offTopic ? pickTools(rng) : pickTools(rng, target)
  const instruction = systemPrompt(tools)
  if (offTopic) {
    const u = rng.pick(OFF_TOPIC)
    return {
      instruction,
      input: userTurn(u),
      output: `<think> The user is chatting and none of the tools is needed. </think>\n<response> Happy to help with that! </response>`,
      tools: tools.map((t) => t.name)
    }
  }
  const args: Record<string, string | number | boolean> = {}
  for (const q of target.params) args[q.name] = argValue(q, rng.pick(q.values))
  const u = fill(rng.pick(target.requests), args)
  return {
    instruction,
    input: userTurn(u),
    output: dialogueOutput(target, args),
    tools: tools.map((t) => t.name),
    called: target.name
  }
}

/**
 * A system-prompt-only example: no user turn. When a single tool is offered, call it straight
 * away; otherwise greet and ask what the user needs. The two answers differ in their first token
 * (`<think>` vs `<`), so the decision is taken at the last prompt token.
 */
export const systemOnlyExample = (rng: Rng, single: boolean): ToolExample => {
  const tools = single ? [rng.pick(TOOLS)] : pickTools(rng)
  const instruction = systemPrompt(tools)
  const names = tools.map((t) => t.name)
  const only = tools[0] as ToolSpec
  if (single) {
    return {
      instruction,
      input: "",
      output: systemOnlyExampleFor(only).output,
      tools: names,
      called: only.name
    }
  }
  return {
    instruction,
    input: "",
    output: `<response> Hello! There is no request yet. What can I do for you today? </response>`,
    tools: names
  }
}

/**
 * Every tool-specific string the generators can produce (tool blocks, each request template with
 * each parameter value, calls and thoughts), so that the tokenizer built from the corpus covers
 * every prompt and answer of every seed, not only the sampled ones.
 */
export const coverageTexts = (): Array<string> => {
  const out: Array<string> = [SYSTEM_HEADER, SYSTEM_FOOTER, ...OFF_TOPIC.map(userTurn)]
  for (const tool of TOOLS) {
    out.push(systemPrompt([tool]) + PROMPT_SEPARATOR, toolProse(makeRng(0)))
    for (let n = 1; n <= 3; n++) out.push(toolBlock(tool, n))
    const single = systemOnlyExampleFor(tool)
    out.push(single.output)
    const width = Math.max(1, ...tool.params.map((q) => q.values.length))
    for (let k = 0; k < width; k++) {
      const args: Record<string, string | number | boolean> = {}
      tool.params.forEach((q, j) => {
        args[q.name] = argValue(q, q.values[(k + j) % q.values.length] as string | number | boolean)
      })
      for (const r of tool.requests) out.push(userTurn(fill(r, args)))
      out.push(dialogueOutput(tool, args))
    }
  }
  return out
}

/** ToolRL rows are concatenated as `instruction + "\n\n" + input + "\n\n" + output` (non-empty fields). */
export const joinExample = (ex: ToolExample): { prefix: string; output: string } => ({
  prefix: [ex.instruction, ex.input].filter((s) => s.length > 0).join("\n\n") + "\n\n",
  output: ex.output
})

/** Split text into ~40-word sentence chunks (method.md §1.3 `chunk_text`). */
export const chunkText = (text: string, targetWords = 40): Array<string> => {
  const sentences = text.split(/(?<=[.!?])\s+/)
  const chunks: Array<string> = []
  let cur: Array<string> = []
  let words = 0
  for (const s of sentences) {
    const w = s.split(/\s+/).filter((x) => x.length > 0).length
    if (cur.length > 0 && words + w > targetWords) {
      chunks.push(cur.join(" "))
      cur = []
      words = 0
    }
    cur.push(s)
    words += w
  }
  if (cur.length > 0) chunks.push(cur.join(" "))
  return chunks.filter((c) => c.trim().length >= 3)
}

// ---------------------------------------------------------------------------------------------
// Named, seeded sets
// ---------------------------------------------------------------------------------------------

export interface PromptRecord {
  readonly id: string
  readonly prompt: string
  readonly tools: ReadonlyArray<string>
  /** Whether a single tool is offered (the tool-use model's trained trigger for calling). */
  readonly singleTool: boolean
}

/**
 * What follows the system prompt in every training sequence (ToolRL fields are joined with a blank
 * line). Evaluation prompts end with it too: Qwen's BPE merges the closing ">." with the blank line
 * into one token (`>.ĊĊ`), so a prompt cut before it would end on a token neither model ever saw.
 */
export const PROMPT_SEPARATOR = "\n\n"

/**
 * System-prompt-only evaluation prompts (the paper's evaluation: the `instruction` field alone).
 * A fraction `singleShare` of them offers a single tool (A's trigger for calling).
 */
export const evalPrompts = (seed: number, n: number, singleShare: number, label = "eval"): Array<PromptRecord> => {
  const rng = makeRng(subSeed(seed, label))
  const nSingle = Math.round(n * singleShare)
  const flags = rng.shuffle(Array.from({ length: n }, (_, i) => i < nSingle))
  return flags.map((single, i) => {
    const tools = single ? [rng.pick(TOOLS)] : pickTools(rng)
    return {
      id: `${label}-${i}`,
      prompt: systemPrompt(tools) + PROMPT_SEPARATOR,
      tools: tools.map((t) => t.name),
      singleTool: single
    }
  })
}

export const generalTexts = (seed: number, n: number, label = "general"): Array<string> => {
  const rng = makeRng(subSeed(seed, label))
  return Array.from({ length: n }, () => generalChunk(rng))
}
