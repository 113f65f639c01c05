/**
 * Worked examples in docs/*.md are real code: a block is marked `<!-- example: NAME -->` and the
 * first ```ts block after the marker is written to `<genDir>/<NAME>.ts` and imported, so a test runs
 * the guide exactly as a reader sees it. `genDir` must sit inside the package whose imports the
 * example uses (module resolution starts from the file).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as path from "node:path"

const docsDir = path.resolve(import.meta.dirname, "..", "docs")

export const extractDocExample = (doc: string, marker: string): string => {
  const file = path.join(docsDir, doc)
  const md = readFileSync(file, "utf8")
  const at = md.indexOf(`<!-- example: ${marker} -->`)
  if (at < 0) throw new Error(`no example ${marker} in ${file}`)
  const m = /```ts\n([\s\S]*?)```/.exec(md.slice(at))
  if (m === null) throw new Error(`example ${marker} in ${file} has no ts block`)
  return m[1] as string
}

/** Writes the example to `<genDir>/<marker>.ts` and imports it. */
export const importDocExample = async <M>(doc: string, marker: string, genDir: string): Promise<M> => {
  mkdirSync(genDir, { recursive: true })
  const file = path.join(genDir, `${marker}.ts`)
  writeFileSync(file, extractDocExample(doc, marker))
  return (await import(file)) as M
}

export const removeGenDir = (genDir: string): void => rmSync(genDir, { recursive: true, force: true })
