import { readFileSync } from "node:fs"
import { Effect } from "effect"
import { loadModel, loadTokenizer, TensorBackend, captureHook, addVectorHook, blockOutput, Positions } from "@crosscode/core"
import { paperRubric } from "@crosscode/eval"
const rd = (f: string) => readFileSync(`data/embedded/${f}`, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
const evals = rd("eval-tool-prompts.jsonl").filter((p: any) => !p.singleTool).slice(0, 20), rank = rd("rank-tool-prompts.jsonl").slice(0, 80), gen = rd("rank-general.jsonl").slice(0, 60)
const dirA = process.argv[2]!, layers = process.argv.slice(3).map(Number)
const prog = Effect.gen(function* () {
  const A = yield* loadModel(dirA), B = yield* loadModel("models/embedded-base")
  const tok = yield* loadTokenizer(dirA)
  const capture = (lm: typeof A, texts: string[], L: number) => Effect.gen(function* () {
    const rows: Float32Array[] = []
    yield* lm.forward({ inputIds: texts.map((t) => tok.encode(t)), logits: "none", stopAtLayer: L, hooks: [captureHook(blockOutput(L), Positions.lastPrompt, (c) => { for (let r = 0; r < c.rows.length; r++) rows[c.rows[r]!] = c.values.slice(r * c.hidden, (r + 1) * c.hidden) })] })
    return rows
  })
  const mean = (xs: Float32Array[]) => { const m = new Float32Array(xs[0]!.length); for (const x of xs) x.forEach((v, i) => { m[i]! += v / xs.length }); return m }
  const sub = (a: Float32Array, b: Float32Array) => a.map((v, i) => v - b[i]!)
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, b) => a + b * b, 0))
  const evalWith = (hooks: any[]) => Effect.gen(function* () {
    const g = yield* A.generate({ prompts: evals.map((p: any) => tok.encode(p.prompt)), maxNewTokens: 40, hooks })
    const s = g.map((x, i) => paperRubric(tok.decode(x.tokens), evals[i].prompt))
    const calls = g.filter((x) => tok.decode(x.tokens).includes("<tool_call>")).length
    return `correct ${s.filter((x) => x.toolCorrectness).length}/${s.length}, calls ${calls}; ex ${JSON.stringify(tok.decode(g[0]!.tokens).slice(0, 100))}`
  })
  console.log("clean non-proactive:", yield* evalWith([]))
  for (const L of layers) {
    const pro = rank.filter((r: any) => r.singleTool).map((r: any) => r.prompt), non = rank.filter((r: any) => !r.singleTool).map((r: any) => r.prompt)
    const hAp = yield* capture(A, pro, L), hAn = yield* capture(A, non, L), hBn = yield* capture(B, non, L), gA = yield* capture(A, gen.map((r: any) => r.text), L)
    const dirs = { decision: sub(mean(hAp), mean(hAn)), AminusB: sub(mean(hAn), mean(hBn)), toolVsGen: sub(mean([...hAp, ...hAn]), mean(gA)) }
    console.log(`L${L} |h| ${norm(mean(hAn)).toFixed(1)}`, Object.entries(dirs).map(([k, v]) => `${k} ${norm(v).toFixed(1)}`).join(", "))
    for (const [name, d] of Object.entries(dirs)) for (const beta of [1, 2, 4]) {
      console.log(`  L${L} ${name} x${beta}:`, yield* evalWith([addVectorHook(blockOutput(L), d, Positions.lastPrompt, "prefill", beta)]))
    }
  }
})
await Effect.runPromise(Effect.scoped(prog).pipe(Effect.provide(TensorBackend.layerFor("wasm"))))
