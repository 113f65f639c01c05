/**
 * Model families: how `loadModel(dir)` turns a Hugging Face directory into a `LanguageModelShape`.
 * A family declares the `config.json` `model_type` values it loads; the registry is a
 * `Context.Reference` (default: `[qwen2Family]`), so a program adds a family by providing a longer
 * list — see `withModelFamilies`, `modelFamiliesLayer` and docs/extending-model-family.md.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { TensorBackend } from "../backend/TensorBackend.js"
import { qwen2Family } from "../qwen2/family.js"
import type { LanguageModelShape, ModelLoadError, UnsupportedConfigError } from "./LanguageModel.js"

export interface LoadModelOptions {
  /** Display name (default: the directory's basename). */
  readonly name?: string
  /**
   * "tensor" (default) or "compact": keep the embedding matrix in its storage dtype in JS memory
   * (saves memory for untied models, or with `logits: false`). Families may ignore it.
   */
  readonly embeddings?: "tensor" | "compact"
  /** Load the LM head (default true). `false` gives a model for activation harvesting only. */
  readonly logits?: boolean
  /**
   * Storage of linear weights: `"inOut"` (`[in, out]`, XNNPACK's fast path on wasm, which keeps a
   * packed copy: 2× weight memory) or `"outIn"` (HF's `[out, in]`, transposed matMul, no copy).
   * Default: `"inOut"` on wasm, `"outIn"` on other backends. Families may ignore it.
   */
  readonly linearLayout?: "inOut" | "outIn"
  /**
   * Partial load for activation harvesting: only the embeddings and decoder blocks `0..maxLayer`.
   * Later blocks, the final norm and the LM head are skipped and their bytes never read (a shard
   * holding only skipped tensors is not even opened). The model serves `forward` with
   * `stopAtLayer ≤ maxLayer`; a pass that needs a later block, a hook site past `maxLayer` and
   * `generate` fail with `ModelInputError` naming maxLayer. Implies `logits: false` (an explicit
   * `logits: true` is a `ModelLoadError`); out of `[0, num_hidden_layers)` is a `ModelLoadError`.
   * `info.maxLayer` reports it. Families may ignore it (the model then has every block).
   */
  readonly maxLayer?: number
}

export interface ModelFamily {
  /** e.g. "qwen2". */
  readonly name: string
  /** `config.json` `model_type` values this family loads. */
  readonly modelTypes: ReadonlyArray<string>
  /**
   * Loads the model in `dir`. Weights are released when the scope closes. Config problems are
   * `UnsupportedConfigError` (a feature not implemented) or `ModelLoadError` (anything else).
   */
  readonly load: (
    dir: string,
    options: LoadModelOptions
  ) => Effect.Effect<LanguageModelShape, ModelLoadError | UnsupportedConfigError, TensorBackend | Scope.Scope>
}

/** The registry `loadModel` consults: the first family whose `modelTypes` contains the config's `model_type` wins. */
export const ModelFamilies = Context.Reference<ReadonlyArray<ModelFamily>>("@crosscode/core/ModelFamilies", {
  defaultValue: () => [qwen2Family]
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
