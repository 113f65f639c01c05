import { Effect } from "effect"
import { initTensorBackend } from "@crosscode/core"
import { initWeights, maskedLoss } from "./src/embedded/qwen2Train.js"
import { modelConfig } from "./src/embedded/build.js"
const { tf } = await Effect.runPromise(initTensorBackend("wasm"))
const c = modelConfig(3135, 3128)
const w = initWeights(tf, c, 1)
const ids = tf.tensor2d(new Int32Array(16*128).map((_, i) => i % 3000), [16, 128], "int32")
const spec = { kind: "dense" as const, targets: tf.tensor1d(new Int32Array(2048), "int32"), weight: tf.ones([2048]), count: 2048 }
const prof = await tf.profile(() => tf.tidy(() => { const {value} = tf.variableGrads(() => maskedLoss(tf, c, w, ids, spec)); value.dataSync() }))
const agg = new Map<string, number>()
for (const k of prof.kernels) { const t = await (k.kernelTimeMs as any); const key = k.name + " " + JSON.stringify(k.inputShapes); agg.set(key, (agg.get(key) ?? 0) + (typeof t === "number" ? t : 0)) }
console.log([...agg].sort((a,b)=>b[1]-a[1]).slice(0,25).map(([k,v])=>v.toFixed(0).padStart(6)+"  "+k).join("\n"))
