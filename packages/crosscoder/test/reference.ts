/**
 * An independent float64 reference of the crosscoder loss (plain loops), used for finite-difference
 * gradient checks. It implements masked forward, the built-in schemes, the three reconstruction
 * losses, weighted-L1 terms and aux-k with a detached residual (`fixedResidual`).
 */
export interface RefModel {
  readonly S: number
  readonly d: number
  readonly F: number
  readonly We: Float64Array
  readonly be: Float64Array
  readonly Wd: Float64Array
  readonly bd: Float64Array
  /** `[M, F]` allowed masks (undefined = all) and each source's model. */
  readonly encMask?: Uint8Array
  readonly decMask?: Uint8Array
  readonly sourceModel: Int32Array
}

export type RefScheme =
  | { readonly kind: "topk"; readonly k: number }
  | { readonly kind: "batch-topk"; readonly k: number }
  | { readonly kind: "relu-l1"; readonly lambda: number }
  | { readonly kind: "jumprelu"; readonly theta: Float64Array }

export interface RefOptions {
  readonly scheme: RefScheme
  readonly recon: "mse" | "l2" | "sse"
  readonly l1Terms: ReadonlyArray<{ readonly weights: Float32Array; readonly coef: number }>
  readonly aux?: { readonly dead: Uint8Array; readonly k: number; readonly alpha: number }
}

const topIdx = (vals: ArrayLike<number>, k: number, allowed?: (j: number) => boolean): Array<number> => {
  const idx: Array<number> = []
  for (let j = 0; j < vals.length; j++) if (allowed === undefined || allowed(j)) idx.push(j)
  idx.sort((a, b) => vals[b]! - vals[a]! || a - b)
  return idx.slice(0, k)
}

export const refForward = (m: RefModel, x: Float64Array, B: number, opts: RefOptions) => {
  const { S, d, F } = m
  const W = S * d
  const encOk = (s: number, j: number) => m.encMask === undefined || m.encMask[m.sourceModel[s]! * F + j] === 1
  const decOk = (s: number, j: number) => m.decMask === undefined || m.decMask[m.sourceModel[s]! * F + j] === 1
  const pre = new Float64Array(B * F)
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < F; j++) {
      let acc = m.be[j]!
      for (let s = 0; s < S; s++) {
        if (!encOk(s, j)) continue
        for (let i = 0; i < d; i++) acc += x[b * W + s * d + i]! * m.We[(s * d + i) * F + j]!
      }
      pre[b * F + j] = acc
    }
  }
  const norms = new Float64Array(F)
  for (let j = 0; j < F; j++) {
    for (let s = 0; s < S; s++) {
      if (!decOk(s, j)) continue
      let q = 0
      for (let i = 0; i < d; i++) q += m.Wd[(j * S + s) * d + i]! ** 2
      norms[j] = norms[j]! + Math.sqrt(q)
    }
  }
  const relu = pre.map((v) => Math.max(v, 0))
  const codes = new Float64Array(B * F)
  let schemeTerm = 0
  const sc = opts.scheme
  if (sc.kind === "topk") {
    for (let b = 0; b < B; b++)
      for (const j of topIdx(relu.subarray(b * F, (b + 1) * F), sc.k)) codes[b * F + j] = relu[b * F + j]!
  } else if (sc.kind === "batch-topk") {
    const scored = relu.map((v, n) => v * norms[n % F]!)
    for (const n of topIdx(scored, sc.k * B)) codes[n] = relu[n]!
  } else if (sc.kind === "relu-l1") {
    codes.set(relu)
    for (let n = 0; n < B * F; n++) schemeTerm += sc.lambda * relu[n]! * norms[n % F]!
    schemeTerm /= B
  } else {
    for (let n = 0; n < B * F; n++) codes[n] = pre[n]! > sc.theta[n % F]! ? pre[n]! : 0
  }
  const xhat = new Float64Array(B * W)
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < S; s++) {
      for (let i = 0; i < d; i++) {
        let acc = m.bd[s * d + i]!
        for (let j = 0; j < F; j++) if (decOk(s, j)) acc += codes[b * F + j]! * m.Wd[(j * S + s) * d + i]!
        xhat[b * W + s * d + i] = acc
      }
    }
  }
  return { pre, relu, codes, xhat, norms, schemeTerm, encOk, decOk }
}

export const refLoss = (
  m: RefModel,
  x: Float64Array,
  B: number,
  opts: RefOptions,
  fixedResidual?: Float64Array
): number => {
  const { S, d, F } = m
  const W = S * d
  const f = refForward(m, x, B, opts)
  let recon = 0
  if (opts.recon === "mse" || opts.recon === "sse") {
    for (let n = 0; n < B * W; n++) recon += (f.xhat[n]! - x[n]!) ** 2
    recon /= opts.recon === "mse" ? B * W : B
  } else {
    for (let bs = 0; bs < B * S; bs++) {
      let q = 0
      for (let i = 0; i < d; i++) q += (f.xhat[bs * d + i]! - x[bs * d + i]!) ** 2
      recon += Math.sqrt(q)
    }
    recon /= B * S
  }
  let total = recon + f.schemeTerm
  for (const t of opts.l1Terms) {
    let v = 0
    for (let n = 0; n < B * F; n++) v += t.weights[n % F]! * Math.abs(f.codes[n]!)
    total += (t.coef * v) / B
  }
  if (opts.aux !== undefined) {
    const R = fixedResidual ?? Float64Array.from(x.map((v, n) => v - f.xhat[n]!))
    const aux = new Float64Array(B * W)
    for (let b = 0; b < B; b++) {
      const row = f.relu.subarray(b * F, (b + 1) * F)
      const sel = topIdx(row, opts.aux.k, (j) => opts.aux!.dead[j] === 1)
      for (const j of sel) {
        const a = row[j]!
        for (let s = 0; s < S; s++) {
          if (!f.decOk(s, j)) continue
          for (let i = 0; i < d; i++) aux[b * W + s * d + i] = aux[b * W + s * d + i]! + a * m.Wd[(j * S + s) * d + i]!
        }
      }
    }
    let raw = 0
    for (let n = 0; n < B * W; n++) raw += (aux[n]! - R[n]!) ** 2
    raw /= B
    const mean = new Float64Array(W)
    for (let b = 0; b < B; b++) for (let r = 0; r < W; r++) mean[r] = mean[r]! + R[b * W + r]! / B
    let den = 0
    for (let b = 0; b < B; b++) for (let r = 0; r < W; r++) den += (R[b * W + r]! - mean[r]!) ** 2
    den /= B
    total += opts.aux.alpha * (raw / den)
  }
  return total
}

export const residualOf = (m: RefModel, x: Float64Array, B: number, opts: RefOptions): Float64Array => {
  const f = refForward(m, x, B, opts)
  return Float64Array.from(x.map((v, n) => v - f.xhat[n]!))
}

/** Central finite differences of `refLoss` w.r.t. every entry of one parameter. */
export const finiteDifferences = (
  m: RefModel,
  which: "We" | "be" | "Wd" | "bd",
  x: Float64Array,
  B: number,
  opts: RefOptions,
  h = 1e-4
): Float64Array => {
  const R = opts.aux === undefined ? undefined : residualOf(m, x, B, opts)
  const arr = m[which]
  const out = new Float64Array(arr.length)
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i]!
    arr[i] = v + h
    const up = refLoss(m, x, B, opts, R)
    arr[i] = v - h
    const down = refLoss(m, x, B, opts, R)
    arr[i] = v
    out[i] = (up - down) / (2 * h)
  }
  return out
}
