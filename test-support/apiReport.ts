/**
 * API report guard: a package's `src/index.ts` must export exactly the names listed in its checked-in
 * `api.md`, so a new export (or a dropped one) is a reviewed change, not an accident.
 *
 * Types are erased at runtime, so the names come from index.ts's `export { … } from` lines; the
 * runtime module's keys must then equal the value names read there (which also checks the parse).
 * `CROSSCODE_UPDATE_API=1` rewrites api.md from index.ts instead of comparing.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

export interface ApiNames {
  readonly values: ReadonlyArray<string>
  readonly types: ReadonlyArray<string>
}

const sorted = (names: Iterable<string>): Array<string> => [...new Set(names)].sort((a, b) => a.localeCompare(b))

/** The names index.ts exports; throws on `export *` (a barrel publishes whatever its modules hold). */
export const parseIndexExports = (source: string): ApiNames => {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "")
  const values: Array<string> = []
  const types: Array<string> = []
  for (const m of code.matchAll(/export\s+(type\s+)?\*(\s+as\s+(\w+))?\s+from/g)) {
    if (m[3] === undefined) throw new Error(`index.ts re-exports a whole module (${m[0]}…); name the exports instead`)
    ;(m[1] ? types : values).push(m[3])
  }
  for (const m of code.matchAll(/export\s+(type\s+)?\{([^}]*)\}/g)) {
    for (const raw of m[2]!.split(",")) {
      const item = raw.trim()
      if (item === "") continue
      const typeOnly = m[1] !== undefined || item.startsWith("type ")
      const name = item
        .replace(/^type\s+/, "")
        .split(/\s+as\s+/)
        .pop()!
        .trim()
      ;(typeOnly ? types : values).push(name)
    }
  }
  if (/export\s+(const|let|function|class|interface|type\s+\w+\s*=|enum)/.test(code))
    throw new Error("index.ts declares exports itself; keep it a list of re-exports")
  return { values: sorted(values), types: sorted(types) }
}

export const renderApiReport = (pkg: string, api: ApiNames): string =>
  [
    `# ${pkg} public API`,
    "",
    "The names `src/index.ts` exports, checked by `test/api.test.ts`. An export added to or removed from",
    "index.ts fails that test until this file is updated (`CROSSCODE_UPDATE_API=1 pnpm vitest run test/api.test.ts`",
    "in the package), so every change of the public API shows up in review.",
    "",
    `## Values (${api.values.length})`,
    "",
    ...api.values.map((n) => `- \`${n}\``),
    "",
    `## Types (${api.types.length})`,
    "",
    ...api.types.map((n) => `- \`${n}\``),
    ""
  ].join("\n")

export const parseApiReport = (text: string): ApiNames => {
  const section = (title: string) => {
    const start = text.indexOf(`## ${title}`)
    if (start < 0) return []
    const rest = text.slice(start).split("\n").slice(1)
    const end = rest.findIndex((l) => l.startsWith("## "))
    return (end < 0 ? rest : rest.slice(0, end)).flatMap((l) => {
      const m = /^- `([^`]+)`/.exec(l)
      return m ? [m[1]!] : []
    })
  }
  return { values: sorted(section("Values")), types: sorted(section("Types")) }
}

export interface ApiCheck {
  readonly fromIndex: ApiNames
  readonly runtimeKeys: ReadonlyArray<string>
  readonly reported: ApiNames
}

/** Reads index.ts, the live module and api.md of the package at `dir` (updating api.md if asked). */
export const checkApi = async (pkg: string, dir: string): Promise<ApiCheck> => {
  const fromIndex = parseIndexExports(readFileSync(join(dir, "src", "index.ts"), "utf8"))
  const mod = (await import(join(dir, "src", "index.ts"))) as Record<string, unknown>
  const reportPath = join(dir, "api.md")
  if (process.env.CROSSCODE_UPDATE_API === "1") writeFileSync(reportPath, renderApiReport(pkg, fromIndex))
  if (!existsSync(reportPath)) throw new Error(`${reportPath} is missing; write it with CROSSCODE_UPDATE_API=1`)
  return {
    fromIndex,
    runtimeKeys: sorted(Object.keys(mod)),
    reported: parseApiReport(readFileSync(reportPath, "utf8"))
  }
}
