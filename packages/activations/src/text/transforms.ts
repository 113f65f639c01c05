/**
 * Source transforms: the paper's sentence chunker, take / filter, cycling and seeded mixing.
 */
import { Rng } from "@crosscode/core"
import { Effect, Exit, Pull, Scope, Stream } from "effect"
import { TextSourceError } from "../errors.js"
import { makeTextSource, type TextSample, type TextSourceShape } from "./TextSource.js"

export interface ChunkOptions {
  /** Word budget per chunk (default 40 = int(30 / 0.75), the reference's `target_tokens=30`). */
  readonly targetWords?: number
  /** Chunks with fewer words are dropped (default 1 = int(1 / 0.75)). */
  readonly minWords?: number
}

const SENTENCE_END = /(?<=[.!?])\s+/
const countWords = (s: string): number => {
  const t = s.trim()
  return t === "" ? 0 : t.split(/\s+/).length
}

/**
 * Port of the reference `chunk_text()` (run_cache.py): split the stripped text after `.`, `!` or
 * `?` followed by whitespace, then accumulate sentences (joined with one space) until adding the
 * next sentence would exceed `targetWords` words. A single sentence longer than the budget stays
 * one chunk. If nothing survives, the original text is returned as the only chunk.
 */
export const chunkText = (text: string, options: ChunkOptions = {}): Array<string> => {
  const targetWords = options.targetWords ?? 40
  const minWords = options.minWords ?? 1
  const chunks: Array<string> = []
  let current: Array<string> = []
  let count = 0
  for (const raw of text.trim().split(SENTENCE_END)) {
    const sentence = raw.trim()
    if (sentence === "") continue
    const words = countWords(sentence)
    if (count > 0 && count + words > targetWords) {
      if (count >= minWords) chunks.push(current.join(" "))
      current = [sentence]
      count = words
    } else {
      current.push(sentence)
      count += words
    }
  }
  if (current.length > 0 && count >= minWords) chunks.push(current.join(" "))
  return chunks.length > 0 ? chunks : [text]
}

export interface ChunkSourceOptions extends ChunkOptions {
  /** Documents whose stripped text is shorter are skipped before chunking (default 3, as the reference). */
  readonly minDocChars?: number
}

/** Each document becomes its sentence chunks; chunk k of sample `id` gets id `${id}#${k}`. */
export const chunkSentences = (source: TextSourceShape, options: ChunkSourceOptions = {}): TextSourceShape => {
  const minDocChars = options.minDocChars ?? 3
  const targetWords = options.targetWords ?? 40
  return makeTextSource(
    `chunk(${source.name},words=${targetWords},minWords=${options.minWords ?? 1},minDocChars=${minDocChars})`,
    source.stream.pipe(
      Stream.filter((s) => s.text.trim().length >= minDocChars),
      Stream.flatMap((s) =>
        Stream.fromIterable(
          chunkText(s.text, options).map((text, k): TextSample => ({ text, dataset: s.dataset, id: `${s.id}#${k}` }))
        )
      )
    )
  )
}

/** The first `n` samples. */
export const takeSamples = (source: TextSourceShape, n: number): TextSourceShape =>
  makeTextSource(`take(${source.name},${n})`, source.stream.pipe(Stream.take(n)))

/** Drops samples whose stripped text is shorter than `minChars` (the reference cache's `min_text_len=30`). */
export const filterMinChars = (source: TextSourceShape, minChars: number): TextSourceShape =>
  makeTextSource(
    `minChars(${source.name},${minChars})`,
    source.stream.pipe(Stream.filter((s) => s.text.trim().length >= minChars))
  )

/** Retags every sample with `dataset`. */
export const withDataset = (source: TextSourceShape, dataset: string): TextSourceShape =>
  makeTextSource(`dataset(${source.name},${dataset})`, source.stream.pipe(Stream.map((s) => ({ ...s, dataset }))))

/**
 * Pulls samples from a re-runnable stream, restarting it when it ends (cycling). A pass that yields
 * nothing fails instead of spinning forever.
 */
const makeCursor = (source: TextSourceShape, scope: Scope.Scope) => {
  let pull: Pull.Pull<ReadonlyArray<TextSample>, TextSourceError> | undefined
  let child: Scope.Closeable | undefined
  let buf: ReadonlyArray<TextSample> = []
  let pos = 0
  let inPass = 0
  let passes = 0
  const closeChild = Effect.suspend(() => {
    const c = child
    child = undefined
    pull = undefined
    return c === undefined ? Effect.void : Scope.close(c, Exit.void)
  })
  /** The next sample; `undefined` at the end of a pass when `cycle` is false. */
  const next = (cycle: boolean): Effect.Effect<TextSample | undefined, TextSourceError> =>
    Effect.gen(function* () {
      for (;;) {
        if (pos < buf.length) {
          inPass++
          return buf[pos++] as TextSample
        }
        if (pull === undefined) {
          child = yield* Scope.fork(scope)
          pull = yield* Stream.toPull(source.stream).pipe(Scope.provide(child))
        }
        const chunk = yield* pull.pipe(Pull.catchDone(() => Effect.succeed(undefined)))
        if (chunk === undefined) {
          yield* closeChild
          passes++
          if (inPass === 0 && cycle) {
            return yield* new TextSourceError({
              source: source.name,
              message: "source yielded no samples; cannot cycle it"
            })
          }
          inPass = 0
          buf = []
          pos = 0
          if (!cycle) return undefined
          continue
        }
        buf = chunk
        pos = 0
      }
    })
  return { next, passes: () => passes }
}

/** Repeats the source forever (fails if a pass yields no samples). */
export const cycleSource = (source: TextSourceShape): TextSourceShape =>
  makeTextSource(
    `cycle(${source.name})`,
    Stream.unwrap(
      Effect.gen(function* () {
        const cursor = makeCursor(source, yield* Effect.scope)
        return Stream.unfold(undefined, () =>
          Effect.map(cursor.next(true), (s) => (s === undefined ? undefined : ([s, undefined] as const)))
        )
      })
    )
  )

export interface MixOptions {
  readonly seed: number
  /**
   * Take exactly this many samples from each source, cycling sources that run out (the paper:
   * 40,000 FineWeb chunks and 40,000 ToolRL chunks, the 4k ToolRL rows cycled).
   */
  readonly samplesPerSource?: number
  /**
   * Without `samplesPerSource`: `false` (default) reads every source exactly once (a source that
   * ends leaves the draw; the mix ends when all have ended); `true` cycles sources that end until
   * every source has been read through at least once.
   */
  readonly cycle?: boolean
  /** Relative draw weights (default equal); only used without `samplesPerSource`. */
  readonly weights?: ReadonlyArray<number>
}

/**
 * Interleaves sources in a seeded random order. With `samplesPerSource` every source contributes
 * exactly that many samples and the order is a uniformly random interleaving (at each step a
 * source is drawn with probability proportional to what it still owes); otherwise each step draws a
 * source by weight. The order depends only on `seed` and the options.
 */
export const mixSources = (sources: ReadonlyArray<TextSourceShape>, options: MixOptions): TextSourceShape => {
  const n = sources.length
  const weights = options.weights ?? sources.map(() => 1)
  const name = `mix([${sources.map((s) => s.name).join(", ")}],seed=${options.seed}${
    options.samplesPerSource !== undefined
      ? `,perSource=${options.samplesPerSource}`
      : `,weights=${weights.join("/")},cycle=${options.cycle ?? false}`
  })`
  if (n === 0) return makeTextSource(name, Stream.empty)
  const bad = weights.length !== n || weights.some((w) => !(w > 0) || !Number.isFinite(w))
  if (bad) {
    return makeTextSource(
      name,
      Stream.fail(
        new TextSourceError({
          source: name,
          message: `weights must be ${n} positive numbers, got [${weights.join(", ")}]`
        })
      )
    )
  }
  return makeTextSource(
    name,
    Stream.unwrap(
      Effect.gen(function* () {
        const scope = yield* Effect.scope
        const cursors = sources.map((s) => makeCursor(s, scope))
        const rng = Rng.seeded(options.seed, 0x6d6978)
        const per = options.samplesPerSource
        if (per !== undefined) {
          const owed = sources.map(() => per)
          let remaining = per * n
          return Stream.unfold(undefined, () =>
            Effect.gen(function* () {
              if (remaining <= 0) return undefined
              let r = rng.int(remaining)
              let i = 0
              while (r >= (owed[i] as number)) r -= owed[i++] as number
              owed[i] = (owed[i] as number) - 1
              remaining--
              const s = yield* (cursors[i] as (typeof cursors)[number]).next(true)
              return [s as TextSample, undefined] as const
            })
          )
        }
        const live = sources.map(() => true)
        const cycle = options.cycle ?? false
        return Stream.unfold(undefined, () =>
          Effect.gen(function* () {
            for (;;) {
              let total = 0
              for (let j = 0; j < n; j++) if (live[j]) total += weights[j] as number
              if (total <= 0) return undefined
              let r = rng.uniform() * total
              let i = -1
              for (let j = 0; j < n; j++) {
                if (!live[j]) continue
                i = j
                if (r < (weights[j] as number)) break
                r -= weights[j] as number
              }
              const c = cursors[i] as (typeof cursors)[number]
              // Without cycling a source leaves when it ends; with cycling, the last source that has
              // not finished a pass ends the mix when it finishes one.
              const last = cycle && c.passes() === 0 && cursors.every((cc, j) => j === i || cc.passes() > 0)
              const s = yield* c.next(cycle && !last)
              if (s !== undefined) return [s, undefined] as const
              if (last) return undefined
              live[i] = false
            }
          })
        )
      })
    )
  )
}
