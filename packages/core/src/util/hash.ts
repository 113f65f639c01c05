/**
 * Fingerprints: a canonical JSON string (object keys sorted) and two hashes over it — FNV-1a 64
 * (fast, for settings and item fingerprints in resumable records and run directories) and sha256
 * (for file integrity, e.g. the activation store's manifest).
 */
import { createHash } from "node:crypto"

/** A stable JSON string (object keys sorted, `undefined` members dropped), for hashing settings. */
export const stableStringify = (v: unknown): string => {
  if (v === undefined) return "null"
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null"
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(",")}]`
  const o = v as Record<string, unknown>
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(",")}}`
}

/** 64-bit FNV-1a of a string (over UTF-16 code units), as 16 hex digits. */
export const fnv1a64 = (s: string): string => {
  let h = 0xcbf29ce484222325n
  const prime = 0x100000001b3n
  for (let i = 0; i < s.length; i++) {
    h ^= BigInt(s.charCodeAt(i))
    h = (h * prime) & 0xffffffffffffffffn
  }
  return h.toString(16).padStart(16, "0")
}

/** The fingerprint of a JSON-like value: `fnv1a64(stableStringify(value))`. */
export const fingerprint = (value: unknown): string => fnv1a64(stableStringify(value))

/** sha256 (hex) of the concatenated chunks. */
export const sha256 = (chunks: ReadonlyArray<Uint8Array>): string => {
  const h = createHash("sha256")
  for (const c of chunks) h.update(c)
  return h.digest("hex")
}
