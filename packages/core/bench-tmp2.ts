import { Effect } from "effect"
import { initTensorBackend, activeNativeKernels } from "./src/index.js"
const s = await Effect.runPromise(initTensorBackend("native"))
const tf = s.tf
const k = activeNativeKernels()!
const a = tf.randomNormal([1024, 4096]); const b = tf.randomNormal([4096])
const av = a.dataSync() as Float32Array, bv = b.dataSync() as Float32Array
console.log(av.constructor.name, av.length, av.byteOffset, av.buffer.byteLength)
const t = (l: string, f: () => void) => { f(); const t0 = performance.now(); for (let i = 0; i < 10; i++) f(); console.log(l, ((performance.now() - t0) / 10).toFixed(2)) }
t("tensor arrays", () => k.binary(0, av, bv, new Float32Array(av.length), 1, 1024, 4096, 0, 4096, 1, 0, 0, 1))
const fa = new Float32Array(av), fb = new Float32Array(bv)
t("copied arrays", () => k.binary(0, fa, fb, new Float32Array(av.length), 1, 1024, 4096, 0, 4096, 1, 0, 0, 1))
const out = new Float32Array(av.length)
t("reused out", () => k.binary(0, fa, fb, out, 1, 1024, 4096, 0, 4096, 1, 0, 0, 1))
t("tf.add", () => tf.add(a, b).dispose())
