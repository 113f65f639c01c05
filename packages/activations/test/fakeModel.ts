/**
 * A deterministic fake `LanguageModelShape` for unit tests. The residual stream at the output of
 * block l, real position p of a sequence, dimension j is a smooth function of the model seed, l,
 * the token at p, p itself and the sum of the tokens before p (so it is causal and position
 * dependent). Padding positions hold 1e4 + j so reading a wrong position is obvious. It pads like a
 * real model (left or right) and calls hooks with a proper `HookContext`.
 */
import type {
  ForwardRequest,
  Hook,
  HookContext,
  LanguageModelShape,
  SequenceForward,
  TensorBackendShape
} from "@crosscode/core"
import { ModelInputError } from "@crosscode/core"
import { Effect } from "effect"

export const fakeValue = (seed: number, layer: number, tokens: ReadonlyArray<number>, p: number, j: number): number => {
  let prefix = 0
  for (let i = 0; i < p; i++) prefix += tokens[i] as number
  return Math.fround(
    Math.sin(seed * 0.37 + layer * 1.3 + (tokens[p] as number) * 0.11 + p * 0.07 + j * 0.5 + prefix * 0.013) *
      (1 + layer) +
      0.01 * j
  )
}

export interface FakeModelOptions {
  readonly seed: number
  readonly numLayers?: number
  readonly hiddenSize?: number
  readonly vocabSize?: number
  readonly name?: string
  /** Count forward calls. */
  readonly calls?: { n: number }
  /** Make the activation at (token id) NaN, to test error paths. */
  readonly nanToken?: number
  /** Scale activations of this token id, to test the norm-outlier filter. */
  readonly hugeToken?: { readonly id: number; readonly factor: number }
}

export const makeFakeModel = (tf: TensorBackendShape["tf"], o: FakeModelOptions): LanguageModelShape => {
  const L = o.numLayers ?? 4
  const H = o.hiddenSize ?? 8
  const V = o.vocabSize ?? 1000
  const value = (layer: number, tokens: ReadonlyArray<number>, p: number, j: number): number => {
    const t = tokens[p] as number
    if (o.nanToken !== undefined && t === o.nanToken) return Number.NaN
    const v = fakeValue(o.seed, layer, tokens, p, j)
    return o.hugeToken !== undefined && t === o.hugeToken.id ? v * o.hugeToken.factor : v
  }
  const forward = (req: ForwardRequest) =>
    Effect.suspend(() => {
      if (o.calls) o.calls.n++
      const seqs = req.inputIds
      const B = seqs.length
      if (B === 0) return Effect.fail(new ModelInputError({ message: "empty batch" }))
      for (const s of seqs) {
        if (s.length === 0) return Effect.fail(new ModelInputError({ message: "empty sequence" }))
        for (const t of s)
          if (!(Number.isInteger(t) && t >= 0 && t < V))
            return Effect.fail(new ModelInputError({ message: `token ${t} out of range` }))
      }
      const T = Math.max(...seqs.map((s) => s.length))
      const left = req.padding === "left"
      const mask = new Int32Array(B * T)
      const posIds = new Int32Array(B * T)
      const last = new Int32Array(B)
      const offset = seqs.map((s) => (left ? T - s.length : 0))
      seqs.forEach((s, b) => {
        for (let p = 0; p < s.length; p++) {
          mask[b * T + (offset[b] as number) + p] = 1
          posIds[b * T + (offset[b] as number) + p] = p
        }
        last[b] = (offset[b] as number) + s.length - 1
      })
      const stop = req.stopAtLayer ?? L - 1
      const hooks: ReadonlyArray<Hook> = req.hooks ?? []
      for (const h of hooks)
        if (h.site.layer > L - 1) return Effect.fail(new ModelInputError({ message: `hook layer ${h.site.layer}` }))
      const ctx: HookContext = {
        site: { layer: 0, point: "block_output" },
        phase: "prefill",
        step: 0,
        batchSize: B,
        seqLen: T,
        attentionMask: mask,
        positionIds: posIds,
        lastPromptIndex: last
      }
      const stateAt = (layer: number): Float32Array => {
        const out = new Float32Array(B * T * H)
        for (let b = 0; b < B; b++) {
          const s = seqs[b] as ReadonlyArray<number>
          for (let t = 0; t < T; t++) {
            const p = t - (offset[b] as number)
            for (let j = 0; j < H; j++) {
              out[(b * T + t) * H + j] = p >= 0 && p < s.length ? value(layer, s, p, j) : 1e4 + j
            }
          }
        }
        return out
      }
      for (let layer = 0; layer <= stop; layer++) {
        for (const point of ["block_input", "block_output"] as const) {
          const here = hooks.filter((h) => h.site.layer === layer && h.site.point === point)
          if (here.length === 0) continue
          const state = stateAt(point === "block_output" ? layer : layer - 1)
          tf.tidy(() => {
            const h = tf.tensor3d(state, [B, T, H])
            for (const hook of here) hook.run(h, { ...ctx, site: hook.site })
          })
        }
      }
      const results: Array<SequenceForward> = seqs.map((s) => {
        if (!req.hiddenStates) return { length: s.length }
        const hs: Array<Float32Array> = []
        for (let i = 0; i <= stop + 1; i++) {
          const a = new Float32Array(s.length * H)
          for (let p = 0; p < s.length; p++) for (let j = 0; j < H; j++) a[p * H + j] = value(i - 1, s, p, j)
          hs.push(a)
        }
        return { length: s.length, hiddenStates: hs }
      })
      return Effect.succeed(results)
    })
  return {
    info: {
      family: "fake",
      name: o.name ?? `fake-${o.seed}`,
      numLayers: L,
      hiddenSize: H,
      vocabSize: V,
      weightDtype: "float32",
      eosTokenIds: []
    },
    forward,
    generate: () => Effect.die("fake model: generate not implemented"),
    addHooks: () => Effect.void,
    dispose: Effect.void
  }
}

/** A whitespace "tokenizer": ids are stable hashes of words mod (vocab - 2), offset by 2; id 1 = BOS (special). */
export const makeFakeTokenizer = (vocab = 1000, bos = false) => {
  const hash = (w: string) => {
    let h = 2166136261
    for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 16777619)
    return 2 + ((h >>> 0) % (vocab - 2))
  }
  return {
    vocabSize: vocab,
    eosTokenIds: [0],
    bosTokenId: bos ? 1 : undefined,
    padTokenId: 0,
    encode: (text: string, options?: { readonly addSpecialTokens?: boolean }) => {
      const ids = text
        .split(/\s+/)
        .filter((w) => w !== "")
        .map(hash)
      return bos && options?.addSpecialTokens !== false ? [1, ...ids] : ids
    },
    decode: () => "",
    tokenToId: () => undefined,
    idToToken: () => undefined,
    specialTokenIds: new Set<number>(bos ? [0, 1] : [0]),
    applyChatTemplate: () => Effect.succeed("")
  }
}
