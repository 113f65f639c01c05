import { initTensorBackend } from "@crosscode/core"
import { Effect } from "effect"
for (const be of ["wasm", "cpu"] as const) {
const tf = (await Effect.runPromise(initTensorBackend(be, { allowCpu: true }))).tf
const out = tf.scatterND(tf.tensor2d([[1], [1], [0]], [3, 1], "int32"), tf.tensor2d([[1, 2], [10, 20], [5, 5]]), [3, 2])
console.log(be, tf.getBackend(), Array.from(out.dataSync()))
}
