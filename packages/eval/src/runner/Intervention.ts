/**
 * An intervention: something that changes the model during generation, expressed as the hooks to
 * install for one prompt. The runner asks for hooks once per prompt (after tokenisation and
 * truncation, so the intervention sees the exact ids the model will see) and passes them to
 * `LanguageModelShape.generate` for that prompt only.
 *
 * Hooks decide when they fire (`when: "prefill" | "decode" | "always"`) and where (a `HookSite`);
 * `HookContext.lastPromptIndex` locates the last prompt token of each row in the prefill pass,
 * which is what the paper patches (`Positions.lastPrompt` in @crosscode/core).
 *
 * Batching: with `batchSize > 1` the runner collects the hooks of every row of a batch and passes
 * them all to one `generate` call. Every hook then sees the whole batch, so an intervention used
 * with batches must only touch its own `ctx.row` (use `HookContext.lastPromptIndex[row]` and a
 * row-restricted mask). With the default `batchSize = 1`, `row` is always 0.
 *
 * The steering package implements interventions on top of this interface; `noIntervention` is the
 * clean baseline.
 */
import type { Hook } from "@crosscode/core"
import { Effect } from "effect"
import type { EvalItem } from "../data/EvalItem.js"

export interface InterventionContext {
  /** The prompt's token ids, after truncation. */
  readonly promptIds: ReadonlyArray<number>
  /** Position of the item in the task (0-based, stable across resumed runs). */
  readonly promptIndex: number
  readonly item: EvalItem
  /** Row of this prompt in the `generate` batch (0 when `batchSize = 1`). */
  readonly row: number
  /** Number of prompts in the `generate` call. */
  readonly batchSize: number
}

export interface Intervention<E = never, R = never> {
  /** Identifies the condition in records (e.g. "clean", "recon", "steer-f136-a32"). */
  readonly name: string
  /** JSON-serialisable settings stored with every record (layer, alpha, features…). */
  readonly settings?: Readonly<Record<string, unknown>>
  /** The hooks to install while generating for this prompt (may be empty). */
  readonly hooks: (ctx: InterventionContext) => Effect.Effect<ReadonlyArray<Hook>, E, R>
}

/** The clean condition: no hooks. */
export const noIntervention: Intervention = {
  name: "none",
  hooks: () => Effect.succeed([])
}

/** An intervention whose hooks do not depend on the prompt. */
export const staticIntervention = (
  name: string,
  hooks: ReadonlyArray<Hook>,
  settings?: Readonly<Record<string, unknown>>
): Intervention => ({ name, ...(settings !== undefined ? { settings } : {}), hooks: () => Effect.succeed(hooks) })
