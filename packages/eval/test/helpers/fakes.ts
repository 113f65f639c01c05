/**
 * A scripted fake `LanguageModelShape` and a character-level fake `TokenizerShape` for runner tests.
 * The model decodes each prompt with the fake tokenizer and answers with the text a script returns.
 */
import {
  type GenerateRequest,
  type Hook,
  type LanguageModelShape,
  ModelInputError,
  type SequenceGeneration,
  type TokenizerShape
} from "@crosscode/core"
import { Effect } from "effect"
import { renderQwen25 } from "../../src/prompt/prompts.js"

export const EOT = 0x110000
export const IM_END = 0x110001
const SPECIAL: ReadonlyArray<[string, number]> = [
  ["<|endoftext|>", EOT],
  ["<|im_end|>", IM_END]
]

export const fakeTokenizer: TokenizerShape = {
  vocabSize: 0x110002,
  eosTokenIds: [IM_END, EOT],
  bosTokenId: undefined,
  padTokenId: EOT,
  specialTokenIds: new Set([EOT, IM_END]),
  encode(text) {
    const out: Array<number> = []
    let i = 0
    outer: while (i < text.length) {
      for (const [s, id] of SPECIAL) {
        if (text.startsWith(s, i)) {
          out.push(id)
          i += s.length
          continue outer
        }
      }
      const cp = text.codePointAt(i) as number
      out.push(cp)
      i += cp > 0xffff ? 2 : 1
    }
    return out
  },
  decode(ids, options) {
    return ids
      .map((id) => {
        const special = SPECIAL.find(([, x]) => x === id)
        if (special !== undefined) return options?.skipSpecialTokens === true ? "" : special[0]
        return String.fromCodePoint(id)
      })
      .join("")
  },
  tokenToId: (t) => SPECIAL.find(([s]) => s === t)?.[1] ?? (t.length === 1 ? t.codePointAt(0) : undefined),
  idToToken: (id) => SPECIAL.find(([, x]) => x === id)?.[0] ?? String.fromCodePoint(id),
  applyChatTemplate: (messages, options) => Effect.sync(() => renderQwen25(messages, options))
}

export interface GenerateCall {
  readonly prompts: ReadonlyArray<string>
  readonly promptIds: ReadonlyArray<ReadonlyArray<number>>
  readonly hooks: ReadonlyArray<Hook>
  readonly maxNewTokens: number
}

export interface ScriptedModel extends LanguageModelShape {
  readonly calls: Array<GenerateCall>
}

/**
 * `script(prompt)` returns the generated text for a prompt. `failOnCall` makes the n-th generate
 * call (1-based) fail, to simulate an interrupted run.
 */
export const scriptedModel = (
  script: (prompt: string) => string,
  options: { failOnCall?: number } = {}
): ScriptedModel => {
  const calls: Array<GenerateCall> = []
  const generate = (request: GenerateRequest) =>
    Effect.suspend(() => {
      const prompts = request.prompts.map((ids) => fakeTokenizer.decode(ids))
      calls.push({
        prompts,
        promptIds: request.prompts,
        hooks: request.hooks ?? [],
        maxNewTokens: request.maxNewTokens
      })
      if (options.failOnCall === calls.length) {
        return Effect.fail(new ModelInputError({ message: `scripted failure on call ${calls.length}` }))
      }
      const stops = request.stopTokenIds ?? [IM_END, EOT]
      return Effect.succeed(
        prompts.map((p): SequenceGeneration => {
          const tokens = fakeTokenizer.encode(script(p))
          if (tokens.length >= request.maxNewTokens)
            return { tokens: tokens.slice(0, request.maxNewTokens), stopReason: "max_new_tokens" }
          return stops.length > 0
            ? { tokens: [...tokens, stops[0] as number], stopReason: "stop_token" }
            : { tokens, stopReason: "max_new_tokens" }
        })
      )
    })
  return {
    info: {
      family: "fake",
      name: "scripted",
      numLayers: 2,
      hiddenSize: 4,
      vocabSize: fakeTokenizer.vocabSize,
      weightDtype: "float32",
      eosTokenIds: [IM_END, EOT]
    },
    forward: () => Effect.fail(new ModelInputError({ message: "forward is not scripted" })),
    generate,
    addHooks: () => Effect.void,
    dispose: Effect.void,
    calls
  }
}
