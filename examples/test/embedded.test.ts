/**
 * The embedded A/B model pair (examples/models/embedded-{base,tooluse}): it loads like any HF
 * model, its tokenizer is Qwen's BPE restricted to the corpus, the generator's prompt sets are
 * what is shipped, and — computed, not hard-coded — the tool-use model A calls an offered tool
 * under the paper's system-prompt-only evaluation clearly more often than the base model B.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { loadModel, loadTokenizer, parseQwen2Config, qwen2Forward, TensorBackend } from "@crosscode/core"
import { paperRubric } from "@crosscode/eval"
import { NodeServices } from "@effect/platform-node"
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers"
import { Effect, type FileSystem, Layer, type Path, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import { BASE_DIR, DATA_DIR, promptSets, TOOLUSE_DIR } from "../src/embedded/build.js"
import { readSafetensorsF32 } from "../src/embedded/loadSafetensors.js"
import { ADDED_TOKENS, loadQwenTokenizerConfig, loadQwenTokenizerJson } from "../src/embedded/trimTokenizer.js"

const wasm = Layer.merge(TensorBackend.layerFor("wasm"), NodeServices.layer)
const run = <A, E>(
  eff: Effect.Effect<A, E, TensorBackend | Scope.Scope | FileSystem.FileSystem | Path.Path>
): Promise<A> => Effect.runPromise(Effect.scoped(eff).pipe(Effect.provide(Layer.fresh(wasm))))

const readJsonl = <T>(file: string): Array<T> =>
  readFileSync(join(DATA_DIR, file), "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T)

interface EvalRecord {
  readonly id: string
  readonly prompt: string
  readonly tools: ReadonlyArray<string>
  readonly singleTool: boolean
}

describe("embedded pair: files", () => {
  it("the shipped prompt sets are exactly the generator's (deterministic)", () => {
    const s = promptSets()
    expect(readJsonl<EvalRecord>("eval-tool-prompts.jsonl")).toEqual(s.evalSet)
    expect(readJsonl<EvalRecord>("rank-tool-prompts.jsonl")).toEqual(s.rankTool)
    expect(readJsonl<{ text: string }>("rank-general.jsonl").map((r) => r.text)).toEqual(s.rankGeneral)
    expect(readJsonl<{ text: string }>("harvest-tool.jsonl").map((r) => r.text)).toEqual(s.harvestTool)
    expect(readJsonl<{ text: string }>("harvest-general.jsonl").map((r) => r.text)).toEqual(s.harvestGeneral)
    expect(readJsonl<EvalRecord>("harvest-tool-prompts.jsonl")).toEqual(s.harvestPrompts)
    // the two models share one tokenizer
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
      expect(readFileSync(join(BASE_DIR, f), "utf8")).toBe(readFileSync(join(TOOLUSE_DIR, f), "utf8"))
    }
  })
})

describe("embedded pair: tokenizer", () => {
  it("is Qwen's byte-level BPE restricted to the corpus: same tokens as Qwen on prompts and general text", async () => {
    const tok = await Effect.runPromise(loadTokenizer(TOOLUSE_DIR).pipe(Effect.provide(NodeServices.layer)))
    const qwen = new HfTokenizer(loadQwenTokenizerJson(), loadQwenTokenizerConfig())
    const mine = new HfTokenizer(
      JSON.parse(readFileSync(join(TOOLUSE_DIR, "tokenizer.json"), "utf8")),
      JSON.parse(readFileSync(join(TOOLUSE_DIR, "tokenizer_config.json"), "utf8"))
    )
    const exact = [
      ...readJsonl<EvalRecord>("eval-tool-prompts.jsonl").map((r) => r.prompt),
      ...readJsonl<EvalRecord>("rank-tool-prompts.jsonl")
        .map((r) => r.prompt)
        .slice(0, 50),
      ...readJsonl<{ text: string }>("rank-general.jsonl")
        .map((r) => r.text)
        .slice(0, 100)
    ]
    for (const t of exact) {
      expect(mine.tokenize(t)).toEqual(qwen.tokenize(t))
      expect(tok.decode(tok.encode(t))).toBe(t)
    }
    // Harvest chunks of tool text may start mid-block ("Name: …") or join lines with a space
    // (" Parameters"): word forms the corpus never has, which the trimmed vocabulary spells with
    // smaller pieces than Qwen (docs/embedded-models.md). They still round-trip.
    for (const t of readJsonl<{ text: string }>("harvest-tool.jsonl")
      .map((r) => r.text)
      .slice(0, 200)) {
      expect(tok.decode(tok.encode(t))).toBe(t)
    }
    // special and added tokens are single ids
    for (const a of ADDED_TOKENS) {
      const id = tok.tokenToId(a.content)
      expect(id, a.content).toBeDefined()
      expect(tok.encode(`x${a.content}y`)).toContain(id)
    }
    expect(tok.eosTokenIds).toContain(tok.tokenToId("<|endoftext|>"))
    // unseen text still round-trips (all 256 byte symbols are kept)
    const odd = 'Zürich ☃ naïve 日本語 {"k": [1, 2]}'
    expect(tok.decode(tok.encode(odd))).toBe(odd)
  })
})

describe("embedded pair: models", () => {
  it("load with loadModel, whose inference layout agrees with the training forward (qwen2Forward)", async () => {
    await run(
      Effect.gen(function* () {
        const { tf } = yield* TensorBackend
        for (const dir of [BASE_DIR, TOOLUSE_DIR]) {
          const lm = yield* loadModel(dir)
          const c = yield* parseQwen2Config(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")), dir)
          expect(lm.info.family).toBe("qwen2")
          expect(lm.info.numLayers).toBe(4)
          expect(lm.info.hiddenSize).toBe(128)
          expect(lm.info.vocabSize).toBe(c.vocab_size)
          const tok = yield* loadTokenizer(dir)
          const ids = tok.encode(readJsonl<EvalRecord>("eval-tool-prompts.jsonl")[0]!.prompt)
          const [r] = yield* lm.forward({ inputIds: [ids], logits: "last" })
          const w = Object.fromEntries(
            [...readSafetensorsF32(join(dir, "model.safetensors"))].map(([k, v]) => [k, tf.tensor(v.data, v.shape)])
          )
          const training = tf.tidy(() => {
            const l = qwen2Forward(c, w, [ids]).logits!
            return tf.slice(l, [0, ids.length - 1, 0], [1, 1, c.vocab_size]).dataSync() as Float32Array
          })
          for (const t of Object.values(w)) t.dispose()
          let maxd = 0
          training.forEach((v, i) => {
            maxd = Math.max(maxd, Math.abs(v - r!.lastLogits![i]!))
          })
          expect(maxd).toBeLessThan(1e-3)
        }
      })
    )
  })

  it("A calls an offered tool far more often than B (paper rubric, system-prompt-only, greedy)", async () => {
    const prompts = readJsonl<EvalRecord>("eval-tool-prompts.jsonl")
    const rates = await run(
      Effect.gen(function* () {
        const out: Record<string, { tool: number; format: number; single: number; multi: number }> = {}
        for (const [name, dir] of [
          ["A", TOOLUSE_DIR],
          ["B", BASE_DIR]
        ] as const) {
          const lm = yield* loadModel(dir)
          const tok = yield* loadTokenizer(dir)
          const gens = yield* lm.generate({ prompts: prompts.map((p) => tok.encode(p.prompt)), maxNewTokens: 100 })
          const scores = gens.map((g, i) => ({
            p: prompts[i]!,
            s: paperRubric(tok.decode(g.tokens), prompts[i]!.prompt)
          }))
          const rate = (xs: ReadonlyArray<{ s: { toolCorrectness: boolean } }>) =>
            xs.filter((x) => x.s.toolCorrectness).length / Math.max(1, xs.length)
          out[name] = {
            tool: rate(scores),
            format: scores.filter((x) => x.s.formatAccuracy).length / scores.length,
            single: rate(scores.filter((x) => x.p.singleTool)),
            multi: rate(scores.filter((x) => !x.p.singleTool))
          }
        }
        return out
      })
    )
    console.log(`embedded pair, ${prompts.length} eval prompts: ${JSON.stringify(rates)}`)
    expect(rates.A!.tool).toBeGreaterThanOrEqual(0.15)
    expect(rates.B!.tool).toBeLessThanOrEqual(0.05)
    expect(rates.A!.tool - rates.B!.tool).toBeGreaterThanOrEqual(0.15)
    // room to steer: A does not call a tool on every prompt
    expect(rates.A!.tool).toBeLessThanOrEqual(0.6)
  }, 240_000)
})
