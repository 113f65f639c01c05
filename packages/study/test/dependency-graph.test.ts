/**
 * The packages depend on each other one way only (docs/architecture.md):
 *
 *   core ← activations ← crosscoder ← steering;  eval ← core;  study on top of all of them.
 *
 * Reads every packages/<name>/package.json and the `@crosscode/*` imports of its src/, and fails on
 * a runtime dependency edge outside that graph, on an import of a package that is not declared,
 * and on any cycle between packages (devDependencies included: a test-only edge may point "up",
 * e.g. steering's tests run interventions through eval's runner, but never back down a cycle).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "../../..")
const packagesDir = path.join(root, "packages")

/** Allowed runtime dependencies of each published package (short names, without `@crosscode/`). */
const ALLOWED: Readonly<Record<string, ReadonlyArray<string>>> = {
  // the optional OpenBLAS kernel addon sits below core (core loads it when present)
  native: [],
  core: ["native"],
  activations: ["core"],
  crosscoder: ["core", "activations"],
  steering: ["core", "activations", "crosscoder"],
  eval: ["core"],
  study: ["core", "activations", "crosscoder", "steering", "eval"]
}

interface Pkg {
  readonly short: string
  readonly dir: string
  readonly runtime: ReadonlyArray<string>
  readonly dev: ReadonlyArray<string>
}

const internal = (deps: Record<string, string> | undefined): Array<string> =>
  Object.keys(deps ?? {})
    .filter((n) => n.startsWith("@crosscode/"))
    .map((n) => n.slice("@crosscode/".length))

const readPackages = (): Array<Pkg> =>
  readdirSync(packagesDir)
    .filter((d) => existsSync(path.join(packagesDir, d, "package.json")))
    .map((d) => {
      const json = JSON.parse(readFileSync(path.join(packagesDir, d, "package.json"), "utf8")) as {
        name: string
        dependencies?: Record<string, string>
        peerDependencies?: Record<string, string>
        optionalDependencies?: Record<string, string>
        devDependencies?: Record<string, string>
      }
      return {
        short: json.name.replace(/^@crosscode\//, ""),
        dir: path.join(packagesDir, d),
        runtime: [
          ...new Set([
            ...internal(json.dependencies),
            ...internal(json.peerDependencies),
            ...internal(json.optionalDependencies)
          ])
        ],
        dev: internal(json.devDependencies)
      }
    })

const sourceFiles = (dir: string): Array<string> =>
  !existsSync(dir)
    ? []
    : readdirSync(dir).flatMap((n) => {
        const p = path.join(dir, n)
        if (statSync(p).isDirectory()) return sourceFiles(p)
        return /\.(ts|tsx|mts)$/.test(n) && !n.endsWith(".d.ts") ? [p] : []
      })

/** `@crosscode/<x>` packages imported (statically or dynamically) by a package's src/. */
const importedPackages = (dir: string): Map<string, string> => {
  const found = new Map<string, string>()
  const re = /(?:from|import)\s*\(?\s*["']@crosscode\/([a-z0-9-]+)(?:\/[^"']*)?["']/g
  for (const f of sourceFiles(path.join(dir, "src"))) {
    for (const m of readFileSync(f, "utf8").matchAll(re)) if (!found.has(m[1]!)) found.set(m[1]!, f)
  }
  return found
}

/** One cycle (as a path) in `edges`, or undefined. */
const findCycle = (edges: ReadonlyMap<string, ReadonlyArray<string>>): Array<string> | undefined => {
  const state = new Map<string, "open" | "done">()
  const stack: Array<string> = []
  const visit = (n: string): Array<string> | undefined => {
    if (state.get(n) === "done") return undefined
    if (state.get(n) === "open") return [...stack.slice(stack.indexOf(n)), n]
    state.set(n, "open")
    stack.push(n)
    for (const m of edges.get(n) ?? []) {
      const c = visit(m)
      if (c !== undefined) return c
    }
    stack.pop()
    state.set(n, "done")
    return undefined
  }
  for (const n of edges.keys()) {
    const c = visit(n)
    if (c !== undefined) return c
  }
  return undefined
}

describe("package dependency graph", () => {
  const pkgs = readPackages()

  it("finds the packages", () => {
    expect(pkgs.map((p) => p.short).sort()).toEqual(expect.arrayContaining(Object.keys(ALLOWED).sort()))
  })

  it("every package is placed in the allowed graph", () => {
    const unplaced = pkgs.filter((p) => ALLOWED[p.short] === undefined).map((p) => p.short)
    expect(unplaced, "add the new package to ALLOWED here and to docs/architecture.md").toEqual([])
  })

  it("runtime dependencies follow core ← activations ← crosscoder ← steering, eval ← core, study on top", () => {
    const bad = pkgs.flatMap((p) =>
      p.runtime.filter((d) => !(ALLOWED[p.short] ?? []).includes(d)).map((d) => `${p.short} → ${d}`)
    )
    expect(bad).toEqual([])
  })

  it("a package's src/ imports only the packages it declares as runtime dependencies", () => {
    const bad = pkgs.flatMap((p) =>
      [...importedPackages(p.dir)]
        .filter(([d]) => d !== p.short && !p.runtime.includes(d))
        .map(([d, file]) => `${path.relative(root, file)} imports @crosscode/${d}`)
    )
    expect(bad).toEqual([])
  })

  it("has no cycle between packages (dev dependencies included)", () => {
    const edges = new Map(pkgs.map((p) => [p.short, [...new Set([...p.runtime, ...p.dev])]] as const))
    expect(findCycle(edges)).toBeUndefined()
    // the checker itself finds a cycle
    expect(
      findCycle(
        new Map([
          ["a", ["b"]],
          ["b", ["c"]],
          ["c", ["a"]]
        ])
      )
    ).toEqual(["a", "b", "c", "a"])
  })
})
