import { readFileSync } from "node:fs"
import * as path from "node:path"
import {
  blockOutput,
  findSharedDir,
  type LanguageModelShape,
  loadModel,
  TensorBackend,
  type TokenizerShape
} from "@crosscode/core"
import {
  type Crosscoder,
  dfcSpec,
  makeCrosscoder,
  type Normalization,
  Plugins,
  sourcesFor,
  topK
} from "@crosscode/crosscoder"
import { NodeServices } from "@effect/platform-node"
import { Effect, Exit, Layer, Logger, Scope } from "effect"
import { PairEncoder } from "../src/index.js"

export const shared = findSharedDir()
export const goldenDir = (model: string): string => path.join(shared ?? "", "golden", model)
export const GOLDEN_MODELS = [
  "qwen2-tiny-gqa",
  "qwen2-tiny-untied",
  "qwen2-tiny-gqa-bf16",
  "llama-tiny-gqa",
  "llama-tiny-rope-scaled",
  "gemma2-tiny"
] as const

export interface GoldenForward {
  readonly input_ids: Array<number>
  readonly logits: Array<Array<number>>
}
export interface Golden {
  readonly greedy: {
    readonly prompt: Array<number>
    readonly max_new_tokens: number
    readonly new_tokens: Array<number>
  }
  readonly steering: {
    readonly layer: number
    readonly vector: Array<number>
    readonly forward: Array<GoldenForward>
    readonly greedy: {
      readonly prompt: Array<number>
      readonly max_new_tokens: number
      readonly new_tokens: Array<number>
      readonly step_logits: Array<Array<number>>
    }
  }
}
export const readGolden = (model: string): Golden =>
  JSON.parse(readFileSync(path.join(goldenDir(model), "golden.json"), "utf8")) as Golden

const quiet = Logger.layer([Logger.make(() => undefined)])
export const TestLayer = Layer.mergeAll(TensorBackend.layerFor("wasm"), Plugins.layer, NodeServices.layer, quiet)
type Provided = Layer.Success<typeof TestLayer>

export const run = <A, E>(eff: Effect.Effect<A, E, Provided | Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(eff).pipe(Effect.provide(TestLayer)))
export const runExit = <A, E>(eff: Effect.Effect<A, E, Provided | Scope.Scope>) =>
  Effect.runPromiseExit(Effect.scoped(eff).pipe(Effect.provide(TestLayer)))

/** A scope that outlives single tests (models loaded once per file). */
export const longScope = () => {
  const scope = Effect.runSync(Scope.make())
  return {
    use: <A, E>(eff: Effect.Effect<A, E, Provided | Scope.Scope>): Promise<A> =>
      Effect.runPromise(eff.pipe(Scope.provide(scope), Effect.provide(TestLayer))),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

export const SITE = blockOutput(1)

/** The test pair: A = qwen2-tiny-gqa (float32), B = its bfloat16 copy (same architecture, hidden 64). */
export const loadPair = Effect.gen(function* () {
  const A = yield* loadModel(goldenDir("qwen2-tiny-gqa"))
  const B = yield* loadModel(goldenDir("qwen2-tiny-gqa-bf16"))
  return { A, B }
})

/** A tiny random DFC over models A, B at dim 64: 32 features, A-excl [0, 8), B-excl [8, 16), shared [16, 32), TopK 6. */
export const tinyCrosscoder = (
  options: { seed?: number; normalization?: Normalization; features?: number; k?: number } = {}
) =>
  makeCrosscoder(
    {
      architecture: { sources: sourcesFor(["A", "B"]), dim: 64, features: options.features ?? 32 },
      sparsity: topK(options.k ?? 6),
      partition: dfcSpec(0.25)
    },
    {
      seed: options.seed ?? 7,
      ...(options.normalization !== undefined ? { normalization: options.normalization } : {})
    }
  )

/** A z-score-like normalization with a non-trivial mean and divisor (to exercise raw-space handling). */
export const testNormalization = (S: number, d: number): Normalization => {
  const mean = new Float32Array(S * d)
  const divisor = new Float32Array(S * d)
  for (let i = 0; i < S * d; i++) {
    mean[i] = Math.fround(0.3 * Math.sin(i))
    divisor[i] = Math.fround(2 + Math.cos(i))
  }
  return { mode: "zscore", mean, divisor, count: 100 }
}

export const pairLayer = (models: { A: LanguageModelShape; B: LanguageModelShape }, crosscoder: Crosscoder) =>
  PairEncoder.layer({ crosscoder, models, sites: SITE })

/** Character-level tokenizer over ASCII (ids < 128 fit the golden models' vocabulary of 512). */
export const asciiTokenizer: TokenizerShape = {
  vocabSize: 512,
  eosTokenIds: [],
  bosTokenId: undefined,
  padTokenId: 0,
  specialTokenIds: new Set(),
  encode: (text) => Array.from(text, (c) => c.charCodeAt(0) & 127),
  decode: (ids) => ids.map((i) => (i < 128 ? String.fromCharCode(i) : `⟨${i}⟩`)).join(""),
  tokenToId: (t) => (t.length === 1 ? t.charCodeAt(0) & 127 : undefined),
  idToToken: (id) => String.fromCharCode(id),
  applyChatTemplate: () => Effect.die("no chat template")
}

/** Deterministic token-id prompts below 128 (printable-ish). */
export const prompts = (n: number, len: number, seed = 1): Array<Array<number>> => {
  let s = seed
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648
    return 33 + (s % 90)
  }
  return Array.from({ length: n }, (_, i) => Array.from({ length: len + (i % 3) }, next))
}

export const bitsEqual = (a: Float32Array, b: Float32Array): boolean =>
  a.length === b.length &&
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))

export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`)
  let m = 0
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!)
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d
  }
  return m
}
