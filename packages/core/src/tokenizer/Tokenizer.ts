/**
 * Tokenizers (`TokenizerShape` values, from `loadTokenizer`): text ↔ token ids and chat templates, loaded from a model directory
 * (`tokenizer.json` + `tokenizer_config.json`) with `@huggingface/tokenizers` and `@huggingface/jinja`.
 */
import { type Effect, Schema } from "effect"

export interface ChatMessage {
  readonly role: string
  readonly content?: string | null
  readonly tool_calls?: ReadonlyArray<unknown>
  readonly [key: string]: unknown
}

export interface ChatTemplateOptions {
  /** Tool definitions passed to the template as `tools` (omit for none). */
  readonly tools?: ReadonlyArray<unknown>
  readonly addGenerationPrompt?: boolean
  /** Extra template variables. */
  readonly extra?: Readonly<Record<string, unknown>>
}

export class TokenizerLoadError extends Schema.TaggedError<TokenizerLoadError>()("TokenizerLoadError", {
  path: Schema.String,
  message: Schema.String
}) {}

export class ChatTemplateError extends Schema.TaggedError<ChatTemplateError>()("ChatTemplateError", {
  message: Schema.String
}) {}

export interface TokenizerShape {
  /** Vocabulary size including added tokens. */
  readonly vocabSize: number
  readonly eosTokenIds: ReadonlyArray<number>
  readonly bosTokenId: number | undefined
  readonly padTokenId: number | undefined
  encode(text: string, options?: { readonly addSpecialTokens?: boolean }): Array<number>
  decode(ids: ReadonlyArray<number>, options?: { readonly skipSpecialTokens?: boolean }): string
  tokenToId(token: string): number | undefined
  idToToken(id: number): string | undefined
  /** Ids of special (control) tokens, e.g. `<|im_start|>`. */
  readonly specialTokenIds: ReadonlySet<number>
  /** Renders the tokenizer's chat template (fails if there is none). */
  applyChatTemplate(
    messages: ReadonlyArray<ChatMessage>,
    options?: ChatTemplateOptions
  ): Effect.Effect<string, ChatTemplateError>
}
