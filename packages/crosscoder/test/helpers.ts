import {
  ActivationSource,
  type ActivationSourceShape,
  makeInMemorySource,
  type SourceInfo
} from "@crosscode/activations"
import { type BackendName, TensorBackend } from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, type FileSystem, Layer, type Path, Result } from "effect"
import {
  Crosscoder,
  type CrosscoderConfig,
  identityNormalization,
  type Normalization,
  type PartitionRegistry,
  Plugins,
  type SparsityRegistry
} from "../src/index.js"
import { initialArrays, resolvePlugins } from "../src/model/Crosscoder.js"
import type { TF } from "../src/tf.js"

/**
 * The backend the tests run on: wasm, or `CROSSCODE_TEST_BACKEND` (.ci/run reruns the sparse-step
 * equivalence tests with `native`, adding @crosscode/native's kernel set).
 */
export const testBackend = (process.env.CROSSCODE_TEST_BACKEND ?? "wasm") as BackendName
export const TestLayer = Layer.mergeAll(NodeServices.layer, TensorBackend.layerFor(testBackend), Plugins.layer)

export const run = <A, E>(
  eff: Effect.Effect<A, E, TensorBackend | SparsityRegistry | PartitionRegistry | FileSystem.FileSystem | Path.Path>
): Promise<A> => Effect.runPromise(Effect.provide(eff, TestLayer))

export const getTf = (): Promise<TF> => run(TensorBackend.useSync((b) => b.tf))

/** A crosscoder from explicit arrays (or seeded random ones). */
export const build = (
  config: CrosscoderConfig,
  arrays?: Record<string, Float32Array>,
  options: { seed?: number; normalization?: Normalization } = {}
): Promise<Crosscoder> =>
  run(
    Effect.gen(function* () {
      const tf = (yield* TensorBackend).tf
      const { sparsity, partition } = yield* resolvePlugins(config)
      const { sources, dim } = config.architecture
      const made = Crosscoder.fromParts({
        tf,
        config,
        sparsity,
        partition,
        normalization: options.normalization ?? identityNormalization(sources.length, dim),
        arrays: arrays ?? initialArrays(config, partition, options.seed ?? 0)
      })
      return Result.getOrThrow(made)
    })
  )

/** Deterministic pseudo-random floats in [-1, 1). */
export const randomArray = (n: number, seed: number, scale = 1): Float32Array => {
  const out = new Float32Array(n)
  let s = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    out[i] = ((s / 4294967296) * 2 - 1) * scale
  }
  return out
}

export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

export const maxAbs = (a: ArrayLike<number>): number => {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!))
  return m
}

export const bitsEqual = (a: Float32Array, b: Float32Array): boolean =>
  a.length === b.length &&
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))

/**
 * The activations package's in-memory source over `[rows, sources.length, dim]` (the store's
 * statistics: sample std with Bessel's correction, floored at 1e-6).
 */
export const memorySource = (
  data: Float32Array,
  sources: ReadonlyArray<SourceInfo>,
  dim: number
): ActivationSourceShape => Effect.runSync(makeInMemorySource({ data, numSources: sources.length, sources, dim }))

/** {@link memorySource} as the `ActivationSource` service. */
export const memorySourceLayer = (
  data: Float32Array,
  sources: ReadonlyArray<SourceInfo>,
  dim: number
): Layer.Layer<ActivationSource> =>
  Layer.succeed(ActivationSource, ActivationSource.of(memorySource(data, sources, dim)))
