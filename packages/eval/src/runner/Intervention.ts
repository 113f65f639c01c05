/**
 * What the eval runner passes to an intervention (core's `Intervention<E, R, InterventionContext>`):
 * the `HookRequest` plus the item and its position. Interventions written for the plain
 * `HookRequest` (all of @crosscode/steering's) are accepted as they are.
 *
 * The runner asks for hooks once per prompt, after tokenisation and truncation; with
 * `batchSize > 1` it collects the hooks of every row of a batch for one `generate` call, so each
 * intervention must only touch its own `row`.
 */
import type { HookRequest } from "@crosscode/core"
import type { EvalItem } from "../data/EvalItem.js"

export interface InterventionContext extends HookRequest {
  /** Position of the item in the task (0-based, stable across resumed runs). */
  readonly promptIndex: number
  readonly item: EvalItem
  /** Row of this prompt in the `generate` batch (0 when `batchSize = 1`). */
  readonly row: number
  /** Number of prompts in the `generate` call. */
  readonly batchSize: number
}
