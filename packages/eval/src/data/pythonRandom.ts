/**
 * CPython's `random` module, as far as the paper's harness uses it: `random.seed(int)` then
 * `random.sample(population, k)` (`sweep_eval.py`: `random.seed(42); random.sample(examples, 100)`).
 * Mersenne Twister MT19937 with CPython's `init_by_array` seeding, `getrandbits`, `_randbelow` and
 * the two `sample` strategies (pool for small populations, rejection set otherwise), so the same
 * seed over the same list selects the same items in the same order as Python 3.
 */

const N = 624
const M = 397

export class PythonRandom {
  private readonly mt = new Uint32Array(N)
  private mti = N + 1

  /** `random.seed(seed)` for a non-negative or negative integer seed (CPython uses `abs(seed)`). */
  constructor(seed: number | bigint) {
    let s = typeof seed === "bigint" ? seed : BigInt(Math.trunc(seed))
    if (s < 0n) s = -s
    const key: Array<number> = []
    do {
      key.push(Number(s & 0xffffffffn))
      s >>= 32n
    } while (s > 0n)
    this.initByArray(key)
  }

  private initGenrand(s: number): void {
    const mt = this.mt
    mt[0] = s >>> 0
    for (let i = 1; i < N; i++) {
      const prev = (mt[i - 1] as number) ^ ((mt[i - 1] as number) >>> 30)
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0
    }
    this.mti = N
  }

  private initByArray(key: ReadonlyArray<number>): void {
    const mt = this.mt
    this.initGenrand(19650218)
    let i = 1
    let j = 0
    const len = key.length
    for (let k = Math.max(N, len); k > 0; k--) {
      const prev = (mt[i - 1] as number) ^ ((mt[i - 1] as number) >>> 30)
      mt[i] = (((mt[i] as number) ^ Math.imul(prev, 1664525)) + (key[j] as number) + j) >>> 0
      i++
      j++
      if (i >= N) {
        mt[0] = mt[N - 1] as number
        i = 1
      }
      if (j >= len) j = 0
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = (mt[i - 1] as number) ^ ((mt[i - 1] as number) >>> 30)
      mt[i] = (((mt[i] as number) ^ Math.imul(prev, 1566083941)) - i) >>> 0
      i++
      if (i >= N) {
        mt[0] = mt[N - 1] as number
        i = 1
      }
    }
    mt[0] = 0x80000000
  }

  /** One 32-bit output (`genrand_uint32`). */
  nextUint32(): number {
    const mt = this.mt
    if (this.mti >= N) {
      let kk = 0
      const mag = (y: number) => (y & 1 ? 0x9908b0df : 0)
      for (; kk < N - M; kk++) {
        const y = ((mt[kk] as number) & 0x80000000) | ((mt[kk + 1] as number) & 0x7fffffff)
        mt[kk] = ((mt[kk + M] as number) ^ (y >>> 1) ^ mag(y)) >>> 0
      }
      for (; kk < N - 1; kk++) {
        const y = ((mt[kk] as number) & 0x80000000) | ((mt[kk + 1] as number) & 0x7fffffff)
        mt[kk] = ((mt[kk + (M - N)] as number) ^ (y >>> 1) ^ mag(y)) >>> 0
      }
      const y = ((mt[N - 1] as number) & 0x80000000) | ((mt[0] as number) & 0x7fffffff)
      mt[N - 1] = ((mt[M - 1] as number) ^ (y >>> 1) ^ mag(y)) >>> 0
      this.mti = 0
    }
    let y = mt[this.mti++] as number
    y ^= y >>> 11
    y = (y ^ ((y << 7) & 0x9d2c5680)) >>> 0
    y = (y ^ ((y << 15) & 0xefc60000)) >>> 0
    y ^= y >>> 18
    return y >>> 0
  }

  /** `random.getrandbits(k)` for 1 ≤ k ≤ 32. */
  getrandbits(k: number): number {
    if (k < 1 || k > 32) throw new RangeError(`getrandbits supports 1..32 bits here, got ${k}`)
    return this.nextUint32() >>> (32 - k)
  }

  /** `random.random()`: a float in [0, 1) with 53 random bits. */
  random(): number {
    const a = this.nextUint32() >>> 5
    const b = this.nextUint32() >>> 6
    return (a * 67108864 + b) / 9007199254740992
  }

  /** `random._randbelow(n)` (rejection sampling on `n.bit_length()` bits). */
  randbelow(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff)
      throw new RangeError(`randbelow: n must be in 1..2^32-1, got ${n}`)
    const k = 32 - Math.clz32(n)
    let r = this.getrandbits(k)
    while (r >= n) r = this.getrandbits(k)
    return r
  }

  /** `random.sample(population, k)`. */
  sample<A>(population: ReadonlyArray<A>, k: number): Array<A> {
    const n = population.length
    if (!Number.isInteger(k) || k < 0 || k > n)
      throw new RangeError(`Sample larger than population or is negative (k=${k}, n=${n})`)
    const result: Array<A> = new Array(k)
    let setsize = 21
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4))
    if (n <= setsize) {
      const pool = [...population]
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i)
        result[i] = pool[j] as A
        pool[j] = pool[n - i - 1] as A
      }
    } else {
      const selected = new Set<number>()
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n)
        while (selected.has(j)) j = this.randbelow(n)
        selected.add(j)
        result[i] = population[j] as A
      }
    }
    return result
  }
}

/** `random.seed(seed); random.sample(population, k)` as in CPython 3. */
export const pythonSample = <A>(population: ReadonlyArray<A>, k: number, seed: number | bigint = 42): Array<A> =>
  new PythonRandom(seed).sample(population, k)
