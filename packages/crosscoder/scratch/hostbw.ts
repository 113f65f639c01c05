const [B, W, F, k] = process.argv.slice(2).map(Number) as [number, number, number, number]
const N = B * k
let seed = 1
const rnd = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296 }
const rows = new Int32Array(N), cols = new Int32Array(N), vals = new Float32Array(N)
for (let n = 0; n < N; n++) { rows[n] = Math.floor(n / k); cols[n] = Math.floor(rnd() * F); vals[n] = rnd() }
const Wd = Float32Array.from({ length: F * W }, rnd), dX = Float32Array.from({ length: B * W }, rnd), x = Float32Array.from({ length: B * W }, rnd)
const time = (name: string, f: () => void) => { const ts = []; for (let r = 0; r < 4; r++) { const t0 = performance.now(); f(); ts.push(performance.now() - t0) } console.log(name.padEnd(30), ts.map((t) => t.toFixed(0)).join(" ")) }
const byF = () => { const start = new Int32Array(F + 1); for (let n = 0; n < N; n++) start[cols[n]! + 1]++; for (let j = 0; j < F; j++) start[j + 1] += start[j]!; const pos = start.slice(0, F); const order = new Int32Array(N); for (let n = 0; n < N; n++) order[pos[cols[n]!]!++] = n; return { start, order } }
time("sort", () => { byF() })
const { start, order } = byF()
time("featmajor col-write f64acc", () => {
  const dWd = new Float32Array(F * W), dWe = new Float32Array(W * F), acc = new Float64Array(W)
  for (let j = 0; j < F; j++) { const s0 = start[j]!, s1 = start[j + 1]!; if (s0 === s1) continue; const wp = j * W; acc.fill(0)
    for (let s = s0; s < s1; s++) { const n = order[s]!; const b = rows[n]!, v = vals[n]!; const dp = b * W; let dv = 0
      for (let r = 0; r < W; r++) { const dh = dX[dp + r]!; dv += dh * Wd[wp + r]!; dWd[wp + r] += v * dh }
      for (let r = 0; r < W; r++) acc[r] += dv * x[dp + r]! }
    for (let r = 0; r < W; r++) dWe[r * F + j] = acc[r]! }
})
time("featmajor f32 rowT+transpose", () => {
  const dWd = new Float32Array(F * W), dWeT = new Float32Array(F * W)
  for (let j = 0; j < F; j++) { const s0 = start[j]!, s1 = start[j + 1]!; if (s0 === s1) continue; const wp = j * W
    for (let s = s0; s < s1; s++) { const n = order[s]!; const b = rows[n]!, v = vals[n]!; const dp = b * W; let dv = 0
      for (let r = 0; r < W; r++) { const dh = dX[dp + r]!; dv += dh * Wd[wp + r]!; dWd[wp + r] += v * dh }
      for (let r = 0; r < W; r++) dWeT[wp + r] += dv * x[dp + r]! } }
  const dWe = new Float32Array(W * F); const T = 16
  for (let r0 = 0; r0 < F; r0 += T) for (let c0 = 0; c0 < W; c0 += T) for (let r = r0; r < Math.min(F, r0 + T); r++) for (let c = c0; c < Math.min(W, c0 + T); c++) dWe[c * F + r] = dWeT[r * W + c]!
})
time("rowmajor (old)", () => {
  const dWd = new Float32Array(F * W), dWeT = new Float32Array(F * W)
  for (let n = 0; n < N; n++) { const b = rows[n]!, v = vals[n]!, j = cols[n]!; const dp = b * W, wp = j * W; let dv = 0
      for (let r = 0; r < W; r++) { const dh = dX[dp + r]!; dv += dh * Wd[wp + r]!; dWd[wp + r] += v * dh }
      for (let r = 0; r < W; r++) dWeT[wp + r] += dv * x[dp + r]! }
  const dWe = new Float32Array(W * F); const T = 16
  for (let r0 = 0; r0 < F; r0 += T) for (let c0 = 0; c0 < W; c0 += T) for (let r = r0; r < Math.min(F, r0 + T); r++) for (let c = c0; c < Math.min(W, c0 + T); c++) dWe[c * F + r] = dWeT[r * W + c]!
})
time("just dot+axpy featmajor", () => {
  const dWd = new Float32Array(F * W)
  for (let j = 0; j < F; j++) { const s0 = start[j]!, s1 = start[j + 1]!; const wp = j * W
    for (let s = s0; s < s1; s++) { const n = order[s]!; const b = rows[n]!, v = vals[n]!; const dp = b * W; let dv = 0
      for (let r = 0; r < W; r++) { const dh = dX[dp + r]!; dv += dh * Wd[wp + r]!; dWd[wp + r] += v * dh } } }
})
time("transpose only", () => { const a = new Float32Array(F * W); const dWe = new Float32Array(W * F); const T = 16
  for (let r0 = 0; r0 < F; r0 += T) for (let c0 = 0; c0 < W; c0 += T) for (let r = r0; r < Math.min(F, r0 + T); r++) for (let c = c0; c < Math.min(W, c0 + T); c++) dWe[c * F + r] = a[r * W + c]! })
time("alloc+touch 2x F*W", () => { const a = new Float32Array(F * W); const b2 = new Float32Array(F * W); a.fill(1); b2.fill(1) })
const dvs = new Float32Array(N)
function dots() { for (let n = 0; n < N; n++) { const dp = rows[n]! * W, wp = cols[n]! * W; let dv = 0; for (let r = 0; r < W; r++) dv += dX[dp + r]! * Wd[wp + r]!; dvs[n] = dv } }
function fusedAxpy(dWd: Float32Array, dWeT: Float32Array) {
  for (let j = 0; j < F; j++) { const s0 = start[j]!, s1 = start[j + 1]!; const wp = j * W
    for (let s = s0; s < s1; s++) { const n = order[s]!; const dp = rows[n]! * W; const v = vals[n]!, g = dvs[n]!
      for (let r = 0; r < W; r++) { dWd[wp + r] += v * dX[dp + r]!; dWeT[wp + r] += g * x[dp + r]! } } }
}
function accOnly(dWeT: Float32Array) {
  for (let j = 0; j < F; j++) { const s0 = start[j]!, s1 = start[j + 1]!; const wp = j * W
    for (let s = s0; s < s1; s++) { const n = order[s]!; const dp = rows[n]! * W; const g = dvs[n]!
      for (let r = 0; r < W; r++) dWeT[wp + r] += g * x[dp + r]! } }
}
time("dots rowmajor", dots)
time("fused 2 axpy featmajor", () => fusedAxpy(new Float32Array(F * W), new Float32Array(F * W)))
time("acc only", () => accOnly(new Float32Array(F * W)))
