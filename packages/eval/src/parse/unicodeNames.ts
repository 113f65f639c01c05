/**
 * Python's `\N{name}` escape: the character with that Unicode name or alias, as CPython's
 * `unicodedata` resolves it (names compared case-insensitively; aliases of every kind — corrections,
 * control names, abbreviations such as `LF` — included; named sequences not, as in CPython).
 *
 * The names come from the `unicode-name` package (Unicode 18.0) — no name database ships with Node
 * (`Intl` has none). We considered `@unicode/unicode-*` (no name lookup in the direction we need) and
 * generating a table from CPython's `unicodedata` (a committed data file to keep in step). The
 * reverse index (name → code point) is built once, on the first `\N{…}` seen, by walking the code
 * space. CPython 3.11 knows Unicode 14.0: a name assigned after that decodes here and is a
 * `SyntaxError` there.
 */
/// <reference path="../types/unicode-name.d.ts" />
// (a reference, not tsconfig `include`: packages that typecheck eval's sources need the declaration too)
import { unicodeAliases, unicodeBaseName } from "unicode-name"

let index: Map<string, number> | undefined

const buildIndex = (): Map<string, number> => {
  const m = new Map<string, number>()
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue // surrogates have no name
    const ch = String.fromCodePoint(cp)
    const name = unicodeBaseName(ch)
    if (name !== undefined && !m.has(name)) m.set(name, cp)
    const aliases = unicodeAliases(ch)
    if (aliases !== undefined) {
      for (const list of Object.values(aliases)) {
        for (const a of list ?? []) if (!m.has(a)) m.set(a, cp)
      }
    }
  }
  return m
}

/** The code point named `name` (any case), or undefined when Unicode has no such name. */
export const codePointOfName = (name: string): number | undefined => {
  index ??= buildIndex()
  return index.get(name.toUpperCase())
}
