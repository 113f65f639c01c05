/**
 * The model-family registry `loadModel` consults: a `Context.Reference` whose default is the
 * built-in families (Qwen2, Llama, Gemma 2), so a program adds a family by providing a longer list
 * — `withModelFamilies`, `modelFamiliesLayer`.
 */
import { Context, Effect, Layer } from "effect"
import { gemma2Family } from "../gemma2/family.js"
import { llamaFamily } from "../llama/family.js"
import { qwen2Family } from "../qwen2/family.js"
import type { ModelFamily } from "./ModelFamily.js"

/** The built-in families, in lookup order. */
export const defaultModelFamilies: ReadonlyArray<ModelFamily> = [qwen2Family, llamaFamily, gemma2Family]

/** Every `model_type` the given families load, in order, without repeats. */
export const supportedModelTypes = (families: ReadonlyArray<ModelFamily> = defaultModelFamilies): Array<string> => [
  ...new Set(families.flatMap((f) => f.modelTypes))
]

/** The registry `loadModel` consults: the first family whose `modelTypes` contains the config's `model_type` wins. */
export const ModelFamilies = Context.Reference<ReadonlyArray<ModelFamily>>("@crosscode/core/ModelFamilies", {
  defaultValue: () => defaultModelFamilies
})

/** Runs `self` with `families` registered in front of the current ones (so they take precedence). */
export const withModelFamilies =
  (...families: ReadonlyArray<ModelFamily>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.updateService(self, ModelFamilies, (current) => [...families, ...current])

/** A layer registering `families` in front of the defaults. */
export const modelFamiliesLayer = (...families: ReadonlyArray<ModelFamily>) =>
  Layer.effect(
    ModelFamilies,
    Effect.gen(function* () {
      const current = yield* ModelFamilies
      return [...families, ...current]
    })
  )
