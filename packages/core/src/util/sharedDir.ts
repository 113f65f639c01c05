/**
 * Locates the project's reference material (`../shared` next to the checkout: golden models,
 * datasets, docs). Tests use it and skip with a clear message when it is absent.
 */
import { existsSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const findRepoRoot = (start: string): string | undefined => {
  let dir = start
  for (;;) {
    if (existsSync(path.join(dir, "pnpm-workspace.yaml"))) return dir
    const parent = path.dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

/** `$CROSSCODE_SHARED`, else `<repo root>/../shared`, else `undefined`. */
export const findSharedDir = (): string | undefined => {
  const fromEnv = process.env.CROSSCODE_SHARED
  if (fromEnv !== undefined && fromEnv !== "") return existsSync(fromEnv) ? fromEnv : undefined
  const root = findRepoRoot(path.dirname(fileURLToPath(import.meta.url))) ?? findRepoRoot(process.cwd())
  if (root === undefined) return undefined
  const candidate = path.resolve(root, "..", "shared")
  return existsSync(candidate) ? candidate : undefined
}

export const sharedMissingMessage =
  "../shared (golden models and datasets) not found next to the checkout; set CROSSCODE_SHARED to its path. Skipping."
