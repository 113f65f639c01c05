import { initTensorBackend } from "@crosscode/core"
import { Effect } from "effect"
import { Adam, Param } from "../src/index.js"
const tf = (await Effect.runPromise(initTensorBackend("wasm"))).tf
const n = Number(process.argv[2])
const g = Float32Array.from({ length: n }, () => Math.random() - 0.5)
let w = tf.variable(tf.randomNormal([n])), m = tf.variable(tf.zeros([n])), v = tf.variable(tf.zeros([n]))
const gT = tf.tensor1d(g)
for (let r = 0; r < 3; r++) {
  const t0 = performance.now()
  tf.tidy(() => {
    const gt = tf.tensor1d(g) // upload of a host gradient
    m.assign(tf.add(tf.mul(m, 0.9), tf.mul(gt, 0.1)))
    v.assign(tf.add(tf.mul(v, 0.999), tf.mul(tf.square(gt), 0.001)))
    w.assign(tf.sub(w, tf.div(tf.mul(m, 1e-4), tf.add(tf.div(tf.sqrt(v), 0.03), 1e-8))))
  })
  const t1 = performance.now()
  console.log("tf-ops Adam (wasm)", (t1 - t0).toFixed(0), "ms")
}
const p = new Param(tf, "w", [n], new Float32Array(n))
const adam = new Adam([p])
for (let r = 0; r < 3; r++) { const t0 = performance.now(); adam.update(new Map([["w", g]]), 1e-4); console.log("host Adam", (performance.now() - t0).toFixed(0), "ms") }
