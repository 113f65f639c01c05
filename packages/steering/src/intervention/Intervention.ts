/**
 * Building and applying interventions (core's `Intervention`: a name, JSON settings, and an Effect
 * that builds the hooks for one prompt from a `HookRequest`). The eval runner accepts them as they
 * are; they also run outside the runner (`generateWith`, `forwardWith`, `withIntervention`).
 *
 * Interventions are values; the hook-building Effect may need services (`PairEncoder` for the
 * crosscoder-based ones, `TensorBackend` for tensor math) and fail with typed errors. They compose
 * with {@link compose}: the hooks of each part are installed in order, so at a shared site the
 * first intervention sees the clean activation and the next one sees its output.
 *
 * Hooks are passed per call (`generate({ hooks })`), so nothing stays registered on the model
 * after a generation, whatever its outcome. {@link withIntervention} registers them for a scope
 * instead (removed when the scope closes, on success, failure or interruption).
 */
import type {
  ForwardRequest,
  GenerateRequest,
  Hook,
  HookRequest,
  Intervention,
  LanguageModelShape,
  ModelInputError,
  SequenceForward,
  SequenceGeneration
} from "@crosscode/core"
import { Effect, type Scope } from "effect"

export type InterventionErrorOf<I> = I extends Intervention<infer E, unknown> ? E : never
export type InterventionContextOf<I> = I extends Intervention<unknown, infer R> ? R : never

/**
 * Applies several interventions together: hooks in argument order (at a shared site each sees the
 * previous one's output). The name joins the parts with "+", settings list them.
 */
export const compose = <const I extends ReadonlyArray<Intervention<unknown, unknown>>>(
  ...parts: I
): Intervention<InterventionErrorOf<I[number]>, InterventionContextOf<I[number]>> => ({
  name: parts.length === 0 ? "clean" : parts.map((p) => p.name).join("+"),
  settings: { kind: "compose", parts: parts.map((p) => ({ name: p.name, settings: p.settings ?? {} })) },
  hooks: (request) =>
    Effect.map(
      Effect.forEach(
        parts,
        (p) =>
          p.hooks(request) as Effect.Effect<
            ReadonlyArray<Hook>,
            InterventionErrorOf<I[number]>,
            InterventionContextOf<I[number]>
          >
      ),
      (lists) => lists.flat()
    )
})

/** The same intervention under another name (and optionally extra settings). */
export const named = <E, R>(
  intervention: Intervention<E, R>,
  name: string,
  settings?: Readonly<Record<string, unknown>>
): Intervention<E, R> => ({
  ...intervention,
  name,
  ...(settings !== undefined ? { settings: { ...intervention.settings, ...settings } } : {})
})

/**
 * An intervention from a hook builder (the escape hatch for custom interventions; see
 * docs/extending-intervention.md).
 */
export const makeIntervention = <E = never, R = never>(spec: {
  readonly name: string
  readonly settings?: Readonly<Record<string, unknown>>
  readonly hooks: (request: HookRequest) => Effect.Effect<ReadonlyArray<Hook>, E, R>
}): Intervention<E, R> => spec

export interface GenerateWithOptions extends Omit<GenerateRequest, "prompts" | "hooks"> {}

/** Generates from one prompt with the intervention's hooks for that prompt (per-call hooks). */
export const generateWith = <E, R>(
  model: LanguageModelShape,
  intervention: Intervention<E, R>,
  promptIds: ReadonlyArray<number>,
  options: GenerateWithOptions
): Effect.Effect<SequenceGeneration, E | ModelInputError, R> =>
  Effect.gen(function* () {
    const hooks = yield* intervention.hooks({ promptIds, row: 0, batchSize: 1 })
    const [g] = yield* model.generate({ ...options, prompts: [promptIds], hooks })
    return g!
  })

export interface ForwardWithOptions extends Omit<ForwardRequest, "inputIds" | "hooks"> {}

/** One forward pass over `inputIds` with the intervention's hooks for that sequence (a prefill). */
export const forwardWith = <E, R>(
  model: LanguageModelShape,
  intervention: Intervention<E, R>,
  inputIds: ReadonlyArray<number>,
  options: ForwardWithOptions = {}
): Effect.Effect<SequenceForward, E | ModelInputError, R> =>
  Effect.gen(function* () {
    const hooks = yield* intervention.hooks({ promptIds: inputIds, row: 0, batchSize: 1 })
    const [f] = yield* model.forward({ ...options, inputIds: [inputIds], hooks })
    return f!
  })

/**
 * Registers the intervention's hooks for `promptIds` on the model until the enclosing scope
 * closes (`LanguageModelShape.addHooks`): every forward/generate in the scope is steered, and the
 * hooks are removed on scope close whatever the exit. Use it for prompt-independent interventions
 * (`addDirection`, `projectOut`) or for passes over that same prompt.
 */
export const withIntervention = <E, R>(
  model: LanguageModelShape,
  intervention: Intervention<E, R>,
  promptIds: ReadonlyArray<number> = []
): Effect.Effect<void, E | ModelInputError, R | Scope.Scope> =>
  Effect.flatMap(intervention.hooks({ promptIds, row: 0, batchSize: 1 }), (hooks) => model.addHooks(hooks))
