/**
 * The paper's training-text recipe (2606.26474 §1.3, `run_cache.py` + `cache.py`):
 *
 * 1. web documents (FineWeb `sample-10BT` in the paper) with ≥ 3 stripped characters are split into
 *    ~40-word sentence chunks; the first `samplesPerDataset` chunks are kept;
 * 2. ToolRL rows are formatted `instruction\n\ninput\n\noutput`, chunked the same way, and the rows
 *    are cycled until `samplesPerDataset` chunks exist;
 * 3. chunks shorter than 30 stripped characters are dropped (`cache.py: min_text_len=30`; this is
 *    applied *after* taking the samples, which is why the paper ends with 72,763 rows, not 80,000);
 * 4. the two datasets are mixed 50/50 in a seeded random order. (The reference caches the two
 *    datasets separately and concatenates them; shuffling happens when training reads them, so
 *    the order of the store does not change what the crosscoder sees.)
 */
import type { TextSourceShape } from "./TextSource.js"
import { chunkSentences, cycleSource, filterMinChars, mixSources, takeSamples, withDataset } from "./transforms.js"

export interface PaperRecipeOptions {
  /** Web text (any source; FineWeb in the paper). Its samples are retagged `webDataset`. */
  readonly web: TextSourceShape
  /** ToolRL rows, e.g. `toolrlSource({ path: ".../rlla_sft.json" })`. Retagged `toolDataset`. */
  readonly tool: TextSourceShape
  /** Chunks per dataset before the length filter (default 40,000). */
  readonly samplesPerDataset?: number
  readonly seed: number
  /** Default 40. */
  readonly targetWords?: number
  /** Default 30. */
  readonly minChunkChars?: number
  readonly webDataset?: string
  readonly toolDataset?: string
}

export const paperRecipe = (options: PaperRecipeOptions): TextSourceShape => {
  const n = options.samplesPerDataset ?? 40_000
  const chunk = { targetWords: options.targetWords ?? 40, minWords: 1, minDocChars: 3 }
  const minChars = options.minChunkChars ?? 30
  const web = filterMinChars(
    takeSamples(chunkSentences(withDataset(options.web, options.webDataset ?? "fineweb"), chunk), n),
    minChars
  )
  const tool = filterMinChars(
    takeSamples(chunkSentences(cycleSource(withDataset(options.tool, options.toolDataset ?? "toolrl")), chunk), n),
    minChars
  )
  // Each side is already limited to n samples: mix until both are exhausted (no cycling needed).
  return mixSources([web, tool], { seed: options.seed })
}
