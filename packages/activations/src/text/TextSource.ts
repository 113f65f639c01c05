/**
 * Text sources: where harvested text comes from. A source is a name plus an Effect `Stream` of
 * samples; anything that can produce such a stream is a source (see docs/extending-text-source.md).
 *
 * The stream must be **deterministic and re-runnable**: running it twice yields the same samples in
 * the same order. Resuming a harvest skips the samples already consumed by re-running the stream,
 * and `cycleSource` / `mixSources` re-run short sources.
 */
import type { Stream } from "effect"
import type { TextSourceError } from "../errors.js"

export interface TextSample {
  readonly text: string
  /** Dataset tag, e.g. "fineweb" or "toolrl" (per-dataset statistics key on it). */
  readonly dataset: string
  /** Stable id of the sample within its source, e.g. "rlla_sft.json:17#2". */
  readonly id: string
  /** Pre-tokenized input: when present the harvest uses these ids and does not tokenize `text`. */
  readonly tokenIds?: ReadonlyArray<number>
}

export interface TextSourceShape {
  /**
   * Describes the source and its settings (file, field, seed, ...). A store remembers it and a
   * resumed harvest refuses a source with a different name.
   */
  readonly name: string
  readonly stream: Stream.Stream<TextSample, TextSourceError>
}

export const makeTextSource = (name: string, stream: Stream.Stream<TextSample, TextSourceError>): TextSourceShape => ({
  name,
  stream
})
