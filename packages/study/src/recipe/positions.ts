/**
 * The positions a model was trained for (`max_position_embeddings` of its config.json), for checks
 * that prompts and generations fit (issue 15 item 5).
 */
import { readFileSync } from "node:fs"
import * as path from "node:path"

/** `max_position_embeddings` of `dir/config.json`, or `undefined` when it cannot be read. */
export const maxPositionsOf = (dir: string): number | undefined => {
  try {
    const c = JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8")) as { max_position_embeddings?: unknown }
    return typeof c.max_position_embeddings === "number" && c.max_position_embeddings > 0
      ? c.max_position_embeddings
      : undefined
  } catch {
    return undefined
  }
}

/** `{ maxPositions }` for `makeEvalRunner` when the model directory's config.json says. */
export const positions = (dir: string): { readonly maxPositions?: number } => {
  const n = maxPositionsOf(dir)
  return n !== undefined ? { maxPositions: n } : {}
}
