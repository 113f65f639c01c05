import { initTensorBackend } from "@crosscode/core"
import { Effect } from "effect"
const tf = (await Effect.runPromise(initTensorBackend("wasm"))).tf
const [B, W, F, reps] = process.argv.slice(2).map(Number) as [number, number, number, number]
const Xh = Float32Array.from({ length: B * W }, () => Math.random() - 0.5)
const Weh = Float32Array.from({ length: W * F }, () => Math.random() - 0.5)
const X = tf.tensor2d(Xh, [B, W]); const XT = tf.transpose(X)
const WeTh = tf.transpose(tf.tensor2d(Weh, [W, F])).dataSync() as Float32Array
const res: Record<string, number[]> = {}
const rec = (k: string, t: number) => { (res[k] ??= []).push(t) }
for (let r = 0; r < reps; r++) {
  let t0 = performance.now()
  { const w = tf.tensor2d(Weh, [W, F]); const o = tf.matMul(X, w); o.dataSync(); o.dispose(); w.dispose() }
  rec("X·We (current)", performance.now() - t0)
  t0 = performance.now()
  { const w = tf.tensor2d(WeTh, [F, W]); const oT = tf.matMul(w, XT); const o = tf.transpose(oT); o.dataSync(); tf.dispose([o, oT, w]) }
  rec("WeT·XT + transpose out", performance.now() - t0)
  t0 = performance.now()
  { const w = tf.tensor2d(Weh, [W, F]); const wt = tf.transpose(w); const oT = tf.matMul(wt, XT); const o = tf.transpose(oT); o.dataSync(); tf.dispose([o, oT, w, wt]) }
  rec("dev transpose We + WeT·XT + tr", performance.now() - t0)
  t0 = performance.now()
  { const out = new Float32Array(W * F); const T = 16; for (let r0 = 0; r0 < W; r0 += T) for (let c0 = 0; c0 < F; c0 += T) for (let rr = r0; rr < Math.min(W, r0 + T); rr++) for (let c = c0; c < Math.min(F, c0 + T); c++) out[c * W + rr] = Weh[rr * F + c]! }
  rec("host transpose We", performance.now() - t0)
}
for (const [k, v] of Object.entries(res)) console.log(k.padEnd(34), v.map((t) => t.toFixed(0)).join(" "))
