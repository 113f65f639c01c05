/**
 * `loadModel(dir)`: read `config.json`'s `model_type`, find the family in the `ModelFamilies`
 * registry, load. The result is a plain `LanguageModelShape` value owned by the caller's scope
 * (programs hold several models at once, so there is no single-model service tag).
 */
import { Effect, type FileSystem, type Path, type Scope } from "effect"
import type { TensorBackend } from "../backend/TensorBackend.js"
import { readModelType } from "../config/modelType.js"
import { type LanguageModelShape, ModelLoadError, UnsupportedConfigError } from "./LanguageModel.js"
import type { LoadModelOptions } from "./ModelFamily.js"
import { ModelFamilies, modelFamilyRegistry, supportedModelTypes } from "./registry.js"

export const loadModel = Effect.fn("loadModel")(function* (
  dir: string,
  options: LoadModelOptions = {}
): Effect.fn.Return<
  LanguageModelShape,
  ModelLoadError | UnsupportedConfigError,
  TensorBackend | Scope.Scope | FileSystem.FileSystem | Path.Path
> {
  const { modelType } = yield* readModelType(dir).pipe(
    Effect.mapError((e) => new ModelLoadError({ path: e.path, message: e.message }))
  )
  if (modelType === undefined) {
    return yield* new ModelLoadError({
      path: dir,
      message: `${dir}/config.json has no "model_type"; cannot choose a model family`
    })
  }
  const families = yield* ModelFamilies
  const family = modelFamilyRegistry(families).get(modelType)
  if (family === undefined) {
    return yield* new UnsupportedConfigError({
      field: "model_type",
      value: modelType,
      message: `${dir}/config.json: model_type "${modelType}" has no registered model family (supported: ${supportedModelTypes(families).join(", ")})`
    })
  }
  return yield* family.load(dir, options)
})
