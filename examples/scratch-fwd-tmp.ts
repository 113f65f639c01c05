import { TensorBackend, loadModel, loadTokenizer, blockOutput, captureHook, Positions } from "@crosscode/core"
import { Effect, Layer } from "effect"
import { readFileSync } from "node:fs"
const prompts = readFileSync("data/embedded/rank-tool-prompts.jsonl", "utf8").split("\n").filter(Boolean).slice(0, 8).map((l) => JSON.parse(l).prompt as string)
const prog = Effect.gen(function* () {
  const m = yield* loadModel("models/embedded-tooluse")
  const tok = yield* loadTokenizer("models/embedded-base")
  const ids = prompts.map((p) => tok.encode(p))
  console.log("lens", ids.map((x) => x.length).join(","))
  const t = async () => performance.now()
  for (const [label, req] of [
    ["fwd 1 stop2 none", { inputIds: [ids[0]!], stopAtLayer: 2, logits: "none" as const }],
    ["fwd 1 full last", { inputIds: [ids[0]!], logits: "last" as const }],
    ["fwd 8 stop2 none right", { inputIds: ids, stopAtLayer: 2, logits: "none" as const, padding: "right" as const }],
    ["fwd 1 stop2 hook", { inputIds: [ids[0]!], stopAtLayer: 2, logits: "none" as const, hooks: [captureHook(blockOutput(2), Positions.lastPrompt, () => {}, "prefill")] }],
  ] as const) {
    for (let rep = 0; rep < 2; rep++) {
      const t0 = performance.now()
      yield* m.forward(req as any)
      console.log(label, rep, (performance.now() - t0).toFixed(0), "ms")
    }
  }
  const t0 = performance.now()
  yield* m.generate({ prompts: [ids[0]!], maxNewTokens: 1 })
  console.log("generate 1 token", (performance.now() - t0).toFixed(0), "ms")
  const t1 = performance.now()
  yield* m.generate({ prompts: [ids[0]!], maxNewTokens: 1 })
  console.log("generate 1 token", (performance.now() - t1).toFixed(0), "ms")
})
Effect.runPromise(prog.pipe(Effect.scoped, Effect.provide(TensorBackend.layerFor("wasm")))).catch((e) => console.error(e))
