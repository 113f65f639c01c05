import { Effect } from "effect"
import { initTensorBackend, qwen2Forward, initQwen2Weights, sparseCrossEntropy, makeQwen2Config, parseQwen2Config } from "@crosscode/core"
import { initWeights, maskedLoss } from "./src/embedded/qwen2Train.js"
import { modelConfig } from "./src/embedded/build.js"
const { tf } = await Effect.runPromise(initTensorBackend("wasm"))
const c = modelConfig(3135, 3128)
const time = (name: string, f: () => void, n = 2) => { f(); const t = performance.now(); for (let i=0;i<n;i++) f(); console.log(name, ((performance.now()-t)/n).toFixed(0), "ms") }
const w = process.argv[2] === "mine" ? initWeights(tf, c, 1) : undefined as any
const idsArr = Array.from({length: 16}, (_, b) => Array.from({length: 128}, (_, t) => (b*128+t) % 3000))
const ids = tf.tensor2d(idsArr, [16, 128], "int32")
const spec = { kind: "dense" as const, targets: tf.tensor1d(new Int32Array(2048), "int32"), weight: tf.ones([2048]), count: 2048 }
if (process.argv[2] === "mine") time("mine grad", () => tf.tidy(() => { const {value} = tf.variableGrads(() => maskedLoss(tf, c, w, ids, spec)); value.dataSync() }))
const cc = await Effect.runPromise(parseQwen2Config(c as any) as any) as any
if (process.argv[2] === "mine") process.exit(0)
const cw = initQwen2Weights(cc, 1, { variables: true })
const labels = tf.tensor1d(new Int32Array(2048), "int32")
time("core grad", () => tf.tidy(() => { const {value} = tf.variableGrads(() => { const r = qwen2Forward(cc, cw, ids as any); return sparseCrossEntropy(tf.reshape(r.logits!, [2048, cc.vocab_size]) as any, labels as any) }); value.dataSync() }))
