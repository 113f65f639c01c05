/**
 * Parameters live on the host as Float32Arrays (the canonical copy that the optimizer updates,
 * checkpoints save and resume restores bit-for-bit) and are uploaded to the TensorFlow.js backend
 * on demand. A parameter may carry a `ForbiddenSet` (the partition's zero pattern): the uploaded
 * tensor is always the masked weight (masked forward), even if the host copy was edited by hand
 * (call `changed()` after editing it).
 */
import type { Tensor, TF } from "../tf.js"

/**
 * Entries of a weight that a partition forbids, as `[start, end)` runs per (outer, inner) block.
 * Encoder `W_enc [S, d, F]`: for source s, features j in `runs[s]` are forbidden in every row i.
 * Decoder `W_dec [F, S, d]`: for source s, the rows `W_dec[j, s, :]` with j in `runs[s]`.
 */
export class ForbiddenSet {
  private constructor(
    readonly layout: "encoder" | "decoder",
    readonly sources: number,
    readonly dim: number,
    readonly features: number,
    /** Per source: sorted disjoint `[start, end)` feature runs. */
    readonly runs: ReadonlyArray<ReadonlyArray<readonly [number, number]>>
  ) {}

  /** From a `[models, features]` allowed-mask and the model index of each source; undefined if nothing is forbidden. */
  static fromMask(
    layout: "encoder" | "decoder",
    mask: Uint8Array | undefined,
    sourceModel: Int32Array,
    dim: number,
    features: number
  ): ForbiddenSet | undefined {
    if (mask === undefined) return undefined
    const runs: Array<Array<readonly [number, number]>> = []
    let any = false
    for (let s = 0; s < sourceModel.length; s++) {
      const m = sourceModel[s]!
      const r: Array<readonly [number, number]> = []
      let j = 0
      while (j < features) {
        if (mask[m * features + j] === 0) {
          const start = j
          while (j < features && mask[m * features + j] === 0) j++
          r.push([start, j])
          any = true
        } else j++
      }
      runs.push(r)
    }
    return any ? new ForbiddenSet(layout, sourceModel.length, dim, features, runs) : undefined
  }

  /** Calls `f(start, end)` for each contiguous forbidden span of the flat array. */
  forEachSpan(f: (start: number, end: number) => void): void {
    const { sources: S, dim: d, features: F } = this
    if (this.layout === "encoder") {
      for (let s = 0; s < S; s++) {
        const runs = this.runs[s]!
        if (runs.length === 0) continue
        for (let i = 0; i < d; i++) {
          const base = (s * d + i) * F
          for (const [a, b] of runs) f(base + a, base + b)
        }
      }
    } else {
      for (let s = 0; s < S; s++) {
        for (const [a, b] of this.runs[s]!) {
          for (let j = a; j < b; j++) {
            const base = (j * S + s) * d
            f(base, base + d)
          }
        }
      }
    }
  }

  zero(arr: Float32Array): void {
    this.forEachSpan((a, b) => arr.fill(0, a, b))
  }

  maxAbs(arr: Float32Array | Float64Array): number {
    let m = 0
    this.forEachSpan((a, b) => {
      for (let i = a; i < b; i++) {
        const v = Math.abs(arr[i]!)
        if (v > m || Number.isNaN(v)) m = Number.isNaN(v) ? Number.POSITIVE_INFINITY : v
      }
    })
    return m
  }

  /** Number of forbidden entries. */
  count(): number {
    let n = 0
    this.forEachSpan((a, b) => {
      n += b - a
    })
    return n
  }
}

export class Param {
  private cached: Tensor | undefined = undefined
  private cachedVersion = -1
  /** Incremented by `changed()`; lets derived caches (decoder norms) know when to recompute. */
  version = 0
  /** The version at which every forbidden entry was last known to be exactly 0. */
  private forbiddenZeroVersion = -1

  constructor(
    private readonly tf: TF,
    readonly name: string,
    readonly shape: ReadonlyArray<number>,
    readonly data: Float32Array,
    readonly trainable: boolean = true,
    readonly forbidden: ForbiddenSet | undefined = undefined
  ) {
    const size = shape.reduce((a, b) => a * b, 1)
    if (size !== data.length)
      throw new RangeError(`param ${name}: shape [${shape.join(", ")}] needs ${size} values, got ${data.length}`)
  }

  /** Call after mutating `data` so the next `tensor()` re-uploads. */
  changed(): void {
    this.version++
  }

  /** Whether every forbidden entry of `data` is exactly 0 (checked once per version). */
  forbiddenZero(): boolean {
    if (this.forbidden === undefined || this.forbiddenZeroVersion === this.version) return true
    if (this.forbidden.maxAbs(this.data) !== 0) return false
    this.forbiddenZeroVersion = this.version
    return true
  }

  /**
   * Record that an update which cannot touch forbidden entries (a masked gradient through Adam
   * with zero moments there) has just run: if they were all 0 before it, they still are.
   */
  keptForbiddenZero(wasZero: boolean): void {
    if (wasZero) this.forbiddenZeroVersion = this.version
  }

  /** The masked weight on the host: `data` itself, or a copy with the forbidden entries zeroed. */
  maskedData(): Float32Array {
    if (this.forbiddenZero()) return this.data
    const values = this.data.slice()
    this.forbidden!.zero(values)
    return values
  }

  /** The (masked) value on the backend, `[rows, cols]` for 2-D views via `tensor(viewShape)`. */
  tensor(viewShape?: ReadonlyArray<number>): Tensor {
    if (this.cached === undefined || this.cachedVersion !== this.version) {
      this.cached?.dispose()
      this.cached = this.tf.keep(this.tf.tensor(this.maskedData(), [...this.shape], "float32"))
      this.cachedVersion = this.version
    }
    return viewShape === undefined ? this.cached : this.tf.reshape(this.cached, [...viewShape])
  }

  dispose(): void {
    this.cached?.dispose()
    this.cached = undefined
  }
}
