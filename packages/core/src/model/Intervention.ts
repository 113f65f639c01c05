/**
 * An intervention: something that changes the model while it processes a prompt, expressed as the
 * hooks to install for that prompt — a name, JSON settings, and an Effect that builds the hooks
 * (it may need services, e.g. a crosscoder pair encoder, and fail with typed errors).
 *
 * This is the one definition: the eval runner asks for hooks once per prompt (after tokenisation
 * and truncation, with a richer request that also names the item), the steering package builds
 * and composes interventions and applies them outside the runner.
 *
 * Batching: when several prompts share one `generate` call, every hook sees the whole batch, so an
 * intervention must only touch its own `row` (`HookContext.lastPromptIndex[row]`, a row-restricted
 * mask). With one prompt per call `row` is 0.
 */
import { Effect } from "effect"
import type { Hook } from "./hooks.js"

/** What an intervention needs to build its hooks (the eval runner passes a richer request). */
export interface HookRequest {
  /** The exact token ids the model will see (after truncation). */
  readonly promptIds: ReadonlyArray<number>
  /** Row of this prompt in the batch (default 0). Hooks touch only this row. */
  readonly row?: number
  /** Prompts in the batch (default 1). */
  readonly batchSize?: number
}

/**
 * `Req` is the request the caller passes; an intervention written for the plain `HookRequest`
 * works with every caller (a richer request is still a `HookRequest`).
 */
export interface Intervention<E = never, R = never, Req extends HookRequest = HookRequest> {
  /** Names the condition in records (e.g. "clean", "steer-A-a32-f136"). */
  readonly name: string
  /** JSON-serialisable settings stored with every record (layer, alpha, features…). */
  readonly settings?: Readonly<Record<string, unknown>>
  /** The hooks to install while the model processes this prompt (may be empty). */
  readonly hooks: (request: Req) => Effect.Effect<ReadonlyArray<Hook>, E, R>
}

/** The clean condition: no hooks. */
export const cleanIntervention: Intervention = {
  name: "clean",
  settings: { kind: "clean" },
  hooks: () => Effect.succeed([])
}

/** An intervention whose hooks do not depend on the prompt. */
export const staticIntervention = (
  name: string,
  hooks: ReadonlyArray<Hook>,
  settings?: Readonly<Record<string, unknown>>
): Intervention => ({ name, ...(settings !== undefined ? { settings } : {}), hooks: () => Effect.succeed(hooks) })
