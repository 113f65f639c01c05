import { readFileSync } from "node:fs"
import { Effect, Layer } from "effect"
import { loadModel, loadTokenizer, TensorBackend, captureHook, addVectorHook, blockOutput, Positions } from "@crosscode/core"
import { paperRubric } from "@crosscode/eval"
const rd = (f: string) => readFileSync(`data/embedded/${f}`, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
const evals = rd("eval-tool-prompts.jsonl"), rank = rd("rank-tool-prompts.jsonl").slice(0, 60), gen = rd("rank-general.jsonl").slice(0, 60)
const L = Number(process.argv[2] ?? 1)
const prog = Effect.gen(function* () {
  const A = yield* loadModel("models/embedded-tooluse"), B = yield* loadModel("models/embedded-base")
  const tok = yield* loadTokenizer("models/embedded-tooluse")
  const capture = (lm: typeof A, texts: string[]) => Effect.gen(function* () {
    const rows: Float32Array[] = []
    yield* lm.forward({ inputIds: texts.map((t) => tok.encode(t)), logits: "none", stopAtLayer: L, hooks: [captureHook(blockOutput(L), Positions.lastPrompt, (c) => { for (let r = 0; r < c.rows.length; r++) rows[c.rows[r]!] = c.values.slice(r * c.hidden, (r + 1) * c.hidden) })] })
    return rows
  })
  const mean = (xs: Float32Array[]) => { const m = new Float32Array(xs[0]!.length); for (const x of xs) x.forEach((v, i) => { m[i]! += v / xs.length }); return m }
  const hA = yield* capture(A, rank.map((r: any) => r.prompt)), hB = yield* capture(B, rank.map((r: any) => r.prompt))
  const gA = yield* capture(A, gen.map((r: any) => r.text))
  const dAB = mean(hA).map((v, i) => v - mean(hB)[i]!)
  const dTool = mean(hA).map((v, i) => v - mean(gA)[i]!)
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, b) => a + b * b, 0))
  console.log(`L${L} |h_A| ${norm(mean(hA)).toFixed(1)} |dAB| ${norm(dAB).toFixed(1)} |dTool| ${norm(dTool).toFixed(1)}`)
  const t0 = Date.now()
  const evalWith = (hooks: any[]) => Effect.gen(function* () {
    const g = yield* A.generate({ prompts: evals.map((p: any) => tok.encode(p.prompt)), maxNewTokens: 60, hooks })
    const s = g.map((x, i) => paperRubric(tok.decode(x.tokens), evals[i].prompt))
    const pro = s.filter((_, i) => evals[i].proactive), oth = s.filter((_, i) => !evals[i].proactive)
    return `${(100 * s.filter((x) => x.toolCorrectness).length / s.length).toFixed(0)}% (pro ${pro.filter((x) => x.toolCorrectness).length}/${pro.length}, other ${oth.filter((x) => x.toolCorrectness).length}/${oth.length}) ex: ${JSON.stringify(tok.decode(g[1]!.tokens).slice(0, 120))}`
  })
  console.log("clean", yield* evalWith([]), `${((Date.now() - t0) / 1000).toFixed(1)}s`)
  for (const [name, d] of [["dAB", dAB], ["dTool", dTool]] as const) for (const beta of [1, 3, 8]) {
    console.log(name, beta, yield* evalWith([addVectorHook(blockOutput(L), d, Positions.lastPrompt, "prefill", beta)]))
  }
})
await Effect.runPromise(Effect.scoped(prog).pipe(Effect.provide(TensorBackend.layerFor("wasm"))))
