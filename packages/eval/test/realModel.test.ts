/**
 * The runner on the real Qwen2 implementation (`loadModel` on the golden tiny checkpoint) with a
 * hand-built one-character-per-token tokenizer: greedy tokens equal transformers' golden ones, and an
 * intervention (the golden steering vector added after block 1 at every position) reproduces the
 * golden steered generation.
 */
import { readFileSync } from "node:fs"
import * as path from "node:path"
import {
  addVectorHook,
  blockOutput,
  findSharedDir,
  type Intervention,
  loadModel,
  Positions,
  sharedMissingMessage,
  TensorBackend,
  type TokenizerShape
} from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Logger } from "effect"
import { describe, expect, it } from "vitest"
import { type EvalItem, makeEvalRunner, makeScorer, PromptStyles, type Task } from "../src/index.js"

const shared = findSharedDir()
const modelDir = shared !== undefined ? path.join(shared, "golden", "qwen2-tiny-gqa") : undefined

/** Token i ↔ the character U+0100 + i (vocab 512). */
const charTokenizer: TokenizerShape = {
  vocabSize: 512,
  eosTokenIds: [],
  bosTokenId: undefined,
  padTokenId: 0,
  specialTokenIds: new Set(),
  encode: (text) => Array.from(text, (c) => (c.codePointAt(0) as number) - 0x100),
  decode: (ids) => ids.map((i) => String.fromCodePoint(0x100 + i)).join(""),
  tokenToId: (t) => (t.codePointAt(0) as number) - 0x100,
  idToToken: (i) => String.fromCodePoint(0x100 + i),
  applyChatTemplate: () => Effect.die("no chat template")
}

describe.skipIf(modelDir === undefined)(
  `EvalRunner on the golden Qwen2 ${modelDir === undefined ? sharedMissingMessage : ""}`,
  () => {
    it("greedy and steered generations match transformers", async () => {
      const golden = JSON.parse(readFileSync(path.join(modelDir as string, "golden.json"), "utf8")) as {
        greedy: { prompt: Array<number>; new_tokens: Array<number> }
        steering: { layer: number; vector: Array<number>; greedy: { prompt: Array<number>; new_tokens: Array<number> } }
      }
      const item: EvalItem = {
        id: "g",
        source: "golden",
        category: "golden",
        messages: [],
        tools: [],
        expected: { _tag: "Unknown" }
      }
      const task: Task = {
        name: "golden",
        items: [item],
        prompt: PromptStyles.custom("golden-ids", () => charTokenizer.decode(golden.greedy.prompt)),
        scorers: [
          makeScorer({
            name: "len",
            description: "response length",
            metrics: [],
            score: ({ response }) => ({ metrics: { chars: response.length } })
          })
        ]
      }
      const steer: Intervention = {
        name: "golden-steering",
        hooks: () =>
          Effect.succeed([
            addVectorHook(blockOutput(golden.steering.layer), golden.steering.vector, Positions.all, "always")
          ])
      }
      const program = Effect.gen(function* () {
        const model = yield* loadModel(modelDir as string)
        const runner = makeEvalRunner({ model, tokenizer: charTokenizer })
        const settings = { maxNewTokens: 12, stopTokenIds: [] }
        const clean = yield* runner.run({ run: "clean", task, settings, recordTokenIds: true })
        const steered = yield* runner.run({ run: "steered", task, settings, recordTokenIds: true, intervention: steer })
        return { clean, steered }
      })
      const { clean, steered } = await Effect.runPromise(
        Effect.scoped(program).pipe(
          Effect.provide(TensorBackend.layerFor("wasm")),
          Effect.provide(NodeServices.layer),
          Effect.provide(Logger.layer([Logger.make(() => undefined)]))
        )
      )
      expect(clean.records[0]?.generation.tokenIds).toEqual(golden.greedy.new_tokens)
      expect(clean.records[0]?.metrics["len.chars"]).toBe(12)
      expect(golden.steering.greedy.prompt).toEqual(golden.greedy.prompt)
      expect(steered.records[0]?.generation.tokenIds).toEqual(golden.steering.greedy.new_tokens)
      expect(steered.records[0]?.generation.tokenIds).not.toEqual(golden.greedy.new_tokens)
    })
  }
)
