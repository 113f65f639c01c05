/**
 * The `LanguageModel` service: what every model family (Qwen2 first) implements so that harvesting,
 * evaluation and steering never depend on one architecture.
 *
 * Inputs are ragged token sequences; the model pads them itself (left or right) and returns
 * per-sequence results holding **real positions only**, so callers never handle padding.
 */
import { type Effect, Schema, type Scope } from "effect"
import type { Hook } from "./hooks.js"

export interface ModelInfo {
  /** Architecture family, e.g. "qwen2". */
  readonly family: string
  /** A display name (directory basename unless given). */
  readonly name: string
  /** Directory the model was loaded from, if any. */
  readonly path?: string
  readonly numLayers: number
  readonly hiddenSize: number
  readonly vocabSize: number
  /** Storage dtype of the weights on disk ("float32", "bfloat16", "float16"); compute is float32. */
  readonly weightDtype: string
  readonly eosTokenIds: ReadonlyArray<number>
  readonly padTokenId?: number
  /**
   * Set when the model was loaded partially (`loadModel(dir, { maxLayer })`): only blocks
   * `0..maxLayer` exist, so only forward passes with `stopAtLayer ≤ maxLayer` work (`numLayers`
   * is still the architecture's depth).
   */
  readonly maxLayer?: number
}

export type Padding = "left" | "right"

export interface ForwardRequest {
  /** One token-id array per sequence; lengths may differ. */
  readonly inputIds: ReadonlyArray<ReadonlyArray<number>>
  /** How to pad a batch of unequal lengths (default "right"). Results are identical either way. */
  readonly padding?: Padding
  /**
   * Run decoder blocks `0..stopAtLayer` only (for harvesting): no final norm, no logits, and
   * `hiddenStates` (if asked) ends with the output of block `stopAtLayer`.
   */
  readonly stopAtLayer?: number
  /** Which logits to return (default "all"; forced to "none" with `stopAtLayer`). */
  readonly logits?: "none" | "last" | "all"
  /**
   * Return HF-style `hidden_states`: entry 0 = embeddings, entry i = output of block i-1, and the
   * last entry (i = numLayers) = final norm applied to the last block's output (as transformers).
   */
  readonly hiddenStates?: boolean
  /** Hooks for this call only, in addition to those registered with `addHooks`. */
  readonly hooks?: ReadonlyArray<Hook>
}

export interface SequenceForward {
  /** `logits: "all"`: `[T * vocab]` row-major over the sequence's real tokens. */
  readonly logits?: Float32Array
  /** `logits: "last"`: `[vocab]` at the last real token. */
  readonly lastLogits?: Float32Array
  /** `hiddenStates: true`: one `[T * hidden]` array per entry (see ForwardRequest.hiddenStates). */
  readonly hiddenStates?: ReadonlyArray<Float32Array>
  /** Number of real tokens. */
  readonly length: number
}

export type Sampling =
  | { readonly _tag: "Greedy" }
  | {
      readonly _tag: "Sample"
      readonly temperature: number
      readonly topK?: number
      readonly topP?: number
      readonly seed: number
    }

export const Greedy: Sampling = { _tag: "Greedy" }

export interface GenerateRequest {
  readonly prompts: ReadonlyArray<ReadonlyArray<number>>
  readonly maxNewTokens: number
  /** Default greedy. */
  readonly sampling?: Sampling
  /** Generation stops for a row when it emits one of these (default: the model's EOS ids). Pass [] to never stop early. */
  readonly stopTokenIds?: ReadonlyArray<number>
  /** Use the KV cache (default true). Without it every step recomputes the whole sequence. */
  readonly useCache?: boolean
  /** Hooks for this call only; `when` decides prefill / decode firing. */
  readonly hooks?: ReadonlyArray<Hook>
  /** Keep the raw logits from which each new token was chosen. */
  readonly returnStepLogits?: boolean
}

export interface SequenceGeneration {
  /** New tokens only (the stop token included when one was emitted). */
  readonly tokens: ReadonlyArray<number>
  readonly stopReason: "stop_token" | "max_new_tokens"
  /** `returnStepLogits`: `[vocab]` per generated token. */
  readonly stepLogits?: ReadonlyArray<Float32Array>
}

export class ModelLoadError extends Schema.TaggedError<ModelLoadError>()("ModelLoadError", {
  path: Schema.String,
  message: Schema.String
}) {}

/** A config field this implementation does not support (e.g. sliding-window attention). */
export class UnsupportedConfigError extends Schema.TaggedError<UnsupportedConfigError>()("UnsupportedConfigError", {
  field: Schema.String,
  value: Schema.String,
  message: Schema.String
}) {}

/**
 * Bad input to forward/generate: token id out of range, empty sequence, bad layer index, hook shape;
 * also a generation step whose logits hold NaN or ±Inf (a hook or the weights overflowed).
 */
export class ModelInputError extends Schema.TaggedError<ModelInputError>()("ModelInputError", {
  message: Schema.String
}) {}

export interface LanguageModelShape {
  readonly info: ModelInfo
  /** One result per input sequence, in order. */
  forward(request: ForwardRequest): Effect.Effect<ReadonlyArray<SequenceForward>, ModelInputError>
  /** Batched generation (left-padded internally); one result per prompt, in order. */
  generate(request: GenerateRequest): Effect.Effect<ReadonlyArray<SequenceGeneration>, ModelInputError>
  /**
   * Register hooks on every later forward/generate until the enclosing scope closes. They are
   * removed on scope close whatever the exit (success, failure or interruption).
   */
  addHooks(hooks: ReadonlyArray<Hook>): Effect.Effect<void, ModelInputError, Scope.Scope>
  /** Free weights and caches (also done by the loader's scope). */
  readonly dispose: Effect.Effect<void>
}
