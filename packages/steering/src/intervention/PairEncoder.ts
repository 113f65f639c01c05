/**
 * `PairEncoder`: the models a crosscoder was trained on, the hook site of each of its sources, and
 * the crosscoder itself, as one Effect service. It runs every model's prefill up to the site
 * (`stopAtLayer`, a capture hook), stacks the activations in the crosscoder's source order
 * (`[h_A, h_B]` for the paper) and encodes them. The crosscoder takes RAW activations and applies
 * its stored normalization itself (`Crosscoder.encode`), so nothing is normalized here.
 *
 * Pair-dependent interventions (reconstruction, feature steering, clamping) need the encoding of
 * the pair at the prompt's positions, including the activation of the model that is NOT being
 * generated from (Model B's reconstruction depends on h_A through the shared features, method.md
 * §5.1). Encodings are cached by prompt ids, so the cells of a sweep share them.
 */
import {
  captureHook,
  type HookSite,
  type LanguageModelShape,
  type ModelInputError,
  Positions,
  siteKey
} from "@crosscode/core"
import type { Crosscoder } from "@crosscode/crosscoder"
import { Context, Effect, Layer } from "effect"
import { InterventionError } from "../errors.js"
import { codesBytes, type SparseCodes, sparseFromDense } from "./codes.js"

/** Which prompt positions to encode: the last prompt token, or every prompt token. */
export type EncodeScope = "last" | "prompt"

export interface PromptEncoding {
  readonly scope: EncodeScope
  /** Number of prompt tokens. */
  readonly promptLength: number
  /** Prompt token index of each encoded row (`[T − 1]` for "last", `0..T−1` for "prompt"). */
  readonly tokenIndex: Int32Array
  /** Raw activations, row-major `[rows, S, d]` in the crosscoder's source order. */
  readonly activations: Float32Array
  /** Codes `[rows, F]` (sparse). */
  readonly codes: SparseCodes
}

export interface BatchEncoding {
  /** Raw activations `[prompts, S, d]` at each prompt's last token. */
  readonly activations: Float32Array
  /** Codes `[prompts, F]`, dense row-major. */
  readonly codes: Float32Array
  readonly rows: number
}

export interface PairEncoderConfig {
  readonly crosscoder: Crosscoder
  /** One model per crosscoder model label (`crosscoder.models`), e.g. `{ A: rlModel, B: baseModel }`. */
  readonly models: Readonly<Record<string, LanguageModelShape>>
  /** The hook site of every source (in the crosscoder's source order), or one site for all. */
  readonly sites: HookSite | ReadonlyArray<HookSite>
  /** Budget of the per-prompt encoding cache in bytes (default 256 MiB; 0 disables it). */
  readonly cacheBytes?: number
  /** Prompts per forward pass in `encodeLastTokens` (default 8). */
  readonly batchSize?: number
  /** Rows per crosscoder encode/decode call (default 256). */
  readonly encodeChunk?: number
  /**
   * "apply" (default): activations are raw and the crosscoder applies its stored normalization
   * (`encode`/`decode`); decoder rows are used in raw units. "ignore": feed raw activations to
   * `encodeNormalized` and patch `decodeNormalized` outputs, with decoder rows in normalized units —
   * what the paper's evaluation code did (method.md §1.4). Identical for crosscoders without
   * normalization (e.g. converted paper checkpoints).
   */
  readonly normalization?: "apply" | "ignore"
}

export interface PairEncoderShape {
  readonly crosscoder: Crosscoder
  /** Model labels in the crosscoder's order. */
  readonly models: ReadonlyArray<string>
  /** Hook site of each source. */
  readonly sites: ReadonlyArray<HookSite>
  /** Units of decoder rows for deltas: "raw" (normalization applied) or "normalized" (ignored). */
  readonly space: "raw" | "normalized"
  model(label: string): LanguageModelShape | undefined
  /** Source indices of a model label (in source order; empty for an unknown label). */
  sourcesOf(label: string): ReadonlyArray<number>
  /** Activations and codes of one prompt at its last token or at every token (cached). */
  encodePrompt(
    promptIds: ReadonlyArray<number>,
    scope: EncodeScope
  ): Effect.Effect<PromptEncoding, InterventionError | ModelInputError>
  /** Last-token activations and codes of many prompts (batched forward passes, not cached). */
  encodeLastTokens(
    prompts: ReadonlyArray<ReadonlyArray<number>>
  ): Effect.Effect<BatchEncoding, InterventionError | ModelInputError>
  /** Raw reconstruction `[rows, d]` of one source from codes (crosscoder `decode`, chunked). */
  decodeSource(codes: SparseCodes, source: number): Effect.Effect<Float32Array, InterventionError>
  /** Number of cached encodings and their bytes. */
  cacheStats(): { readonly entries: number; readonly bytes: number }
  clearCache(): void
}

const fail = (message: string) => new InterventionError({ intervention: "PairEncoder", message })

/** Captures the activations of one model at its sources' sites for a batch of prompts. */
const captureModel = (
  model: LanguageModelShape,
  prompts: ReadonlyArray<ReadonlyArray<number>>,
  sites: ReadonlyArray<HookSite>,
  scope: EncodeScope
): Effect.Effect<Array<Array<Float32Array>>, ModelInputError> =>
  Effect.suspend(() => {
    // out[site][prompt] = [positions * d]
    const parts: Array<Array<Array<Float32Array>>> = sites.map(() => prompts.map(() => []))
    const selector = scope === "last" ? Positions.lastPrompt : Positions.real
    const hooks = sites.map((site, i) =>
      captureHook(
        site,
        selector,
        (c) => {
          const H = c.hidden
          for (let k = 0; k < c.rows.length; k++) parts[i]![c.rows[k]!]!.push(c.values.subarray(k * H, (k + 1) * H))
        },
        "prefill"
      )
    )
    const stopAtLayer = Math.max(...sites.map((s) => s.layer))
    return Effect.map(model.forward({ inputIds: prompts, padding: "right", stopAtLayer, logits: "none", hooks }), () =>
      parts.map((perPrompt) =>
        perPrompt.map((vectors) => {
          const H = vectors[0]?.length ?? 0
          const out = new Float32Array(vectors.length * H)
          vectors.forEach((v, k) => {
            out.set(v, k * H)
          })
          return out
        })
      )
    )
  })

/** Builds the service value (validates that models, sites and crosscoder fit together). */
export const makePairEncoder = (config: PairEncoderConfig): Effect.Effect<PairEncoderShape, InterventionError> =>
  Effect.suspend(() => {
    const cc = config.crosscoder
    const sources = cc.config.architecture.sources
    const S = sources.length
    const d = cc.dim
    const sites: ReadonlyArray<HookSite> = Array.isArray(config.sites)
      ? (config.sites as ReadonlyArray<HookSite>)
      : sources.map(() => config.sites as HookSite)
    if (sites.length !== S) return Effect.fail(fail(`${sites.length} sites for ${S} crosscoder sources`))
    for (const label of cc.models) {
      const m = config.models[label]
      if (m === undefined) {
        return Effect.fail(
          fail(`no model for crosscoder model "${label}" (given: ${Object.keys(config.models).join(", ") || "none"})`)
        )
      }
      if (m.info.hiddenSize !== d) {
        return Effect.fail(
          fail(`model "${label}" (${m.info.name}) has hidden size ${m.info.hiddenSize}, the crosscoder has dim ${d}`)
        )
      }
    }
    for (let s = 0; s < S; s++) {
      const m = config.models[sources[s]!.model]!
      const site = sites[s]!
      if (!Number.isInteger(site.layer) || site.layer < 0 || site.layer >= m.info.numLayers) {
        return Effect.fail(
          fail(
            `site ${siteKey(site)} of source ${s} is outside model "${sources[s]!.model}" (${m.info.numLayers} layers)`
          )
        )
      }
    }
    const cacheBytes = config.cacheBytes ?? 256 * 1024 * 1024
    const batchSize = Math.max(1, config.batchSize ?? 8)
    const chunk = Math.max(1, config.encodeChunk ?? 256)
    const tf = cc.tf
    /** `f` in `tf.tidy`, its result read asynchronously (every backend, webgpu included) and freed. */
    const readTidy = async (f: () => ReturnType<typeof tf.tidy>): Promise<Float32Array> => {
      const t = tf.tidy(f) as ReturnType<typeof tf.tensor>
      try {
        return (await t.data()) as Float32Array
      } finally {
        t.dispose()
      }
    }
    const ignoreNorm = config.normalization === "ignore"
    const cache = new Map<string, { enc: PromptEncoding; bytes: number }>()
    let cachedBytes = 0

    const sourcesOf = (label: string) => sources.flatMap((s, i) => (s.model === label ? [i] : []))

    /** Activations `[prompts][rows * S * d]` for a batch of prompts. */
    const activationsFor = (prompts: ReadonlyArray<ReadonlyArray<number>>, scope: EncodeScope) =>
      Effect.gen(function* () {
        const rowsOf = prompts.map((p) => (scope === "last" ? 1 : p.length))
        const out = prompts.map((_, p) => new Float32Array(rowsOf[p]! * S * d))
        for (const label of cc.models) {
          const own = sourcesOf(label)
          // One capture per distinct site of this model.
          const distinct: Array<HookSite> = []
          for (const s of own) if (!distinct.some((x) => siteKey(x) === siteKey(sites[s]!))) distinct.push(sites[s]!)
          const captured = yield* captureModel(config.models[label]!, prompts, distinct, scope)
          for (const s of own) {
            const i = distinct.findIndex((x) => siteKey(x) === siteKey(sites[s]!))
            for (let p = 0; p < prompts.length; p++) {
              const v = captured[i]![p]!
              if (v.length !== rowsOf[p]! * d) {
                return yield* fail(
                  `captured ${v.length / d} positions of model "${label}" for prompt ${p}, expected ${rowsOf[p]}`
                )
              }
              for (let r = 0; r < rowsOf[p]!; r++) out[p]!.set(v.subarray(r * d, (r + 1) * d), (r * S + s) * d)
            }
          }
        }
        return out
      })

    /** Dense codes `[rows, F]` of raw activations `[rows, S, d]`, encoded in chunks. */
    const encodeRows = (x: Float32Array, rows: number): Effect.Effect<Float32Array, InterventionError> =>
      Effect.tryPromise({
        try: async () => {
          const F = cc.features
          const codes = new Float32Array(rows * F)
          for (let r0 = 0; r0 < rows; r0 += chunk) {
            const n = Math.min(chunk, rows - r0)
            const data = await readTidy(() => {
              const t = tf.tensor2d(x.subarray(r0 * S * d, (r0 + n) * S * d), [n, S * d])
              return ignoreNorm ? cc.encodeNormalized(t) : cc.encode(t)
            })
            codes.set(data, r0 * F)
          }
          for (let i = 0; i < codes.length; i++) {
            if (!Number.isFinite(codes[i]!))
              throw new Error(`non-finite code ${codes[i]} (row ${Math.floor(i / F)}, feature ${i % F})`)
          }
          return codes
        },
        catch: (e) => fail(`crosscoder encode failed: ${e instanceof Error ? e.message : String(e)}`)
      })

    const encodePrompt = (promptIds: ReadonlyArray<number>, scope: EncodeScope) =>
      Effect.gen(function* () {
        if (promptIds.length === 0) return yield* fail("cannot encode an empty prompt")
        const key = `${scope}:${promptIds.join(",")}`
        const hit = cache.get(key)
        if (hit !== undefined) {
          cache.delete(key) // refresh LRU position
          cache.set(key, hit)
          return hit.enc
        }
        const [x] = yield* activationsFor([promptIds], scope)
        const rows = scope === "last" ? 1 : promptIds.length
        const dense = yield* encodeRows(x!, rows)
        const enc: PromptEncoding = {
          scope,
          promptLength: promptIds.length,
          tokenIndex:
            scope === "last" ? Int32Array.of(promptIds.length - 1) : Int32Array.from({ length: rows }, (_, i) => i),
          activations: x!,
          codes: sparseFromDense(dense, rows, cc.features)
        }
        const bytes = enc.activations.byteLength + codesBytes(enc.codes) + enc.tokenIndex.byteLength
        if (bytes <= cacheBytes) {
          cache.set(key, { enc, bytes })
          cachedBytes += bytes
          for (const [k, v] of cache) {
            if (cachedBytes <= cacheBytes) break
            cache.delete(k)
            cachedBytes -= v.bytes
          }
        }
        return enc
      })

    const encodeLastTokens = (prompts: ReadonlyArray<ReadonlyArray<number>>) =>
      Effect.gen(function* () {
        const n = prompts.length
        for (let p = 0; p < n; p++) if (prompts[p]!.length === 0) return yield* fail(`prompt ${p} is empty`)
        const activations = new Float32Array(n * S * d)
        for (let b = 0; b < n; b += batchSize) {
          const xs = yield* activationsFor(prompts.slice(b, b + batchSize), "last")
          xs.forEach((x, i) => {
            activations.set(x, (b + i) * S * d)
          })
        }
        const codes = yield* encodeRows(activations, n)
        return { activations, codes, rows: n }
      })

    const decodeSource = (codes: SparseCodes, source: number) =>
      Effect.tryPromise({
        try: async () => {
          if (!(source >= 0 && source < S)) throw new Error(`source ${source} out of range [0, ${S})`)
          const F = cc.features
          const out = new Float32Array(codes.rows * d)
          for (let r0 = 0; r0 < codes.rows; r0 += chunk) {
            const n = Math.min(chunk, codes.rows - r0)
            const dense = new Float32Array(n * F)
            for (let r = r0; r < r0 + n; r++) {
              for (let k = codes.rowPtr[r]!; k < codes.rowPtr[r + 1]!; k++)
                dense[(r - r0) * F + codes.index[k]!] = codes.value[k]!
            }
            const data = await readTidy(() => {
              const c = tf.tensor2d(dense, [n, F])
              const rec = ignoreNorm ? tf.reshape(cc.decodeNormalized(c), [n, S, d]) : cc.decode(c)
              return tf.slice(rec, [0, source, 0], [n, 1, d])
            })
            out.set(data, r0 * d)
          }
          return out
        },
        catch: (e) => fail(`crosscoder decode failed: ${e instanceof Error ? e.message : String(e)}`)
      })

    const shape: PairEncoderShape = {
      crosscoder: cc,
      models: cc.models,
      sites,
      space: ignoreNorm ? "normalized" : "raw",
      model: (label) => (cc.models.includes(label) ? config.models[label] : undefined),
      sourcesOf,
      encodePrompt,
      encodeLastTokens,
      decodeSource,
      cacheStats: () => ({ entries: cache.size, bytes: cachedBytes }),
      clearCache: () => {
        cache.clear()
        cachedBytes = 0
      }
    }
    return Effect.succeed(shape)
  })

export class PairEncoder extends Context.Service<PairEncoder, PairEncoderShape>()("@crosscode/steering/PairEncoder") {
  /** The service for a crosscoder, its models and sites. */
  static readonly layer = (config: PairEncoderConfig): Layer.Layer<PairEncoder, InterventionError> =>
    Layer.effect(
      PairEncoder,
      Effect.map(makePairEncoder(config), (s) => PairEncoder.of(s))
    )
}
