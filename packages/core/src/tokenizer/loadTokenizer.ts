/**
 * `loadTokenizer(dir)`: a tokenizer (`TokenizerShape`) from a Hugging Face model directory —
 * `tokenizer.json` (required) and `tokenizer_config.json` (special tokens, chat template; a
 * separate `chat_template.jinja` is used when present), plus `generation_config.json`'s EOS ids.
 */

import { Tokenizer as HFTokenizer } from "@huggingface/tokenizers"
import { Effect, FileSystem, Path } from "effect"
import { platformErrorMessage, readTextFileIfExists } from "../util/files.js"
import { type ChatTemplate, compileChatTemplate } from "./chatTemplate.js"
import {
  type ChatMessage,
  ChatTemplateError,
  type ChatTemplateOptions,
  TokenizerLoadError,
  type TokenizerShape
} from "./Tokenizer.js"

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** A special-token entry of tokenizer_config.json: a string or `{ content: string, ... }`. */
const tokenString = (u: unknown): string | undefined =>
  typeof u === "string" ? u : isRecord(u) && typeof u.content === "string" ? u.content : undefined

/** A text file through the platform `FileSystem` (`undefined` if `optional` and absent). */
const readText = (
  file: string,
  optional: boolean
): Effect.Effect<string | undefined, TokenizerLoadError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    return yield* optional ? readTextFileIfExists(file) : fs.readFileString(file)
  }).pipe(
    Effect.mapError((e) => new TokenizerLoadError({ path: file, message: `${file}: ${platformErrorMessage(e)}` }))
  )

const readJson = (file: string, optional: boolean): Effect.Effect<unknown, TokenizerLoadError, FileSystem.FileSystem> =>
  Effect.flatMap(readText(file, optional), (text) =>
    text === undefined
      ? Effect.succeed(undefined)
      : Effect.try({
          try: () => JSON.parse(text) as unknown,
          catch: (e) =>
            new TokenizerLoadError({ path: file, message: `${file}: ${e instanceof Error ? e.message : String(e)}` })
        })
  )

/** Picks the template string: a string, or the "default" entry of a list of named templates. */
const pickTemplate = (u: unknown): string | undefined => {
  if (typeof u === "string") return u
  if (Array.isArray(u)) {
    const named = u.filter(isRecord)
    const def = named.find((t) => t.name === "default") ?? named[0]
    return typeof def?.template === "string" ? def.template : undefined
  }
  return undefined
}

export interface TokenizerFromJsonOptions {
  /** Where it came from, for messages. */
  readonly path?: string
  /** Chat template overriding tokenizer_config.json's. */
  readonly chatTemplate?: string
  /** EOS ids appended to tokenizer_config's eos_token (e.g. from generation_config.json). */
  readonly extraEosTokenIds?: ReadonlyArray<number>
}

/** Builds the service from already-parsed tokenizer.json / tokenizer_config.json objects. */
export const makeTokenizer = Effect.fn("makeTokenizer")(function* (
  tokenizerJson: unknown,
  tokenizerConfig: unknown,
  options: TokenizerFromJsonOptions = {}
): Effect.fn.Return<TokenizerShape, TokenizerLoadError> {
  const where = options.path ?? "<tokenizer>"
  if (!isRecord(tokenizerJson)) {
    return yield* new TokenizerLoadError({ path: where, message: `${where}: tokenizer.json is not a JSON object` })
  }
  const config = isRecord(tokenizerConfig) ? tokenizerConfig : {}
  const model = tokenizerJson.model
  const modelVocab = isRecord(model) ? model.vocab : undefined
  if (
    (Array.isArray(modelVocab) && modelVocab.length === 0) ||
    (isRecord(modelVocab) && Object.keys(modelVocab).length === 0)
  ) {
    // every text would encode to added/unknown tokens only: a harvest would keep a few rows and exit 0
    return yield* new TokenizerLoadError({
      path: where,
      message: `${where}: tokenizer.json's model.vocab is empty`
    })
  }
  const modelType = isRecord(model) ? model.type : undefined
  if (modelType !== undefined && !["BPE", "WordPiece", "Unigram", "WordLevel"].includes(String(modelType))) {
    return yield* new TokenizerLoadError({
      path: where,
      message: `${where}: tokenizer.json's model.type ${JSON.stringify(modelType)} is not BPE, WordPiece, Unigram or WordLevel`
    })
  }
  if (
    options.chatTemplate === undefined &&
    config.chat_template !== undefined &&
    config.chat_template !== null &&
    pickTemplate(config.chat_template) === undefined
  ) {
    const t = config.chat_template
    return yield* new TokenizerLoadError({
      path: where,
      message: `${where}: tokenizer_config.json's chat_template is ${
        Array.isArray(t) ? "a list without a string template" : `of type ${typeof t}`
      }, expected a string or a list of { name, template }`
    })
  }
  const tok = yield* Effect.try({
    try: () => new HFTokenizer(tokenizerJson, config),
    catch: (e) =>
      new TokenizerLoadError({
        path: where,
        message: `${where}: cannot build tokenizer: ${e instanceof Error ? e.message : String(e)}`
      })
  })
  const vocab = tok.get_vocab(true)
  if (vocab.size === 0)
    return yield* new TokenizerLoadError({ path: where, message: `${where}: the tokenizer's vocabulary is empty` })
  let maxId = -1
  for (const id of vocab.values()) if (id > maxId) maxId = id
  const added = tok.get_added_tokens_decoder()
  for (const id of added.keys()) if (id > maxId) maxId = id
  const specialTokenIds = new Set<number>()
  for (const [id, t] of added) if ((t as { special?: boolean }).special === true) specialTokenIds.add(id)

  const idOf = (field: string): number | undefined => {
    const s = tokenString(config[field])
    if (s === undefined) return undefined
    return tok.token_to_id(s)
  }
  const missing = ["bos_token", "eos_token", "pad_token", "unk_token"].find(
    (f) => tokenString(config[f]) !== undefined && tok.token_to_id(tokenString(config[f])!) === undefined
  )
  if (missing !== undefined) {
    return yield* new TokenizerLoadError({
      path: where,
      message: `${where}: ${missing} "${tokenString(config[missing])}" from tokenizer_config.json is not in the vocabulary`
    })
  }
  const eos: Array<number> = []
  const eosId = idOf("eos_token")
  if (eosId !== undefined) eos.push(eosId)
  for (const id of options.extraEosTokenIds ?? []) if (!eos.includes(id)) eos.push(id)

  const source = options.chatTemplate ?? pickTemplate(config.chat_template)
  let template: ChatTemplate | undefined
  if (source !== undefined) {
    template = yield* Effect.try({
      try: () => compileChatTemplate(source),
      catch: (e) =>
        new TokenizerLoadError({
          path: where,
          message: `${where}: chat template does not parse: ${e instanceof Error ? e.message : String(e)}`
        })
    })
  }
  // transformers passes tokenizer.special_tokens_map to the template.
  const specialVars: Record<string, unknown> = {}
  for (const f of ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"]) {
    const s = tokenString(config[f])
    if (s !== undefined) specialVars[f] = s
  }
  if (Array.isArray(config.additional_special_tokens)) {
    specialVars.additional_special_tokens = config.additional_special_tokens
      .map(tokenString)
      .filter((s) => s !== undefined)
  }

  const applyChatTemplate = (messages: ReadonlyArray<ChatMessage>, opts: ChatTemplateOptions = {}) =>
    Effect.suspend(() => {
      if (template === undefined) {
        return Effect.fail(new ChatTemplateError({ message: `${where}: this tokenizer has no chat template` }))
      }
      const t = template
      return Effect.try({
        try: () =>
          t.render({
            ...specialVars,
            ...opts.extra,
            messages,
            ...(opts.tools !== undefined ? { tools: opts.tools } : {}),
            add_generation_prompt: opts.addGenerationPrompt ?? false
          }),
        catch: (e) =>
          new ChatTemplateError({ message: `chat template failed: ${e instanceof Error ? e.message : String(e)}` })
      })
    })

  const bos = idOf("bos_token")
  const pad = idOf("pad_token")
  return {
    vocabSize: maxId + 1,
    eosTokenIds: eos,
    bosTokenId: bos,
    padTokenId: pad,
    specialTokenIds,
    encode: (text, o) => tok.encode(text, { add_special_tokens: o?.addSpecialTokens ?? true }).ids,
    decode: (ids, o) => tok.decode([...ids], { skip_special_tokens: o?.skipSpecialTokens ?? false }),
    tokenToId: (token) => tok.token_to_id(token),
    idToToken: (id) => tok.id_to_token(id),
    applyChatTemplate
  } satisfies TokenizerShape
})

/** Loads `dir`'s tokenizer (tokenizer.json + tokenizer_config.json [+ chat_template.jinja, generation_config.json]). */
export const loadTokenizer = Effect.fn("loadTokenizer")(function* (
  dir: string
): Effect.fn.Return<TokenizerShape, TokenizerLoadError, FileSystem.FileSystem | Path.Path> {
  const path = yield* Path.Path
  const tokenizerJson = yield* readJson(path.join(dir, "tokenizer.json"), false)
  const config = yield* readJson(path.join(dir, "tokenizer_config.json"), true)
  const chatTemplate = yield* readText(path.join(dir, "chat_template.jinja"), true)
  const generation = yield* readJson(path.join(dir, "generation_config.json"), true)
  const genEos = isRecord(generation) ? generation.eos_token_id : undefined
  const extraEos =
    typeof genEos === "number"
      ? [genEos]
      : Array.isArray(genEos)
        ? genEos.filter((x): x is number => typeof x === "number")
        : []
  return yield* makeTokenizer(tokenizerJson, config, {
    path: dir,
    extraEosTokenIds: extraEos,
    ...(chatTemplate !== undefined ? { chatTemplate } : {})
  })
})
