import { readFileSync } from "node:fs"
import * as path from "node:path"
import { NodeServices } from "@effect/platform-node"
import { Effect, type FileSystem, Layer, type Path, type Scope } from "effect"
import { type BackendName, findSharedDir, TensorBackend } from "../src/index.js"

export const shared = findSharedDir()
export const goldenDir = (model: string): string => path.join(shared ?? "", "golden", model)
/** The Qwen2 goldens. */
export const GOLDEN_MODELS = ["qwen2-tiny-gqa", "qwen2-tiny-untied", "qwen2-tiny-gqa-bf16"] as const
/** The Llama and Gemma 2 goldens (same schema; see the golden README's family sections). */
export const FAMILY_GOLDEN_MODELS = ["llama-tiny-gqa", "llama-tiny-rope-scaled", "gemma2-tiny"] as const
export const ALL_GOLDEN_MODELS = [...GOLDEN_MODELS, ...FAMILY_GOLDEN_MODELS] as const

export interface GoldenForward {
  readonly input_ids: Array<number>
  readonly logits: Array<Array<number>>
  readonly hidden_states: Array<Array<Array<number>>>
  readonly layer_outputs: Array<Array<Array<number>>>
}
export interface GoldenGreedy {
  readonly prompt: Array<number>
  readonly max_new_tokens: number
  readonly new_tokens: Array<number>
  readonly step_logits: Array<Array<number>>
}
export interface Golden {
  readonly config: Record<string, unknown>
  readonly weights: {
    readonly file: string
    readonly dtype: string
    readonly sha256: string
    readonly tensor_count: number
  }
  readonly forward: Array<GoldenForward>
  readonly greedy: GoldenGreedy
  readonly steering: {
    readonly layer: number
    readonly vector: Array<number>
    readonly forward: Array<GoldenForward>
    readonly greedy: GoldenGreedy
  }
}

const cache = new Map<string, Golden>()
export const readGolden = (model: string): Golden => {
  let g = cache.get(model)
  if (g === undefined) {
    g = JSON.parse(readFileSync(path.join(goldenDir(model), "golden.json"), "utf8")) as Golden
    cache.set(model, g)
  }
  return g
}

/** max |a - b| where b is a nested golden array (float32 values written as shortest decimals). */
export const maxAbsDiff = (a: ArrayLike<number>, b: ReadonlyArray<unknown>): number => {
  const flat = (b as Array<unknown>).flat(Number.POSITIVE_INFINITY) as Array<number>
  if (flat.length !== a.length) throw new Error(`length mismatch: ${a.length} vs ${flat.length}`)
  let m = 0
  for (let i = 0; i < flat.length; i++) {
    const d = Math.abs(a[i]! - Math.fround(flat[i]!))
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d
  }
  return m
}

export const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`)
  let m = 0
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!)
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d
  }
  return m
}

/**
 * The backend the tests run on: wasm, or `CROSSCODE_TEST_BACKEND` (e.g. `native`, which .ci/run
 * uses to rerun the golden tests on @crosscode/native's kernels).
 */
export const testBackend = (process.env.CROSSCODE_TEST_BACKEND ?? "wasm") as BackendName
export const Wasm = TensorBackend.layerFor(testBackend)
/** The test backend plus Node's `FileSystem` and `Path` (config, tokenizer and JSONL reads). */
const TestLayer = Layer.merge(Wasm, NodeServices.layer)
type TestEnv = TensorBackend | Scope.Scope | FileSystem.FileSystem | Path.Path

/** Runs a scoped effect on the test backend (wasm unless CROSSCODE_TEST_BACKEND says otherwise). */
export const run = <A, E>(effect: Effect.Effect<A, E, TestEnv>): Promise<A> =>
  Effect.runPromise(Effect.scoped(effect).pipe(Effect.provide(TestLayer)))

export const runExit = <A, E>(effect: Effect.Effect<A, E, TestEnv>) =>
  Effect.runPromiseExit(Effect.scoped(effect).pipe(Effect.provide(TestLayer)))

export const failureOf = async <A, E>(effect: Effect.Effect<A, E, TestEnv>): Promise<E> => {
  const r = await Effect.runPromise(Effect.scoped(Effect.flip(effect)).pipe(Effect.provide(TestLayer)))
  return r
}

/** Runs an effect that reads or writes files with Node's `FileSystem` and `Path`. */
export const runFiles = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>): Promise<A> =>
  Effect.runPromise(Effect.provide(effect, NodeServices.layer))
