import { readFileSync } from "node:fs"
import { Effect } from "effect"
import { loadModel, loadTokenizer, TensorBackend, addVectorHook, blockOutput, Positions } from "@crosscode/core"
const rd = (f: string) => readFileSync(`data/embedded/${f}`, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
const evals = rd("eval-tool-prompts.jsonl")
const prog = Effect.gen(function* () {
  const A = yield* loadModel("models/embedded-tooluse")
  const tok = yield* loadTokenizer("models/embedded-tooluse")
  const ids = [tok.encode(evals[2].prompt)]
  const v = Array.from({ length: 128 }, (_, i) => (i % 7) - 3)
  const [r0] = yield* A.forward({ inputIds: ids, logits: "last" })
  for (const [name, sel, when] of [["lastPrompt/prefill", Positions.lastPrompt, "prefill"], ["all/always", Positions.all, "always"], ["lastPrompt/always", Positions.lastPrompt, "always"]] as const) {
    const [r1] = yield* A.forward({ inputIds: ids, logits: "last", hooks: [addVectorHook(blockOutput(1), v, sel, when, 5)] })
    let d = 0; r0!.lastLogits!.forEach((x, i) => { d = Math.max(d, Math.abs(x - r1!.lastLogits![i]!)) })
    console.log(name, "max logit change", d)
  }
})
await Effect.runPromise(Effect.scoped(prog).pipe(Effect.provide(TensorBackend.layerFor("wasm"))))
