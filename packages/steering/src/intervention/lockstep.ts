/**
 * Every-token interventions that need the model pair, by lockstep recomputation.
 *
 * Hooks cannot form a pair encoding at a generated position: the partner model never sees the
 * generated tokens. `generateLockstep` generates without a KV cache instead: at each step it takes
 * the whole current sequence (prompt + tokens generated so far), asks the intervention for its hooks
 * on that sequence (so a pair-dependent intervention built with `positions: "prompt"` re-encodes
 * the pair at EVERY position of the growing sequence, running the partner model on it too), runs
 * the target model over the full sequence with those hooks and picks the next token.
 *
 * This is exactly "every token, generated ones included": a patch at block L's output changes only
 * layers above L, so the clean activation at the site of every position is the same whether or not
 * other positions are patched, and recomputing the sequence re-applies the same patch to earlier
 * positions. Cost: a full forward of every model per generated token (quadratic in length).
 *
 * `lockstepModel` wraps a model so that `generate` does this for every prompt, which lets the
 * `EvalRunner` (and hence sweeps) evaluate such interventions with the clean condition as the
 * runner's own intervention.
 */
import {
  argmax,
  type GenerateRequest,
  type Intervention,
  type LanguageModelShape,
  ModelInputError,
  Rng,
  type Sampling,
  type SequenceGeneration,
  sampleToken,
  validateSampling
} from "@crosscode/core"
import { Effect } from "effect"

export interface LockstepOptions {
  readonly maxNewTokens: number
  /** Default greedy. Sampling uses the same seeded streams as core's `generate` (row 0). */
  readonly sampling?: Sampling
  /** Default: the model's EOS ids. */
  readonly stopTokenIds?: ReadonlyArray<number>
  readonly returnStepLogits?: boolean
}

/**
 * Generates from one prompt, rebuilding the intervention's hooks on the full sequence at every
 * step (use pair-dependent interventions with `positions: "prompt"`).
 */
export const generateLockstep = <E, R>(
  model: LanguageModelShape,
  intervention: Intervention<E, R>,
  promptIds: ReadonlyArray<number>,
  options: LockstepOptions
): Effect.Effect<SequenceGeneration, E | ModelInputError, R> =>
  Effect.gen(function* () {
    const maxNew = options.maxNewTokens
    if (!Number.isInteger(maxNew) || maxNew < 0) {
      return yield* new ModelInputError({ message: `maxNewTokens must be a non-negative integer, got ${maxNew}` })
    }
    const sampling = options.sampling ?? { _tag: "Greedy" as const }
    const bad = validateSampling(sampling)
    if (bad !== undefined) return yield* bad
    const rng = sampling._tag === "Sample" ? Rng.seeded(sampling.seed, 0) : undefined
    const stops = new Set(options.stopTokenIds ?? model.info.eosTokenIds)
    const V = model.info.vocabSize
    const seq = [...promptIds]
    const tokens: Array<number> = []
    const stepLogits: Array<Float32Array> = []
    let stopped = false
    while (tokens.length < maxNew) {
      const hooks = yield* intervention.hooks({ promptIds: seq, row: 0, batchSize: 1 })
      const [f] = yield* model.forward({ inputIds: [seq], logits: "last", hooks })
      const logits = f!.lastLogits!
      const tok =
        rng !== undefined && sampling._tag === "Sample"
          ? sampleToken(logits, 0, V, sampling, rng)
          : argmax(logits, 0, V)
      tokens.push(tok)
      seq.push(tok)
      if (options.returnStepLogits === true) stepLogits.push(logits)
      if (stops.has(tok)) {
        stopped = true
        break
      }
    }
    return {
      tokens,
      stopReason: stopped ? ("stop_token" as const) : ("max_new_tokens" as const),
      ...(options.returnStepLogits === true ? { stepLogits } : {})
    }
  })

/**
 * A model whose `generate` runs {@link generateLockstep} with `intervention` for each prompt (one at
 * a time). Hooks passed to `generate` are refused (give the intervention here instead); intervention
 * failures become `ModelInputError`s naming the intervention. `forward` and the rest are the model's.
 */
export const lockstepModel = <E extends { readonly message: string }, R>(
  model: LanguageModelShape,
  intervention: Intervention<E, R>
): Effect.Effect<LanguageModelShape, never, R> =>
  Effect.map(Effect.context<R>(), (context) => {
    const generate = (request: GenerateRequest) =>
      Effect.gen(function* () {
        if ((request.hooks ?? []).length > 0) {
          return yield* new ModelInputError({
            message: `lockstep model (${intervention.name}) got ${request.hooks!.length} extra hooks; give the intervention to lockstepModel instead`
          })
        }
        if (request.useCache === true) {
          yield* Effect.logDebug(
            `lockstep model (${intervention.name}): useCache is ignored (every step recomputes the sequence)`
          )
        }
        const out: Array<SequenceGeneration> = []
        for (const prompt of request.prompts) {
          const g = yield* generateLockstep(model, intervention, prompt, {
            maxNewTokens: request.maxNewTokens,
            ...(request.sampling !== undefined ? { sampling: request.sampling } : {}),
            ...(request.stopTokenIds !== undefined ? { stopTokenIds: request.stopTokenIds } : {}),
            ...(request.returnStepLogits !== undefined ? { returnStepLogits: request.returnStepLogits } : {})
          }).pipe(
            Effect.provideContext(context),
            Effect.mapError((e) =>
              e instanceof ModelInputError
                ? e
                : new ModelInputError({ message: `intervention ${intervention.name}: ${(e as E).message}` })
            )
          )
          out.push(g)
        }
        return out
      })
    const wrapped: LanguageModelShape = {
      ...model,
      info: { ...model.info, name: `${model.info.name}+lockstep(${intervention.name})` },
      generate
    }
    return wrapped
  })
