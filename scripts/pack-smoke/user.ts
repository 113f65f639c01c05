// A user's script, as scripts/pack-smoke.sh installs it next to the packed tarballs: the study
// through Promises (no Effect), then core and eval through Effect on the user's own effect version.
import { blockOutput, loadModel, loadTokenizer, TensorBackend } from "@crosscode/core"
import { parseToolCalls } from "@crosscode/eval"
import { planRecipe, runRecipe } from "@crosscode/study"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer } from "effect"

const recipe = "recipes/embedded.json"
const tiny = [
  "harvest.text.sources.0.samples=12",
  "harvest.text.sources.1.samples=12",
  "harvest.text.sources.2.samples=4",
  // the recipe check refuses a crosscoder batch larger than the rows the harvest can give (28 here)
  "crosscoders.0.batchSize=16",
  "crosscoders.1.batchSize=16"
]

// 1. Promise API
const plan = await planRecipe(recipe, { runDir: "runs/script", set: tiny })
console.log(`plan: ${plan.stages.map((s) => `${s.stage}=${s.action}`).join(" ")}`)
const run = await runRecipe(recipe, {
  runDir: "runs/script",
  set: [...tiny, "harvest.maxLength=64"],
  stages: ["harvest"],
  backend: "wasm",
  progress: false
})
console.log(`runRecipe: ${run.outcomes.map((o) => `${o.stage} ${o.action} in ${o.seconds.toFixed(1)} s`).join(", ")}`)

// 2. Effect API, on the effect version this project pins; configs and tokenizer files are read
// through the platform FileSystem, Node's here (NodeServices.layer)
const program = Effect.gen(function* () {
  const backend = yield* TensorBackend
  const model = yield* loadModel("models/embedded-tooluse")
  const tokenizer = yield* loadTokenizer("models/embedded-tooluse")
  const ids = tokenizer.encode("What is the weather in Paris?")
  const [out] = yield* model.generate({ prompts: [ids], maxNewTokens: 24 })
  const text = tokenizer.decode(out!.tokens)
  const [forward] = yield* model.forward({ inputIds: [ids], logits: "last", hiddenStates: true })
  return {
    backend: backend.name,
    text,
    parsed: parseToolCalls(text),
    site: blockOutput(1),
    hidden: forward!.hiddenStates!.length
  }
}).pipe(Effect.scoped, Effect.provide(Layer.merge(TensorBackend.layer, NodeServices.layer)))

const result = await Effect.runPromise(program)
console.log(
  `Effect API: backend ${result.backend}, ${result.hidden} hidden states, generated ${JSON.stringify(result.text.slice(0, 60))}, ${result.parsed.calls.length} tool calls parsed`
)
