import { Effect } from "effect"
import { initTensorBackend } from "@crosscode/core"
const { tf } = await Effect.runPromise(initTensorBackend("wasm"))
const time = (name: string, f: () => void, n = 5) => { f(); const t = performance.now(); for (let i=0;i<n;i++) f(); console.log(name, ((performance.now()-t)/n).toFixed(1), "ms") }
const a = tf.randomNormal([64, 128, 128]), b = tf.randomNormal([64, 128, 32])
time("bmm 64x128x128x32", () => tf.tidy(() => { tf.matMul(a, b).sum().dataSync() }))
const a2 = tf.randomNormal([128, 128]), b2 = tf.randomNormal([128, 32])
time("mm 128x128x32 x64", () => tf.tidy(() => { for (let i=0;i<64;i++) tf.matMul(a2, b2); tf.scalar(0).dataSync() }))
const c = tf.randomNormal([64, 128, 32]), d = tf.randomNormal([64, 32, 128])
time("bmm 64x128x32x128", () => tf.tidy(() => { tf.matMul(c, d).sum().dataSync() }))
const e = tf.randomNormal([8192, 32]), f = tf.randomNormal([32, 128])
time("mm 8192x32x128", () => tf.tidy(() => { tf.matMul(e, f).sum().dataSync() }))
