/**
 * Model families: how `loadModel(dir)` turns a Hugging Face directory into a `LanguageModelShape`.
 * A family declares the `config.json` `model_type` values it loads. The registry of families
 * (`ModelFamilies`, with the built-in defaults) is in `registry.ts`, so that the families can
 * import these types without an import cycle; see docs/extending-model-family.md.
 */
import type { Effect, FileSystem, Path, Scope } from "effect"
import type { TensorBackend } from "../backend/TensorBackend.js"
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
  ) => Effect.Effect<
    LanguageModelShape,
    ModelLoadError | UnsupportedConfigError,
    TensorBackend | Scope.Scope | FileSystem.FileSystem | Path.Path
  >
}
