/**
 * The positions a model was trained for (`max_position_embeddings` of its config.json), for checks
 * that prompts and generations fit (issue 15 item 5).
 */
import { Effect, Path } from "effect"
import { readJsonIfExists } from "./runFiles.js"

/** `max_position_embeddings` of `dir/config.json`, or `undefined` when it cannot be read. */
export const maxPositionsOf = (dir: string) =>
  Effect.gen(function* () {
    const file = (yield* Path.Path).join(dir, "config.json")
    const c = yield* readJsonIfExists<{ max_position_embeddings?: unknown }, undefined>(file, () => undefined).pipe(
      Effect.catch(() => Effect.succeed(undefined))
    )
    const n = typeof c === "object" && c !== null ? c.max_position_embeddings : undefined
    return typeof n === "number" && n > 0 ? n : undefined
  })

/** `{ maxPositions }` for `makeEvalRunner` when the model directory's config.json says. */
export const positions = (dir: string) =>
  Effect.map(maxPositionsOf(dir), (n): { readonly maxPositions?: number } =>
    n !== undefined ? { maxPositions: n } : {}
  )
