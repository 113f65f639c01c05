/**
 * `crosscode run` end to end on tiny random Llama and Gemma 2 pairs (examples/scripts/
 * build-tiny-pairs.ts: BF16 shards + index, the family's chat template in the tokenizer), on the
 * WebAssembly backend, through the real CLI (`crosscode run`, as `pnpm crosscode` runs it): every stage completes, the models load as their own
 * family (config.json's model_type), and the report is written. Random weights: this exercises the
 * pipeline, not the science. Also: an unsupported model_type fails with the typed error listing the
 * supported ones.
 */
import { spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { loadModel, loadTokenizer, TensorBackend, UnsupportedConfigError } from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { buildTinyPair, TINY_FAMILIES } from "../scripts/build-tiny-pairs.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const data = path.resolve(here, "../data/embedded")
const work = mkdtempSync(path.join(tmpdir(), "crosscode-tiny-families-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const wasm = Layer.merge(TensorBackend.layerFor("wasm"), NodeServices.layer)

/** A small recipe over the embedded pair's data with the tiny pair as A / B. */
const recipeFor = (family: string, dirs: { readonly A: string; readonly B: string }) => ({
  name: `tiny-${family}`,
  runDir: path.join(work, `run-${family}`),
  seed: 0,
  backend: "wasm",
  models: dirs,
  tokenizer: dirs.A,
  site: { layer: 2 },
  harvest: {
    text: {
      kind: "mix",
      sources: [
        { kind: "jsonl", path: path.join(data, "harvest-tool.jsonl"), field: "text", dataset: "toolrl", samples: 40 },
        {
          kind: "jsonl",
          path: path.join(data, "harvest-general.jsonl"),
          field: "text",
          dataset: "general",
          samples: 40
        }
      ]
    },
    maxLength: 64,
    dtype: "f32"
  },
  crosscoders: [
    {
      name: "dfc",
      features: 64,
      k: 8,
      partition: { A: 0.25, B: 0.25 },
      lambdas: { shared: 0.001, exclusive: 0.001 },
      steps: 30,
      batchSize: 64,
      lr: 0.001,
      evalEvery: 15,
      evalRows: 256,
      logEvery: 15
    }
  ],
  evaluate: {
    prompts: { kind: "jsonl", path: path.join(data, "eval-tool-prompts.jsonl") },
    n: 3,
    seed: 42,
    maxNewTokens: 6,
    maxPromptTokens: 256
  },
  rank: {
    toolPrompts: { kind: "jsonl", path: path.join(data, "rank-tool-prompts.jsonl") },
    generalTexts: { kind: "jsonl", path: path.join(data, "rank-general.jsonl"), field: "text", dataset: "general" },
    n: 6,
    maxLength: 128,
    topFeatures: 2,
    topTexts: 2,
    scanRows: 80
  },
  steer: {
    crosscoder: "dfc",
    target: "A",
    partitions: ["A-excl"],
    kPercents: [100],
    alphas: [1, 8],
    n: 3,
    seed: 42,
    maxNewTokens: 6,
    maxPromptTokens: 256
  },
  report: { title: `Tiny ${family} pair`, html: false }
})

const root = path.resolve(here, "../..")

/** `pnpm crosscode …`: the study package's CLI entry point in a child process. */
const cli = (args: ReadonlyArray<string>) =>
  spawnSync(
    path.join(root, "node_modules/.bin/tsx"),
    ["--conditions=source", path.join(root, "packages/study/src/cli.ts"), ...args],
    { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } }
  )

describe("crosscode run on tiny Llama and Gemma 2 pairs", () => {
  for (const family of TINY_FAMILIES) {
    it(`${family}: every stage completes and the report is written`, { timeout: 600_000 }, async () => {
      const dirs = await Effect.runPromise(buildTinyPair(work, family).pipe(Effect.provide(wasm)))
      // Loaded as their own family, from BF16 shards with an index; the chat template renders.
      const check = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const lm = yield* loadModel(dirs.A)
            const tok = yield* loadTokenizer(dirs.A)
            const text = yield* tok.applyChatTemplate([{ role: "user", content: "hi" }], { addGenerationPrompt: true })
            return { info: lm.info, text }
          })
        ).pipe(Effect.provide(wasm))
      )
      expect(check.info.family).toBe(family)
      expect(check.info.weightDtype).toBe("bfloat16")
      expect(check.text).toBe(
        family === "llama"
          ? "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
          : "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n"
      )
      expect(existsSync(path.join(dirs.A, "model.safetensors.index.json"))).toBe(true)

      const recipe = path.join(work, `tiny-${family}.json`)
      writeFileSync(recipe, JSON.stringify(recipeFor(family, dirs), null, 2))
      const r = cli(["run", recipe, "--backend", "wasm"])
      if (r.status !== 0) throw new Error(`crosscode run failed (${r.status}):\n${r.stdout}\n${r.stderr}`)
      const runDir = path.join(work, `run-${family}`)
      for (const stage of ["harvest", "train", "evaluate", "rank", "steer"]) {
        expect(existsSync(path.join(runDir, stage)), stage).toBe(true)
      }
      const md = readFileSync(path.join(runDir, "report", "report.md"), "utf8")
      expect(md).toContain(`Tiny ${family} pair`)
    })
  }

  it("an unsupported model_type fails with UnsupportedConfigError listing the supported ones", async () => {
    const dir = path.join(work, "unsupported")
    cpSync(path.join(here, "../models/embedded-base"), dir, { recursive: true })
    const config = JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...config, model_type: "phi3" }))
    const e = await Effect.runPromise(Effect.scoped(Effect.flip(loadModel(dir))).pipe(Effect.provide(wasm)))
    expect(e).toBeInstanceOf(UnsupportedConfigError)
    const u = e as UnsupportedConfigError
    expect(u.field).toBe("model_type")
    expect(u.value).toBe("phi3")
    for (const t of ["qwen2", "llama", "mistral", "gemma2"]) expect(u.message).toContain(t)
  })
})
