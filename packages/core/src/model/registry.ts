/**
 * The model-family registry `loadModel` consults: a `Context.Reference` whose default is the
 * built-in families (Qwen2, Llama, Gemma 2), so a program adds a family by providing a longer list
 * — `withModelFamilies`, `modelFamiliesLayer`. Lookup follows the registries' one rule
 * (`makeRegistry`): families are registered in list order under each of their `modelTypes`, and a
 * later family replaces an earlier one for a `model_type` they share.
 */
import { Context, Effect, Layer } from "effect"
import { gemma2Family } from "../gemma2/family.js"
import { llamaFamily } from "../llama/family.js"
import { qwen2Family } from "../qwen2/family.js"
import { makeRegistry, type Registry } from "../util/registry.js"
import type { ModelFamily } from "./ModelFamily.js"

/** The built-in families, in lookup order. */
export const defaultModelFamilies: ReadonlyArray<ModelFamily> = [qwen2Family, llamaFamily, gemma2Family]

/** The families by `model_type` (a later family replaces an earlier one for a shared type). */
export const modelFamilyRegistry = (families: ReadonlyArray<ModelFamily>): Registry<ModelFamily> =>
  makeRegistry(families, (f) => f.modelTypes)

/** Every `model_type` the given families load, in order, without repeats. */
export const supportedModelTypes = (families: ReadonlyArray<ModelFamily> = defaultModelFamilies): Array<string> => [
  ...modelFamilyRegistry(families).names
]

/** The families `loadModel` consults, earliest first (the last family loading a `model_type` wins). */
export const ModelFamilies = Context.Reference<ReadonlyArray<ModelFamily>>("@crosscode/core/ModelFamilies", {
  defaultValue: () => defaultModelFamilies
})

/** Runs `self` with `families` registered after the current ones (so they take precedence). */
export const withModelFamilies =
  (...families: ReadonlyArray<ModelFamily>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.updateService(self, ModelFamilies, (current) => [...current, ...families])

/** A layer registering `families` after the defaults (so they take precedence). */
export const modelFamiliesLayer = (...families: ReadonlyArray<ModelFamily>) =>
  Layer.effect(
    ModelFamilies,
    Effect.gen(function* () {
      const current = yield* ModelFamilies
      return [...current, ...families]
    })
  )
