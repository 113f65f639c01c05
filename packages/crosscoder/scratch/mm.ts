import { initTensorBackend } from "@crosscode/core"
import { Effect } from "effect"
const tf = (await Effect.runPromise(initTensorBackend("wasm"))).tf
const [B, W, F, reps] = process.argv.slice(2).map(Number) as [number, number, number, number]
const time = (name: string, f: () => any) => {
  const ts: number[] = []
  for (let r = 0; r < reps; r++) { const t0 = performance.now(); const o = f(); o.dataSync(); o.dispose(); ts.push(performance.now() - t0) }
  console.log(name.padEnd(34), ts.map((t) => t.toFixed(0)).join(" "))
}
const Xh = Float32Array.from({ length: B * W }, () => Math.random() - 0.5)
const Weh = Float32Array.from({ length: W * F }, () => Math.random() - 0.5)
const X = tf.tensor2d(Xh, [B, W]); const We = tf.tensor2d(Weh, [W, F])
time("same We", () => tf.matMul(X, We))
time("fresh We upload", () => { const w = tf.tensor2d(Weh, [W, F]); const o = tf.matMul(X, w); w.dispose(); return o })
time("upload only", () => tf.tensor2d(Weh, [W, F]))
const WeT = tf.transpose(We); const XT = tf.transpose(X)
time("WeT·XT fresh WeT (F x B out)", () => { const w = tf.tensor2d(WeT.dataSync() as Float32Array, [F, W]); const o = tf.matMul(w, XT); w.dispose(); return o })
time("transpose FxB", () => tf.transpose(tf.zeros([F, B])))
