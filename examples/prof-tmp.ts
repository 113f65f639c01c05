import { Effect } from "effect"
import { initTensorBackend } from "@crosscode/core"
import { initWeights, forwardHiddenCached, maskedLoss } from "./src/embedded/qwen2Train.js"
import { modelConfig } from "./src/embedded/build.js"
const { tf } = await Effect.runPromise(initTensorBackend("wasm"))
const c = modelConfig(3135, 3128)
const w = initWeights(tf, c, 1)
const ids = tf.tensor2d(new Int32Array(16*128).map((_, i) => i % 3000), [16, 128], "int32")
const time = (name: string, f: () => void, n = 3) => { f(); const t = performance.now(); for (let i=0;i<n;i++) f(); console.log(name, ((performance.now()-t)/n).toFixed(0), "ms") }
time("fwd hidden", () => tf.tidy(() => { forwardHiddenCached(tf, c, w, ids, undefined, true).hidden.dataSync() }))
const spec = { kind: "dense" as const, targets: tf.tensor1d(new Int32Array(2048), "int32"), weight: tf.ones([2048]), count: 2048 }
time("fwd loss", () => tf.tidy(() => { maskedLoss(tf, c, w, ids, spec).dataSync() }))
time("grad", () => tf.tidy(() => { const {value} = tf.variableGrads(() => maskedLoss(tf, c, w, ids, spec)); value.dataSync() }), 2)
