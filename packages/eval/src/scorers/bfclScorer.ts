/**
 * Scorer `bfcl`: BFCL's AST verdict under three decoders.
 *
 * - `ast_official`: BFCL's own decoding for the declared `format`: for `"python"` (prompting
 *   models, Python-call syntax) its prompting decoder (`bfclPythonDecode`: `[f(a=1)]`, keyword
 *   arguments only, any text around the calls is a decode failure); otherwise its Qwen FC decoding
 *   (`bfclQwenDecode`: regex with required newlines, bad blocks silently dropped, `arguments` key
 *   required). Comparable to the leaderboard for Qwen-native (or Python-call) prompts. Note the
 *   irrelevance quirk: a malformed call counts as "no call" (a pass).
 * - `ast_strict`: the calls a strict reader of `format` accepts (`strictCalls`); use with
 *   `format: "toolrl"` for ToolRL-style prompts, whose output BFCL's Qwen decoder cannot read.
 * - `ast_lenient`: every leniently parsed call (repairs, missing newlines, unclosed blocks…).
 *
 * Checks (see bfclAst.ts): function name, required params, unexpected params, Python types,
 * acceptable values with BFCL's string normalisation, order-free parallel matching, call count,
 * irrelevance. Does NOT check: semantic equivalence beyond BFCL's lists of acceptable values;
 * Java/JS categories; anything for items that are not BFCL items (metrics are `null`).
 */

import { type CallFormat, strictCalls } from "../parse/parseToolCalls.js"
import { type BfclCheckOptions, bfclJudge, bfclPythonDecode, bfclQwenDecode, toBfclDecoded } from "./bfclAst.js"
import { makeScorer, type Scorer } from "./Scorer.js"

export interface BfclScorerOptions extends BfclCheckOptions {
  /**
   * The declared target format (default "qwen"): its strict reader defines `ast_strict`, and
   * `"python"` makes `ast_official` BFCL's prompting decoder instead of its Qwen FC decoder.
   */
  readonly format?: CallFormat
}

export const bfclAstScorer = (options: BfclScorerOptions = {}): Scorer => {
  const format = options.format ?? "qwen"
  const python = format === "python"
  const officialDecode = python ? bfclPythonDecode : bfclQwenDecode
  return makeScorer({
    name: "bfcl",
    description:
      "BFCL AST checker (name, required/unexpected params, types, acceptable values with normalisation, " +
      `order-free parallel matching, count, irrelevance) under BFCL's ${python ? "prompting (Python-call)" : "Qwen"} decoder, a strict and a lenient reader.`,
    metrics: [
      {
        name: "ast_official",
        kind: "binary",
        description: `BFCL verdict with BFCL's ${python ? "prompting (Python-call)" : "Qwen FC"} decoder`
      },
      { name: "ast_strict", kind: "binary", description: `BFCL verdict on strictly (${format}) parsed calls` },
      { name: "ast_lenient", kind: "binary", description: "BFCL verdict on leniently parsed calls" }
    ],
    score: ({ item, response, parse }) => {
      const isBfcl = item.expected._tag === "Bfcl" || (item.source === "bfcl" && item.category.includes("irrelevance"))
      if (!isBfcl) return { metrics: { ast_official: null, ast_strict: null, ast_lenient: null } }
      const official = bfclJudge(item, officialDecode(response), options)
      const strict = bfclJudge(item, { ok: true, calls: toBfclDecoded(strictCalls(parse, format)) }, options)
      const lenient = bfclJudge(item, { ok: true, calls: toBfclDecoded(parse.calls) }, options)
      const errors = (r: typeof official) => (r.valid ? undefined : { errorType: r.errorType, error: r.error })
      return {
        metrics: { ast_official: official.valid, ast_strict: strict.valid, ast_lenient: lenient.valid },
        detail: { official: errors(official), strict: errors(strict), lenient: errors(lenient) }
      }
    }
  })
}
