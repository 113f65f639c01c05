/**
 * Plugin registries. Configs and checkpoints name sparsity schemes and partitions by `kind`; the
 * registries in the Effect context map kinds to plugins. Add your own kinds without touching this
 * package: `Plugins.layerWith({ sparsity: [MyScheme], partition: [MyPartition] })`. A name clash
 * follows core's registry rule (`makeRegistry`): a later kind replaces the built-in of that name.
 */
import { makeRegistry } from "@crosscode/core"
import { Context, Effect, Layer, Result, Schema } from "effect"
import { CrosscoderConfigError } from "./errors.js"
import { BuiltinPartitionKinds, type Partition, type PartitionDims, type PartitionKind } from "./partition/Partition.js"
import { BuiltinSparsityKinds } from "./sparsity/builtins.js"
import type { SparsityDims, SparsityKind, SparsityScheme } from "./sparsity/SparsityScheme.js"

export interface SparsityRegistryShape {
  readonly kinds: ReadonlyArray<string>
  get(kind: string): SparsityKind | undefined
  /** Decode a JSON spec with its kind's schema and build the scheme. */
  resolve(spec: unknown, dims: SparsityDims): Effect.Effect<SparsityScheme, CrosscoderConfigError>
}

export interface PartitionRegistryShape {
  readonly kinds: ReadonlyArray<string>
  get(kind: string): PartitionKind | undefined
  resolve(spec: unknown, dims: PartitionDims): Effect.Effect<Partition, CrosscoderConfigError>
}

const kindOf = (spec: unknown): string | undefined =>
  typeof spec === "object" && spec !== null && typeof (spec as { kind?: unknown }).kind === "string"
    ? (spec as { kind: string }).kind
    : undefined

const makeResolver = <K extends { readonly kind: string; readonly schema: Schema.Codec<any, unknown> }, D, Out>(
  what: string,
  kinds: ReadonlyArray<K>,
  build: (kind: K, spec: any, dims: D) => Result.Result<Out, string>
) => {
  const byKind = makeRegistry(kinds, (k) => k.kind) // core's rule: a later kind replaces a built-in of that name
  const resolve = (spec: unknown, dims: D): Effect.Effect<Out, CrosscoderConfigError> =>
    Effect.gen(function* () {
      const kind = kindOf(spec)
      if (kind === undefined)
        return yield* new CrosscoderConfigError({
          message: `${what} spec has no string "kind": ${JSON.stringify(spec)}`
        })
      const plugin = byKind.get(kind)
      if (plugin === undefined) {
        return yield* new CrosscoderConfigError({
          message: `unknown ${what} kind "${kind}" (registered: ${byKind.names.join(", ")}); register it with Plugins.layerWith`
        })
      }
      const decoded = yield* Schema.decodeUnknownEffect(plugin.schema)(spec).pipe(
        Effect.mapError(
          (e) => new CrosscoderConfigError({ message: `invalid ${what} spec for "${kind}": ${e.message}` })
        )
      )
      const built = build(plugin, decoded, dims)
      if (Result.isFailure(built)) return yield* new CrosscoderConfigError({ message: built.failure })
      return built.success
    })
  return { kinds: byKind.names, get: byKind.get, resolve }
}

export const makeSparsityRegistry = (kinds: ReadonlyArray<SparsityKind<any>>): SparsityRegistryShape =>
  makeResolver<SparsityKind<any>, SparsityDims, SparsityScheme>(
    "sparsity",
    [...BuiltinSparsityKinds, ...kinds],
    (k, s, d) => k.make(s, d)
  )

export const makePartitionRegistry = (kinds: ReadonlyArray<PartitionKind<any>>): PartitionRegistryShape =>
  makeResolver<PartitionKind<any>, PartitionDims, Partition>(
    "partition",
    [...BuiltinPartitionKinds, ...kinds],
    (k, s, d) => k.make(s, d)
  )

export class SparsityRegistry extends Context.Service<SparsityRegistry, SparsityRegistryShape>()(
  "@crosscode/crosscoder/SparsityRegistry"
) {
  /** Built-in schemes: topk, batch-topk, relu-l1, jumprelu. */
  static readonly layer = Layer.succeed(SparsityRegistry, SparsityRegistry.of(makeSparsityRegistry([])))
  /** Built-ins plus `kinds` (a kind with a built-in's name replaces it). */
  static readonly layerWith = (kinds: ReadonlyArray<SparsityKind<any>>) =>
    Layer.succeed(SparsityRegistry, SparsityRegistry.of(makeSparsityRegistry(kinds)))
}

export class PartitionRegistry extends Context.Service<PartitionRegistry, PartitionRegistryShape>()(
  "@crosscode/crosscoder/PartitionRegistry"
) {
  /** Built-in partitions: none, dfc. */
  static readonly layer = Layer.succeed(PartitionRegistry, PartitionRegistry.of(makePartitionRegistry([])))
  static readonly layerWith = (kinds: ReadonlyArray<PartitionKind<any>>) =>
    Layer.succeed(PartitionRegistry, PartitionRegistry.of(makePartitionRegistry(kinds)))
}

/** Both registries. */
export const Plugins = {
  layer: Layer.mergeAll(SparsityRegistry.layer, PartitionRegistry.layer),
  layerWith: (extra: {
    readonly sparsity?: ReadonlyArray<SparsityKind<any>>
    readonly partition?: ReadonlyArray<PartitionKind<any>>
  }) =>
    Layer.mergeAll(SparsityRegistry.layerWith(extra.sparsity ?? []), PartitionRegistry.layerWith(extra.partition ?? []))
} as const
