import { initTensorBackend } from "@crosscode/core"
import { Effect } from "effect"
const tf = (await Effect.runPromise(initTensorBackend("wasm"))).tf
const [B, W, F, k] = process.argv.slice(2).map(Number) as [number, number, number, number]
const time = (name: string, f: () => any, reps = 3) => {
  const ts: number[] = []
  for (let r = 0; r < reps; r++) { const t0 = performance.now(); const o = f(); const os = Array.isArray(o) ? o : [o]; for (const t of os) { t.dataSync(); t.dispose() } ts.push(performance.now() - t0) }
  console.log(name.padEnd(40), ts.map((t) => t.toFixed(1)).join(" "))
}
const N = B * k
const Wd = tf.randomNormal([F, W])
const jIdx = tf.randomUniform([N], 0, F, "int32")
const v = tf.randomUniform([N], 0, 1)
time("gather only", () => tf.gather(Wd, jIdx))
time("gatherND only", () => tf.gatherND(Wd, tf.reshape(jIdx, [N, 1])))
const G = tf.gather(Wd, jIdx)
time("mul G*v", () => tf.mul(G, tf.reshape(v, [N, 1])))
time("bmm [B,1,k]x[B,k,W]", () => tf.matMul(tf.reshape(v, [B, 1, k]), tf.reshape(G, [B, k, W])))
time("sum G axis1 (rows)", () => tf.sum(G, 1))
time("scatterND", () => tf.scatterND(tf.reshape(jIdx, [N, 1]), G, [F, W]))
time("sparseSegSum", () => tf.sparse.sparseSegmentSum(G, tf.range(0, N, 1, "int32"), tf.tensor1d(Int32Array.from({length: N}, (_, n) => Math.floor(n / k)), "int32")))
