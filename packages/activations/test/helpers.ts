import { mkdtempSync, rmSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { initTensorBackend, type TensorBackendShape } from "@crosscode/core"
import { Effect } from "effect"

let backend: Promise<TensorBackendShape> | undefined
export const getTf = async (): Promise<TensorBackendShape["tf"]> => {
  backend ??= Effect.runPromise(initTensorBackend("wasm"))
  return (await backend).tf
}

export const tempDir = (prefix: string): { dir: string; cleanup: () => void } => {
  const dir = mkdtempSync(path.join(os.tmpdir(), `crosscode-act-${prefix}-`))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export const run = <A, E>(eff: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(eff)
