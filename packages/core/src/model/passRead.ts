/**
 * One engine pass followed by one batch of asynchronous reads.
 *
 * The pass itself is synchronous (`tf.tidy`, hooks between blocks); everything the caller needs on
 * the host — logits, hidden states, and whatever hooks asked for through
 * `HookContext.readAfterPass` — is read afterwards with `await tensor.data()`. That is the only
 * read tfjs-backend-webgpu supports in Node, and on wasm/native it costs the same as `dataSync()`.
 */
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Exit } from "effect"
import { disposeKVCache, type EngineResult, type KVCache } from "./engine.js"
import { attemptPass } from "./hookRunner.js"
import type { HookContext } from "./hooks.js"
import { ModelInputError } from "./LanguageModel.js"

type ReadAfterPass = NonNullable<HookContext["readAfterPass"]>

export interface PassValues {
  /** `[logitRows.length * vocab]`, when the pass computed logits. */
  readonly logits: Float32Array | undefined
  /** One `[batch * seqLen * hidden]` array per hidden state. */
  readonly hidden: ReadonlyArray<Float32Array>
  /** The pass's KV cache (when `keepCache`): the caller owns it. */
  readonly cache: KVCache | undefined
}

/** `tf.tidy` over an engine pass: the returned tensors (logits, hidden states, cache) survive. */
const tidyPass = (f: () => EngineResult): EngineResult =>
  tf.tidy(() => f() as unknown as tf.TensorContainer) as unknown as EngineResult

/** Reads tensors (as float32) in one batch. */
export const readFloat32 = (tensors: ReadonlyArray<tf.Tensor>): Effect.Effect<Array<Float32Array>> =>
  Effect.promise(() => Promise.all(tensors.map((t) => t.data() as Promise<Float32Array>)))

/**
 * Runs `run` (given the `readAfterPass` to put into hook contexts), then reads its results and
 * every deferred tensor, hands the deferred values to their callbacks in call order, and frees all
 * tensors but the cache (which is disposed too unless `keepCache`, or if anything fails).
 */
export const runPassAndRead = (
  run: (readAfterPass: ReadAfterPass) => EngineResult,
  keepCache: boolean
): Effect.Effect<PassValues, ModelInputError> =>
  Effect.suspend(() => {
    const deferred: Array<{ readonly tensor: tf.Tensor; readonly then: (values: Float32Array) => void }> = []
    const readAfterPass: ReadAfterPass = (tensor, then) => {
      // A clone (no copy on wasm/cpu/webgpu: a reference count) so the engine may free its own.
      deferred.push({
        tensor: tf.keep(tensor.dtype === "float32" ? tf.clone(tensor) : tf.cast(tensor, "float32")),
        then
      })
    }
    const disposeDeferred = () => {
      for (const d of deferred) d.tensor.dispose()
    }
    return attemptPass(() => tidyPass(() => run(readAfterPass))).pipe(
      Effect.onError(() => Effect.sync(disposeDeferred)),
      Effect.flatMap((result) => {
        const own: Array<tf.Tensor> = [
          ...(result.logits !== undefined ? [result.logits] : []),
          ...(result.hiddenStates ?? [])
        ]
        return readFloat32([...own, ...deferred.map((d) => d.tensor)]).pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              for (const t of own) t.dispose()
              disposeDeferred()
              if (!keepCache || Exit.isFailure(exit)) disposeKVCache(result.cache)
            })
          ),
          Effect.flatMap((values) => {
            const offset = result.logits !== undefined ? 1 : 0
            const nHidden = result.hiddenStates?.length ?? 0
            for (let i = 0; i < deferred.length; i++) {
              try {
                deferred[i]!.then(values[offset + nHidden + i]!)
              } catch (e) {
                if (keepCache) disposeKVCache(result.cache)
                return Effect.fail(
                  new ModelInputError({
                    message: `a hook's readAfterPass callback threw: ${e instanceof Error ? e.message : String(e)}`
                  })
                )
              }
            }
            return Effect.succeed({
              logits: result.logits !== undefined ? values[0] : undefined,
              hidden: values.slice(offset, offset + nHidden),
              cache: keepCache ? result.cache : undefined
            })
          })
        )
      })
    )
  })
