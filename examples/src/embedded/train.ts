/**
 * Training loops of the embedded pair: Adam on next-token cross-entropy through core's
 * differentiable `qwen2Forward`, deterministic given the seed (seeded init, seeded batch order,
 * single-threaded wasm kernels).
 */
import {
  EMBED,
  gatherRows,
  LM_HEAD,
  linear,
  type Qwen2Config,
  type Qwen2Weights,
  qwen2Forward,
  sparseCrossEntropy
} from "@crosscode/core"
import * as tf from "@tensorflow/tfjs-core"
import type { Rng } from "./rng.js"

/** One training sequence: ids and the positions whose next token is predicted (loss mask). */
export interface TrainSeq {
  readonly ids: ReadonlyArray<number>
  /** Positions t (0-based) with a loss on predicting ids[t+1]. */
  readonly lossFrom: number
}

export interface Batch {
  readonly ids: Int32Array
  readonly B: number
  readonly T: number
  readonly positions: Int32Array
  readonly targets: Int32Array
}

/** Right-pad a list of sequences into one batch; loss on t in [lossFrom, len-2]. */
export const makeBatch = (seqs: ReadonlyArray<TrainSeq>, padId: number): Batch => {
  const T = Math.max(...seqs.map((s) => s.ids.length))
  const B = seqs.length
  const ids = new Int32Array(B * T).fill(padId)
  const positions: Array<number> = []
  const targets: Array<number> = []
  seqs.forEach((s, b) => {
    s.ids.forEach((id, t) => {
      ids[b * T + t] = id
    })
    for (let t = s.lossFrom; t < s.ids.length - 1; t++) {
      positions.push(b * T + t)
      targets.push(s.ids[t + 1] as number)
    }
  })
  return { ids, B, T, positions: Int32Array.from(positions), targets: Int32Array.from(targets) }
}

/** Pack documents (each followed by `eos`) into rows of `rowLen` tokens, full loss. */
export const packRows = (docs: Iterable<ReadonlyArray<number>>, eos: number, rowLen: number): Array<TrainSeq> => {
  const rows: Array<TrainSeq> = []
  let cur: Array<number> = []
  for (const d of docs) {
    cur.push(...d, eos)
    while (cur.length >= rowLen) {
      rows.push({ ids: cur.slice(0, rowLen), lossFrom: 0 })
      cur = cur.slice(rowLen)
    }
  }
  return rows
}

/**
 * Mean next-token cross-entropy over the batch's loss positions: the last hidden state of core's
 * `qwen2Forward`, the loss rows gathered, then the (tied or untied) LM head on those rows only.
 */
export const batchLoss = (c: Qwen2Config, weights: Qwen2Weights, b: Batch): tf.Scalar => {
  const ids = tf.tensor2d(b.ids, [b.B, b.T], "int32")
  const r = qwen2Forward(c, weights, ids, { hiddenStates: true, logits: false })
  const last = r.hiddenStates![r.hiddenStates!.length - 1]!
  const rows = gatherRows(
    tf.reshape(last, [b.B * b.T, c.hidden_size]) as tf.Tensor2D,
    tf.tensor1d(b.positions, "int32")
  )
  const head = weights[c.tie_word_embeddings ? EMBED : LM_HEAD] as tf.Tensor2D
  const logits = linear(rows, { w: head, layout: "outInTrain" })
  return sparseCrossEntropy(logits, tf.tensor1d(b.targets, "int32"))
}

export interface TrainOptions {
  readonly steps: number
  readonly lr: number
  readonly warmup: number
  /** Final LR as a fraction of `lr` (cosine decay). */
  readonly minLrFrac: number
  readonly clip: number
  readonly log: (line: string) => void
  readonly logEvery: number
}

/**
 * Train `weights` in place for `opts.steps` steps; `nextBatch(step)` supplies the batches.
 * Returns the loss curve (mean over each logging window).
 */
export const trainLoop = (
  c: Qwen2Config,
  weights: Qwen2Weights,
  nextBatch: (step: number) => Batch,
  opts: TrainOptions
): Array<number> => {
  const opt = tf.train.adam(opts.lr, 0.9, 0.95, 1e-8)
  const vars = Object.values(weights) as Array<tf.Variable>
  const curve: Array<number> = []
  let acc = 0
  let n = 0
  const t0 = Date.now()
  for (let step = 0; step < opts.steps; step++) {
    const frac = step < opts.warmup ? (step + 1) / opts.warmup : 1
    const prog = Math.min(1, Math.max(0, (step - opts.warmup) / Math.max(1, opts.steps - opts.warmup)))
    const cosine = opts.minLrFrac + (1 - opts.minLrFrac) * 0.5 * (1 + Math.cos(Math.PI * prog))
    ;(opt as unknown as { learningRate: number }).learningRate = opts.lr * frac * cosine
    const b = nextBatch(step)
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => batchLoss(c, weights, b), vars)
      const names = Object.keys(grads)
      const sq = tf.addN(names.map((k) => tf.sum(tf.square(grads[k] as tf.Tensor))))
      const norm = Math.sqrt((sq.dataSync() as Float32Array)[0] as number)
      const scale = norm > opts.clip ? opts.clip / norm : 1
      const scaled: Record<string, tf.Tensor> = {}
      for (const k of names) scaled[k] = scale === 1 ? (grads[k] as tf.Tensor) : tf.mul(grads[k] as tf.Tensor, scale)
      opt.applyGradients(scaled as unknown as Parameters<typeof opt.applyGradients>[0])
      return (value.dataSync() as Float32Array)[0] as number
    })
    if (!Number.isFinite(loss)) throw new Error(`non-finite loss at step ${step}`)
    acc += loss
    n++
    if ((step + 1) % opts.logEvery === 0 || step === opts.steps - 1) {
      curve.push(acc / n)
      opts.log(
        `step ${step + 1}/${opts.steps} loss ${(acc / n).toFixed(4)} lr ${(opts.lr * frac * cosine).toExponential(2)} ${((Date.now() - t0) / 1000).toFixed(0)}s`
      )
      acc = 0
      n = 0
    }
  }
  opt.dispose()
  return curve
}

/** Draw `k` items from `pool` without replacement within an epoch (seeded). */
export const epochSampler = <T>(rng: Rng, pool: ReadonlyArray<T>): ((k: number) => Array<T>) => {
  let order: Array<T> = []
  return (k) => {
    const out: Array<T> = []
    while (out.length < k) {
      if (order.length === 0) order = rng.shuffle(pool)
      out.push(order.pop() as T)
    }
    return out
  }
}
