/**
 * Hostile tokenizer files for `loadTokenizer` (tokenizer.json, tokenizer_config.json,
 * chat_template.jinja, generation_config.json): each is a typed `TokenizerLoadError` naming the
 * directory and what is wrong, or a tokenizer that works — never a defect, a tokenizer with an
 * empty vocabulary (issue 15 item 5: a harvest kept 3 of 14 rows and exited 0) or a chat template
 * of the wrong type silently replaced by the built-in one.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import { afterAll, describe, expect } from "vitest"
import { type HostileCase, hostileCases } from "../../../../test-support/hostile.js"
import { loadTokenizer, type TokenizerShape } from "../../src/index.js"

const source = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../examples/models/embedded-base")
const roots: Array<string> = []
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true })
})

interface Ctx {
  readonly dir: string
}
type Json = Record<string, unknown>
const file = (ctx: Ctx, name: string) => path.join(ctx.dir, name)
const edit = (name: string, f: (j: Json) => void) => (ctx: Ctx) => {
  const j = JSON.parse(readFileSync(file(ctx, name), "utf8")) as Json
  f(j)
  writeFileSync(file(ctx, name), JSON.stringify(j))
}
const write = (name: string, text: string) => (ctx: Ctx) => writeFileSync(file(ctx, name), text)
const remove = (name: string) => (ctx: Ctx) => rmSync(file(ctx, name))
const model = (f: (m: Json) => void) => edit("tokenizer.json", (j) => f(j.model as Json))
const config = (field: string, value: unknown) =>
  edit("tokenizer_config.json", (j) => {
    j[field] = value
  })

const TLE = "TokenizerLoadError"
const cases: ReadonlyArray<HostileCase<Ctx, TokenizerShape>> = [
  {
    name: "tokenizer.json missing",
    corrupt: remove("tokenizer.json"),
    expect: { tag: TLE, message: /tokenizer\.json/ }
  },
  {
    name: "tokenizer.json is not JSON",
    corrupt: write("tokenizer.json", "{ nope"),
    expect: { tag: TLE, message: /tokenizer\.json/ }
  },
  {
    name: "tokenizer.json is an array",
    corrupt: write("tokenizer.json", "[]"),
    expect: { tag: TLE, message: /not a JSON object/ }
  },
  {
    name: "tokenizer.json is empty",
    corrupt: write("tokenizer.json", ""),
    expect: { tag: TLE, message: /tokenizer\.json/ }
  },
  {
    name: "model.vocab is empty (issue 15 item 5)",
    corrupt: model((m) => {
      m.vocab = {}
      m.merges = []
    }),
    expect: { tag: TLE, message: /model\.vocab is empty/ }
  },
  {
    name: "model.vocab is an empty list",
    corrupt: model((m) => {
      m.vocab = []
    }),
    expect: { tag: TLE, message: /model\.vocab is empty/ }
  },
  {
    name: "model.type is unknown",
    corrupt: model((m) => {
      m.type = "NoSuchModel"
    }),
    expect: { tag: TLE, message: /model\.type "NoSuchModel" is not BPE/ }
  },
  {
    name: "tokenizer_config.json is not JSON",
    corrupt: write("tokenizer_config.json", "not json"),
    expect: { tag: TLE, message: /tokenizer_config\.json/ }
  },
  {
    name: "eos_token is not in the vocabulary",
    corrupt: config("eos_token", "<|no-such-token|>"),
    expect: { tag: TLE, message: /eos_token.*not in the vocabulary/ }
  },
  {
    name: "pad_token is not in the vocabulary",
    corrupt: config("pad_token", { content: "<|nope|>" }),
    expect: { tag: TLE, message: /pad_token/ }
  },
  {
    name: "chat_template is a number (issue 15 item 5)",
    corrupt: config("chat_template", 42),
    expect: { tag: TLE, message: /chat_template is of type number/ }
  },
  {
    name: "chat_template is an object",
    corrupt: config("chat_template", { template: "{{ messages }}" }),
    expect: { tag: TLE, message: /chat_template is of type object/ }
  },
  {
    name: "chat_template is a list without a string template",
    corrupt: config("chat_template", [{ name: "default", template: 5 }]),
    expect: { tag: TLE, message: /chat_template is a list without a string template/ }
  },
  {
    name: "chat_template does not parse",
    corrupt: config("chat_template", "{% if %}"),
    expect: { tag: TLE, message: /chat template does not parse/ }
  },
  {
    name: "chat_template.jinja does not parse",
    corrupt: write("chat_template.jinja", "{% for m in messages %}"),
    expect: { tag: TLE, message: /chat template does not parse/ }
  },
  {
    name: "generation_config.json is not JSON",
    corrupt: write("generation_config.json", "{"),
    expect: { tag: TLE, message: /generation_config\.json/ }
  },
  {
    name: "tokenizer_config.json missing: loads, encodes and decodes",
    corrupt: remove("tokenizer_config.json"),
    expect: { ok: true, check: (t) => expect(t.decode(t.encode("hello world"))).toBe("hello world") }
  },
  {
    name: "a named chat template list: the default one is used",
    corrupt: config("chat_template", [
      { name: "tool_use", template: "TOOLS" },
      { name: "default", template: "{% for m in messages %}[{{ m.content }}]{% endfor %}" }
    ]),
    expect: {
      ok: true,
      check: (t) => expect(Effect.runSync(t.applyChatTemplate([{ role: "user", content: "hi" }]))).toBe("[hi]")
    }
  }
]

describe("hostile tokenizer files (loadTokenizer)", () => {
  hostileCases(
    cases,
    () => {
      const dir = mkdtempSync(path.join(tmpdir(), "hostile-tok-"))
      roots.push(dir)
      for (const f of ["tokenizer.json", "tokenizer_config.json", "generation_config.json"])
        copyFileSync(path.join(source, f), path.join(dir, f))
      return { dir }
    },
    (ctx) => Effect.runPromiseExit(loadTokenizer(ctx.dir).pipe(Effect.provide(NodeServices.layer)))
  )
})
