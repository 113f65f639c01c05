/**
 * Harvesting from model directories: each model is loaded *partially* — the embeddings and the
 * decoder blocks up to the deepest hook site (`loadModel(dir, { maxLayer })`), no final norm, no
 * LM head, compact embeddings — so two Qwen2.5-3B models harvested at layer 13 hold about 2 × 5 GB
 * of float32 weights instead of 2 × 12.3 GB (see docs/performance.md#memory).
 */

import {
  type HookSite,
  type LoadModelOptions,
  loadModel,
  type ModelLoadError,
  siteKey,
  type TensorBackend,
  type UnsupportedConfigError
} from "@crosscode/core"
import { Effect, type FileSystem, type Path, type Scope } from "effect"
import type { ActivationStoreError } from "../ActivationSource.js"
import { HarvestError, type TextSourceError } from "../errors.js"
import { type HarvestModel, type HarvestOptions, type HarvestResult, harvest } from "./harvest.js"

export interface HarvestModelDir {
  /** Short label stored in the manifest, e.g. "A" (RL) and "B" (base). Unique. */
  readonly label: string
  /** A Hugging Face model directory (config.json, generation_config.json, safetensors). */
  readonly dir: string
  /**
   * `loadModel` options, on top of the harvesting defaults: `maxLayer` = the deepest site's layer,
   * `logits: false`, `embeddings: "compact"`. These win, e.g. `{ linearLayout: "outIn" }` or
   * `{ name: "rl" }`; a `maxLayer` below the deepest site fails the harvest naming it.
   */
  readonly load?: LoadModelOptions
}

/**
 * The deepest decoder block a harvest at `sites` runs: `harvest` stops every forward pass at the
 * largest site layer, so blocks `0..harvestMaxLayer(sites)` must be loaded.
 */
export const harvestMaxLayer = (sites: ReadonlyArray<HookSite>): number => Math.max(...sites.map((s) => s.layer))

/** The `loadModel` options `loadHarvestModels` uses for `sites` (before a model's own `load` overrides). */
export const harvestLoadOptions = (sites: ReadonlyArray<HookSite>): LoadModelOptions => ({
  maxLayer: harvestMaxLayer(sites),
  logits: false,
  embeddings: "compact"
})

/**
 * Loads each directory for harvesting at `sites` (one after another; see `harvestLoadOptions`).
 * The weights are freed when the scope closes.
 */
export const loadHarvestModels = (
  models: ReadonlyArray<HarvestModelDir>,
  sites: ReadonlyArray<HookSite>
): Effect.Effect<
  ReadonlyArray<HarvestModel>,
  HarvestError | ModelLoadError | UnsupportedConfigError,
  TensorBackend | Scope.Scope | FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function* () {
    if (sites.length === 0) return yield* new HarvestError({ message: "no hook sites given" })
    for (const s of sites) {
      if (!Number.isInteger(s.layer) || s.layer < 0) {
        return yield* new HarvestError({ message: `site ${siteKey(s)} has no valid layer` })
      }
    }
    const defaults = harvestLoadOptions(sites)
    const out: Array<HarvestModel> = []
    for (const m of models) {
      out.push({ label: m.label, model: yield* loadModel(m.dir, { ...defaults, ...m.load }) })
    }
    return out
  })

export type HarvestFromDirsOptions = Omit<HarvestOptions, "models"> & {
  readonly models: ReadonlyArray<HarvestModelDir>
}

/**
 * `harvest` with the models given as directories: they are loaded partially for the sites
 * (`loadHarvestModels`), harvested, and freed when the harvest ends (also on failure).
 */
export const harvestFromDirs = (
  options: HarvestFromDirsOptions
): Effect.Effect<
  HarvestResult,
  HarvestError | ActivationStoreError | TextSourceError | ModelLoadError | UnsupportedConfigError,
  TensorBackend | FileSystem.FileSystem | Path.Path
> =>
  Effect.scoped(
    Effect.gen(function* () {
      const models = yield* loadHarvestModels(options.models, options.sites)
      return yield* harvest({ ...options, models })
    })
  )
