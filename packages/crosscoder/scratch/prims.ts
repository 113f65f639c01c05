import { initTensorBackend } from "@crosscode/core"
import { Effect } from "effect"
const tf = (await Effect.runPromise(initTensorBackend("wasm"))).tf
const [B, W, F, k] = process.argv.slice(2).map(Number) as [number, number, number, number]
const time = (name: string, f: () => unknown, reps = 3) => {
  const ts: number[] = []
  for (let r = 0; r < reps; r++) { const t0 = performance.now(); const o = f(); if (o instanceof tf.Tensor) { o.dataSync(); o.dispose() } else if (Array.isArray(o)) { for (const t of o) { (t as tf.Tensor).dataSync(); (t as tf.Tensor).dispose() } } ts.push(performance.now() - t0) }
  console.log(name.padEnd(40), ts.map((t) => t.toFixed(1)).join(" "))
}
const X = tf.randomNormal([B, W]); const We = tf.randomNormal([W, F]); const Wd = tf.randomNormal([F, W])
const WeHost = We.dataSync() as Float32Array
time("upload We", () => tf.tensor2d(WeHost, [W, F]))
time("enc matmul", () => tf.matMul(X, We), W > 1000 ? 1 : 3)
const pre = tf.randomNormal([B, F])
time("relu+topk row", () => { const t = tf.topk(tf.relu(pre), k); return [t.values, t.indices] })
time("topk flat kB", () => { const t = tf.topk(tf.reshape(tf.relu(pre), [B * F]), k * B); return [t.values, t.indices] })
time("download pre", () => { pre.dataSync(); return [] })
const N = B * k
const jIdx = tf.randomUniform([N], 0, F, "int32")
const bIdx = tf.tensor1d(Int32Array.from({ length: N }, (_, n) => Math.floor(n / k)), "int32")
const v = tf.randomUniform([N], 0, 1)
const chunk = Math.max(1, Math.floor((64 << 20) / (4 * W)))
console.log("chunk", chunk)
time("gather Wd rows N (chunked)", () => { const outs = []; for (let s = 0; s < N; s += chunk) { const n = Math.min(chunk, N - s); outs.push(tf.tidy(() => tf.sum(tf.gather(Wd, jIdx.slice(s, n)), 0))) } return outs })
time("decode bmm chunk", () => { const outs = []; const rows = Math.floor(chunk / k); for (let b0 = 0; b0 < B; b0 += rows) { const r = Math.min(rows, B - b0); outs.push(tf.tidy(() => { const G = tf.reshape(tf.gather(Wd, jIdx.slice(b0 * k, r * k)), [r, k, W]); return tf.reshape(tf.matMul(tf.reshape(v.slice(b0 * k, r * k), [r, 1, k]), G), [r, W]) })) } return [tf.concat(outs, 0)] })
const dX = tf.randomNormal([B, W])
time("scatterND dWd (chunked)", () => { let acc = tf.zeros([F, W]); for (let s = 0; s < N; s += chunk) { const n = Math.min(chunk, N - s); const nxt = tf.tidy(() => tf.add(acc, tf.scatterND(tf.reshape(jIdx.slice(s, n), [n, 1]), tf.mul(tf.gather(dX, bIdx.slice(s, n)), tf.reshape(v.slice(s, n), [n, 1])), [F, W]))); acc.dispose(); acc = nxt } return acc })
time("scatterND dWd one shot", () => tf.tidy(() => tf.scatterND(tf.reshape(jIdx, [N, 1]), tf.mul(tf.gather(dX, bIdx), tf.reshape(v, [N, 1])), [F, W])), W > 1000 ? 0 : 3)
// sorted by j then sparseSegmentSum
const jh = jIdx.dataSync() as Int32Array; const order = Int32Array.from({ length: N }, (_, i) => i).sort((a, b) => jh[a]! - jh[b]!)
const sortedJ = tf.tensor1d(Int32Array.from(order, (i) => jh[i]!), "int32"); const perm = tf.tensor1d(order, "int32")
time("sparseSegSum dWd one shot", () => tf.tidy(() => { const bs = tf.gather(bIdx, perm); const vs = tf.gather(v, perm); return tf.sparse.sparseSegmentSum(tf.mul(tf.gather(dX, bs), tf.reshape(vs, [N, 1])), tf.range(0, N, 1, "int32"), sortedJ) }), W > 1000 ? 0 : 3)
time("transpose FxW", () => tf.transpose(Wd))
time("dense matmul codes x Wd", () => tf.matMul(pre, Wd), W > 1000 ? 0 : 1)
// host loops
const Wdh = Wd.dataSync() as Float32Array; const jj = jh; const vv = v.dataSync() as Float32Array; const dXh = dX.dataSync() as Float32Array
time("host decode", () => { const xh = new Float32Array(B * W); for (let b = 0; b < B; b++) { const xr = xh.subarray(b * W, b * W + W); for (let i = 0; i < k; i++) { const val = vv[b * k + i]!; const row = jj[b * k + i]! * W; const wr = Wdh.subarray(row, row + W); for (let r = 0; r < W; r++) xr[r] = xr[r]! + val * wr[r]! } } return [] })
time("host dv+dWd", () => { const g = new Float32Array(F * W); for (let b = 0; b < B; b++) { const dr = dXh.subarray(b * W, b * W + W); for (let i = 0; i < k; i++) { const val = vv[b * k + i]!; const j = jj[b * k + i]!; const wr = Wdh.subarray(j * W, j * W + W); const gr = g.subarray(j * W, j * W + W); let dv = 0; for (let r = 0; r < W; r++) { const dh = dr[r]!; dv += dh * wr[r]!; gr[r] = gr[r]! + val * dh } } } return [] })
