import { describe, expect, it } from "vitest"
import { deriveSeed, Rng, shuffleInPlace } from "../src/index.js"

/**
 * The first draws of `Rng.seeded(seed)`, recorded from @crosscode/crosscoder's former generator
 * (xoshiro128** seeded through splitmix32(seed >>> 0)) before it moved here: crosscoder sequences
 * and the RNG states stored in its checkpoints must not change. Per seed: 4 × nextU32, 2 × uniform,
 * 3 × normal, state(), permutation(10).
 */
const FORMER = {
  "0": {
    u32: [3809008728, 1133695204, 53579671, 2891528803],
    uni: [0.032522145755498943, 0.024408060085556516],
    nor: [0.9512760521188572, -0.2758605960607651, -0.24753348569671962],
    st: [2605575150, 4164057537, 4035249484, 426409892],
    perm: [0, 7, 2, 3, 8, 1, 6, 9, 5, 4]
  },
  "1": {
    u32: [2442144158, 3238099751, 3819917871, 2104621829],
    uni: [0.4705824180198359, 0.35296769838967534],
    nor: [-1.475709615875865, -0.02891400123329884, -0.10899654705655783],
    st: [375295603, 3703416697, 3237025909, 1323457814],
    perm: [5, 0, 8, 1, 4, 2, 9, 3, 7, 6]
  },
  "42": {
    u32: [2837322924, 544945897, 479756282, 3500138142],
    uni: [0.0791056456144914, 0.015209237180418],
    nor: [0.20491667605004257, 0.4605593951890762, 0.03552063722277927],
    st: [3219360825, 2556472304, 3765586606, 7597316],
    perm: [6, 5, 3, 8, 2, 0, 7, 1, 9, 4]
  },
  "-7": {
    u32: [4105674630, 1549025917, 1462909597, 1494321277],
    uni: [0.9609520249229117, 0.7115555678488151],
    nor: [-0.27729589742592603, 1.155894076358088, -0.6503910567987156],
    st: [524104051, 1963358608, 894615850, 215065497],
    perm: [9, 5, 8, 4, 6, 1, 7, 3, 2, 0]
  },
  // 0x5bd1e995 ^ 3: the trainer's RNG seed for seed 3
  "1540483478": {
    u32: [2785112534, 2152025124, 3047939967, 2256181535],
    uni: [0.8950230430162219, 0.8522038467961323],
    nor: [0.4480227118806968, -0.28282266329832073, 0.05454078216019132],
    st: [2643235753, 994501329, 2919355028, 2038733190],
    perm: [8, 2, 0, 9, 4, 6, 1, 3, 5, 7]
  },
  "2147483653": {
    u32: [2394266295, 1268908036, 159653769, 1043310477],
    uni: [0.10265943586413862, 0.5423815167305598],
    nor: [-0.05121417626545394, -0.14338170393110583, 0.765491293486922],
    st: [3501469585, 2596064964, 4151153659, 2076292350],
    perm: [4, 8, 6, 7, 9, 1, 0, 2, 3, 5]
  },
  "4294967295": {
    u32: [835879718, 1921286648, 2356205009, 1885780724],
    uni: [0.2282790634437124, 0.856209721965931],
    nor: [-0.3050490968616548, 0.48331781412791297, -0.6766103263291187],
    st: [3331016127, 1120999877, 2087490637, 1767960888],
    perm: [1, 0, 9, 2, 6, 5, 8, 7, 4, 3]
  }
} as const

describe("Rng", () => {
  it("Rng.seeded(seed) reproduces the former crosscoder generator exactly", () => {
    for (const [seed, want] of Object.entries(FORMER)) {
      const r = Rng.seeded(Number(seed))
      expect(Array.from({ length: 4 }, () => r.nextU32())).toEqual(want.u32)
      expect(Array.from({ length: 2 }, () => r.uniform())).toEqual(want.uni)
      for (const w of want.nor) expect(r.normal()).toBeCloseTo(w, 14)
      expect(r.state()).toEqual(want.st)
      expect([...r.permutation(10)]).toEqual(want.perm)
    }
  })

  it("state() / fromState resume the same sequence; the all-zero state is replaced", () => {
    const a = Rng.seeded(9, 1)
    for (let i = 0; i < 5; i++) a.uniform()
    const b = Rng.fromState(a.state())
    expect(Array.from({ length: 20 }, () => b.nextU32())).toEqual(Array.from({ length: 20 }, () => a.nextU32()))
    // fillNormal leaves no cached spare, so the state after it is the whole story
    a.fillNormal(new Float32Array(3))
    const c = Rng.fromState(a.state())
    expect([...c.fillNormal(new Float32Array(4), 2)]).toEqual([...a.fillNormal(new Float32Array(4), 2)])
    expect(Rng.fromState([0, 0, 0, 0]).state()).toEqual([1, 0, 0, 0])
    expect(() => Rng.fromState([0, 0, 0, 0]).nextU32()).not.toThrow()
  })

  it("streams: deterministic, distinct from each other and from the bare seed; large seeds keep their high bits", () => {
    const first = (r: Rng) => Array.from({ length: 4 }, () => r.nextU32())
    expect(first(Rng.seeded(5, 2, 7))).toEqual(first(Rng.seeded(5, 2, 7)))
    const seen = new Set<string>()
    for (const streams of [[], [0], [1], [0, 0], [0, 1], [1, 0], [2 ** 32], [-1]] as Array<Array<number>>) {
      seen.add(first(Rng.seeded(5, ...streams)).join())
    }
    expect(seen.size).toBe(8)
    // 32-bit seeds (signed or unsigned) are taken mod 2^32, as the former generator did
    expect(deriveSeed(-1)).toBe(4294967295)
    expect(deriveSeed(4294967295)).toBe(4294967295)
    expect(deriveSeed(12.75)).toBe(12)
    // beyond 32 bits the high bits matter
    expect(deriveSeed(2 ** 32 + 5)).not.toBe(deriveSeed(5))
    expect(deriveSeed(2 ** 40 + 5)).not.toBe(deriveSeed(2 ** 41 + 5))
    for (const s of [0, 1, 2 ** 32 + 5, 2 ** 53 - 1]) {
      const d = deriveSeed(s, 3)
      expect(Number.isInteger(d) && d >= 0 && d < 2 ** 32).toBe(true)
    }
  })

  it("uniform, int, normal, shuffle and permutation", () => {
    const r = Rng.seeded(123)
    let sum = 0
    for (let i = 0; i < 20000; i++) {
      const u = r.uniform()
      expect(u >= 0 && u < 1).toBe(true)
      sum += u
    }
    expect(sum / 20000).toBeGreaterThan(0.48)
    expect(sum / 20000).toBeLessThan(0.52)
    const counts = new Array<number>(7).fill(0)
    for (let i = 0; i < 7000; i++) counts[r.int(7)]!++
    for (const c of counts) expect(c).toBeGreaterThan(850)
    const z = r.fillNormal(new Float32Array(20000))
    const mean = z.reduce((a, b) => a + b, 0) / z.length
    const variance = z.reduce((a, b) => a + (b - mean) ** 2, 0) / z.length
    expect(Math.abs(mean)).toBeLessThan(0.03)
    expect(Math.abs(variance - 1)).toBeLessThan(0.05)
    const xs = ["a", "b", "c", "d", "e", "f"]
    const shuffled = Rng.seeded(4).shuffle([...xs])
    expect([...shuffled].sort()).toEqual(xs)
    // permutation(n) is the shuffle of 0..n-1; shuffleInPlace takes any generator with int(n)
    const p = Rng.seeded(4).permutation(6)
    expect(shuffled).toEqual([...p].map((i) => xs[i]))
    const q = shuffleInPlace([...xs], Rng.seeded(4))
    expect(q).toEqual(shuffled)
    expect(shuffleInPlace([0, 1, 2, 3], { int: (n) => n - 1 })).toEqual([0, 1, 2, 3])
    expect(shuffleInPlace([0, 1, 2, 3], { int: () => 0 })).toEqual([1, 2, 3, 0])
  })
})
