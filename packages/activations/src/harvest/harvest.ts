/**
 * Paired activation harvesting: M models (one tokenizer, so identical token ids) × S hook sites,
 * one row `[M·S, hidden]` per selected token position, written to a sharded, resumable store.
 *
 * Per batch of texts the models run one after another (only one model's activations for the batch
 * are alive at a time besides the captured rows), each with `stopAtLayer` = the deepest site, and
 * hooks copy out only the selected positions. Sources are ordered model-major: source `m·S + s` is
 * model `m` at site `s`.
 */

import {
  captureHook,
  type Hook,
  type HookSite,
  type LanguageModelShape,
  type Padding,
  Positions,
  Progress,
  siteKey,
  type TokenizerShape
} from "@crosscode/core"
import { Effect, Stream } from "effect"
import type { ActivationStoreError } from "../ActivationSource.js"
import { HarvestError, type TextSourceError } from "../errors.js"
import type { ModelRecord } from "../store/format.js"
import { type ResumeInfo, type StoreText, StoreWriter, type TextRecord } from "../store/writer.js"
import type { TextSample, TextSourceShape } from "../text/TextSource.js"
import type { StoreDtype } from "../util/dtype.js"
import { candidatePositions, median, type NormOutlierFilter, Policy, type PositionPolicy } from "./policy.js"

export interface HarvestModel {
  /** Short label stored in the manifest, e.g. "A" (RL) and "B" (base). Unique. */
  readonly label: string
  /**
   * A loaded model. A partially loaded one (`loadModel(dir, { maxLayer })`, blocks up to the
   * deepest site only) is enough and saves memory; `harvestFromDirs` loads them that way.
   */
  readonly model: LanguageModelShape
}

export interface HarvestProgress {
  /** Rows in the store (including rows from earlier runs). */
  readonly rows: number
  readonly rowsThisRun: number
  /** Texts processed in this run. */
  readonly textsThisRun: number
  readonly shards: number
  readonly elapsedSeconds: number
  /** Rows per second in this run. */
  readonly rowsPerSecond: number
  /** Seconds left to `maxRows` at the current rate (undefined without `maxRows`). */
  readonly etaSeconds: number | undefined
}

export interface HarvestOptions {
  readonly models: ReadonlyArray<HarvestModel>
  /** Needed unless every sample carries `tokenIds`. */
  readonly tokenizer?: TokenizerShape
  readonly sites: ReadonlyArray<HookSite>
  readonly source: TextSourceShape
  /** Default `Policy.lastToken` (the paper). */
  readonly policy?: PositionPolicy
  readonly store: {
    readonly dir: string
    /** Storage dtype (default "f32"; the paper stored fp16). Values that overflow it fail the harvest. */
    readonly dtype?: StoreDtype
    /** Rows per shard (default 2048, as the paper). */
    readonly shardRows?: number
    /** What to keep per text in the sidecar (default "both"). */
    readonly storeText?: StoreText
  }
  /** Texts per forward pass (default 8, as the paper). */
  readonly batchSize?: number
  /** Stop once the store holds this many rows (a later call with a larger value continues). */
  readonly maxRows?: number
  /** Keep the first `maxLength` tokens of each text (default 512, as the paper; `null`: no limit). */
  readonly maxLength?: number | null
  /** How the models pad a batch (default "right"); the selected positions are the same either way. */
  readonly padding?: Padding
  /** Passed to the tokenizer (default true, like Hugging Face). */
  readonly addSpecialTokens?: boolean
  /**
   * Progress goes to core's `Progress` service in context (a bar of rows, updated every batch) and,
   * every `intervalMs`, to the log and `onProgress`.
   */
  readonly progress?: {
    /** Label of the `Progress` bar (default "harvest"). */
    readonly label?: string
    /** Rows the bar counts to (default `maxRows`, else unknown: the bar's total follows the rows). */
    readonly expectedRows?: number
    /** Minimum time between progress reports to the log and `onProgress` (default 10 s). */
    readonly intervalMs?: number
    /** Log progress with `Effect.logInfo` (default true). */
    readonly log?: boolean
    readonly onProgress?: (p: HarvestProgress) => void
  }
}

export interface HarvestResult {
  readonly dir: string
  readonly rows: number
  readonly rowsThisRun: number
  readonly textsThisRun: number
  readonly shards: number
  /** Present when an existing store was continued. */
  readonly resumed: ResumeInfo | undefined
  readonly complete: boolean
  readonly stopReason: "maxRows" | "sourceExhausted" | null
  readonly seconds: number
  readonly rowsPerSecond: number
}

/** Policy with every default filled in (what the manifest records and resume compares). */
export const normalizePolicy = (p: PositionPolicy): PositionPolicy => {
  if (p._tag === "LastToken") return { _tag: "LastToken" }
  const out: {
    _tag: "AllTokens"
    skipFirst: number
    skipSpecialTokens: boolean
    skipTokenIds: ReadonlyArray<number>
    normOutlier?: NormOutlierFilter
  } = {
    _tag: "AllTokens",
    skipFirst: p.skipFirst ?? 0,
    skipSpecialTokens: p.skipSpecialTokens ?? true,
    skipTokenIds: [...(p.skipTokenIds ?? [])].sort((a, b) => a - b)
  }
  if (p.normOutlier !== undefined)
    out.normOutlier = { multiple: p.normOutlier.multiple, median: p.normOutlier.median ?? "batch" }
  return out
}

interface Sink {
  data: Float32Array | undefined
  hidden: number
  calls: number
  error: string | undefined
}

/**
 * Core's `captureHook` (prefill only) over the real positions `want[b]` of each row b (indices
 * among the row's real tokens). Real positions are read from the attention mask, so the result
 * does not depend on the padding side: the k-th real token of a row is the k-th position whose
 * mask is 1. `want[b]` is ascending, so the capture's row-major order is the order of `want`.
 */
const wantedPositionsHook = (
  site: HookSite,
  want: ReadonlyArray<ReadonlyArray<number>>,
  lengths: ReadonlyArray<number>,
  sink: Sink
): Hook => {
  const select = Positions.mask((ctx) => {
    sink.calls++
    const B = ctx.batchSize
    const T = ctx.seqLen
    const mask = new Uint8Array(B * T)
    if (B !== want.length) {
      sink.error = `hook saw a batch of ${B} rows, expected ${want.length}`
      return mask
    }
    for (let b = 0; b < B; b++) {
      const real: Array<number> = []
      for (let t = 0; t < T; t++) if (ctx.attentionMask[b * T + t] !== 0) real.push(t)
      if (real.length !== lengths[b]) {
        sink.error = `row ${b} has ${real.length} real positions in the attention mask, expected ${lengths[b]} tokens`
        return mask.fill(0)
      }
      for (const k of want[b] as ReadonlyArray<number>) mask[b * T + (real[k] as number)] = 1
    }
    return mask
  })
  return captureHook(
    site,
    select,
    (c) => {
      sink.data = c.values
      sink.hidden = c.hidden
    },
    "prefill"
  )
}

interface PendingBatch {
  readonly count: number
  readonly data: Float32Array
  readonly norms: Float32Array // [count * numSources]
  readonly textIndex: Int32Array
  readonly position: Int32Array
  readonly datasetIds: Int32Array
  readonly texts: Map<number, TextRecord>
  readonly ids: Map<number, string>
}

/**
 * The rows of `b` not yet in the store: a resumed run recomputes the whole batch the interrupted run
 * was in (same texts, same padding, same norm medians, so bit-identical rows) and keeps only the
 * rows after the cursor. Rows are ordered by text then position, so the kept rows are a suffix.
 */
const rowsAfterCursor = (
  b: PendingBatch,
  cursor: { readonly text: number; readonly afterPosition: number },
  numSources: number
): PendingBatch => {
  let k = 0
  while (
    k < b.count &&
    ((b.textIndex[k] as number) < cursor.text ||
      ((b.textIndex[k] as number) === cursor.text && (b.position[k] as number) <= cursor.afterPosition))
  )
    k++
  if (k === 0) return b
  const width = b.data.length / Math.max(1, b.count)
  const texts = new Map([...b.texts].filter(([t]) => t >= cursor.text))
  const ids = new Map([...b.ids].filter(([t]) => t >= cursor.text))
  return {
    count: b.count - k,
    data: b.data.subarray(k * width),
    norms: b.norms.subarray(k * numSources),
    textIndex: b.textIndex.subarray(k),
    position: b.position.subarray(k),
    datasetIds: b.datasetIds.subarray(k),
    texts,
    ids
  }
}

const fmtDuration = (s: number): string => {
  if (!Number.isFinite(s)) return "?"
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = Math.round(s % 60)
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`
}

export const harvest = (
  options: HarvestOptions
): Effect.Effect<HarvestResult, HarvestError | ActivationStoreError | TextSourceError> =>
  Effect.gen(function* () {
    const fail = (message: string) => Effect.fail(new HarvestError({ message }))
    const { models, sites } = options
    const policy = normalizePolicy(options.policy ?? Policy.lastToken)
    const batchSize = options.batchSize ?? 8
    const maxLength = options.maxLength === undefined ? 512 : options.maxLength
    const padding = options.padding ?? "right"
    const addSpecialTokens = options.addSpecialTokens ?? true
    const maxRows = options.maxRows
    const storeText = options.store.storeText ?? "both"

    // ---- validation
    if (models.length === 0) return yield* fail("no models given")
    const labels = new Set(models.map((m) => m.label))
    if (labels.size !== models.length)
      return yield* fail(`model labels must be unique, got [${models.map((m) => m.label).join(", ")}]`)
    if (sites.length === 0) return yield* fail("no hook sites given")
    const keys = sites.map(siteKey)
    if (new Set(keys).size !== keys.length) return yield* fail(`hook sites must be unique, got [${keys.join(", ")}]`)
    const dim = (models[0] as HarvestModel).model.info.hiddenSize
    for (const m of models) {
      if (m.model.info.hiddenSize !== dim) {
        return yield* fail(
          `models disagree on hidden size: ${models.map((x) => `${x.label}=${x.model.info.hiddenSize}`).join(", ")}; every site must have one width`
        )
      }
      const maxLayer = m.model.info.maxLayer
      for (const s of sites) {
        if (!Number.isInteger(s.layer) || s.layer < 0 || s.layer >= m.model.info.numLayers) {
          return yield* fail(`site ${siteKey(s)} is outside model ${m.label} (${m.model.info.numLayers} layers)`)
        }
        if (maxLayer !== undefined && s.layer > maxLayer) {
          return yield* fail(
            `site ${siteKey(s)} is past model ${m.label}'s maxLayer ${maxLayer} (loaded with blocks 0..${maxLayer} only); load it with maxLayer ≥ ${s.layer}`
          )
        }
      }
    }
    if (!Number.isInteger(batchSize) || batchSize < 1)
      return yield* fail(`batchSize must be a positive integer, got ${batchSize}`)
    if (maxLength !== null && (!Number.isInteger(maxLength) || maxLength < 1))
      return yield* fail(`maxLength must be a positive integer or null, got ${maxLength}`)
    if (maxRows !== undefined && (!Number.isInteger(maxRows) || maxRows < 0))
      return yield* fail(`maxRows must be a non-negative integer, got ${maxRows}`)
    if (policy._tag === "AllTokens" && policy.normOutlier !== undefined) {
      const no = policy.normOutlier
      if (!(no.multiple > 0)) return yield* fail(`normOutlier.multiple must be > 0, got ${no.multiple}`)
      const med = no.median
      if (typeof med === "object" && "fixed" in med && med.fixed.length !== models.length * sites.length) {
        return yield* fail(
          `normOutlier.median.fixed needs ${models.length * sites.length} values (one per model × site), got ${med.fixed.length}`
        )
      }
      if (
        typeof med === "object" &&
        "warmupBatches" in med &&
        !(Number.isInteger(med.warmupBatches) && med.warmupBatches >= 1)
      ) {
        return yield* fail(`normOutlier.median.warmupBatches must be a positive integer, got ${med.warmupBatches}`)
      }
    }
    const numSites = sites.length
    const S = models.length * numSites
    const width = S * dim
    const stopAtLayer = Math.max(...sites.map((s) => s.layer))

    const modelRecords: Array<ModelRecord> = models.map((m) => ({
      label: m.label,
      name: m.model.info.name,
      family: m.model.info.family,
      hiddenSize: m.model.info.hiddenSize,
      numLayers: m.model.info.numLayers,
      ...(m.model.info.path !== undefined ? { path: m.model.info.path } : {})
    }))
    const writer = yield* StoreWriter.open({
      dir: options.store.dir,
      dtype: options.store.dtype ?? "f32",
      shardRows: options.store.shardRows ?? 2048,
      models: modelRecords,
      sites: keys,
      dim,
      policy,
      padding,
      maxLength,
      addSpecialTokens,
      storeText,
      textSource: options.source.name
    })
    const started = performance.now()
    const rowsAtStart = writer.rows
    let textsThisRun = 0
    const result = (): HarvestResult => {
      const seconds = (performance.now() - started) / 1000
      const m = writer.current
      return {
        dir: options.store.dir,
        rows: m.rows,
        rowsThisRun: m.rows - rowsAtStart,
        textsThisRun,
        shards: m.shards.length,
        resumed: writer.resumed,
        complete: m.complete,
        stopReason: m.stopReason,
        seconds,
        rowsPerSecond: seconds > 0 ? (m.rows - rowsAtStart) / seconds : 0
      }
    }
    if (writer.current.complete && writer.current.stopReason === "sourceExhausted") return result()
    if (maxRows !== undefined && writer.rows >= maxRows) {
      yield* writer.finish("maxRows")
      return result()
    }
    yield* writer.markInProgress()
    if (writer.resumed !== undefined && writer.resumed.rows > 0) {
      yield* Effect.logInfo(
        `harvest ${options.store.dir}: resuming after ${writer.resumed.rows} rows (${writer.resumed.shards} shards) at text ${writer.cursor.text}${
          writer.resumed.dropped.length > 0
            ? `; rewriting shards ${writer.resumed.dropped.map((d) => d.index).join(", ")}`
            : ""
        }`
      )
    }

    const cursor = writer.cursor
    const skipIds = new Set<number>()
    if (policy._tag === "AllTokens") {
      if (policy.skipSpecialTokens !== false && options.tokenizer !== undefined) {
        for (const id of options.tokenizer.specialTokenIds) skipIds.add(id)
        if (options.tokenizer.bosTokenId !== undefined) skipIds.add(options.tokenizer.bosTokenId)
      }
      for (const id of policy.skipTokenIds ?? []) skipIds.add(id)
    }
    const normOutlier = policy._tag === "AllTokens" ? policy.normOutlier : undefined
    let medians: ReadonlyArray<number> | null =
      normOutlier === undefined
        ? null
        : typeof normOutlier.median === "object" && "fixed" in normOutlier.median
          ? normOutlier.median.fixed
          : writer.medianNorms
    const warmupBatches =
      normOutlier !== undefined && typeof normOutlier.median === "object" && "warmupBatches" in normOutlier.median
        ? normOutlier.median.warmupBatches
        : 0
    const pending: Array<PendingBatch> = []

    // ---- progress
    const intervalMs = options.progress?.intervalMs ?? 10_000
    const logProgress = options.progress?.log ?? true
    const barTotal = () => options.progress?.expectedRows ?? maxRows ?? writer.rows
    const bar = (yield* Progress).start(options.progress?.label ?? "harvest", barTotal(), "rows", writer.rows)
    let lastReport = started
    const report = (force: boolean) =>
      Effect.suspend(() => {
        if (options.progress?.expectedRows === undefined && maxRows === undefined) bar.setTotal(writer.rows)
        bar.update(writer.rows)
        const t = performance.now()
        if (!force && t - lastReport < intervalMs) return Effect.void
        lastReport = t
        const elapsed = (t - started) / 1000
        const rowsThisRun = writer.rows - rowsAtStart
        const rate = elapsed > 0 ? rowsThisRun / elapsed : 0
        const eta = maxRows !== undefined && rate > 0 ? Math.max(0, maxRows - writer.rows) / rate : undefined
        const p: HarvestProgress = {
          rows: writer.rows,
          rowsThisRun,
          textsThisRun,
          shards: writer.current.shards.length,
          elapsedSeconds: elapsed,
          rowsPerSecond: rate,
          etaSeconds: eta
        }
        options.progress?.onProgress?.(p)
        if (!logProgress) return Effect.void
        return Effect.logInfo(
          `harvest ${options.store.dir}: ${p.rows}${maxRows !== undefined ? `/${maxRows}` : ""} rows, ${textsThisRun} texts, ${rate.toFixed(1)} rows/s${
            eta !== undefined ? `, ETA ${fmtDuration(eta)}` : ""
          }`
        )
      })

    // ---- rows of a batch → store
    let stopped = false
    const appendFiltered = (b: PendingBatch) =>
      Effect.gen(function* () {
        let keep: Array<number> | undefined
        if (normOutlier !== undefined) {
          const med = medians
          if (med === null) return yield* fail("internal error: norm medians unknown")
          keep = []
          for (let r = 0; r < b.count; r++) {
            let ok = true
            for (let s = 0; s < S && ok; s++)
              ok = (b.norms[r * S + s] as number) <= normOutlier.multiple * (med[s] as number)
            if (ok) keep.push(r)
          }
        }
        let count = keep === undefined ? b.count : keep.length
        if (maxRows !== undefined) count = Math.min(count, Math.max(0, maxRows - writer.rows))
        if (count === 0) {
          if (maxRows !== undefined && writer.rows >= maxRows) stopped = true
          return
        }
        const sel = keep === undefined ? undefined : keep.slice(0, count)
        const pick = (r: number) => (sel === undefined ? r : (sel[r] as number))
        const data = sel === undefined && count === b.count ? b.data : new Float32Array(count * width)
        const textIndex = new Int32Array(count)
        const position = new Int32Array(count)
        const datasetIds = new Int32Array(count)
        for (let r = 0; r < count; r++) {
          const src = pick(r)
          if (data !== b.data) data.set(b.data.subarray(src * width, (src + 1) * width), r * width)
          textIndex[r] = b.textIndex[src] as number
          position[r] = b.position[src] as number
          datasetIds[r] = b.datasetIds[src] as number
        }
        yield* writer.append({
          count,
          data,
          textIndex,
          position,
          datasetIds,
          texts: b.texts,
          describe: (r) => `text ${b.ids.get(textIndex[r] as number)} (#${textIndex[r]}), token ${position[r]}`
        })
        if (maxRows !== undefined && writer.rows >= maxRows) stopped = true
      })

    const flushWarmup = Effect.gen(function* () {
      if (pending.length === 0) return
      if (medians === null) {
        const m: Array<number> = []
        for (let s = 0; s < S; s++) {
          const xs: Array<number> = []
          for (const b of pending) for (let r = 0; r < b.count; r++) xs.push(b.norms[r * S + s] as number)
          m.push(median(xs))
        }
        medians = m
        writer.setMedianNorms(m)
      }
      for (const b of pending.splice(0)) {
        if (stopped) break
        yield* appendFiltered(b)
      }
    })

    const runModel = (
      hm: HarvestModel,
      inputIds: ReadonlyArray<ReadonlyArray<number>>,
      want: ReadonlyArray<ReadonlyArray<number>>
    ) =>
      Effect.gen(function* () {
        const lengths = inputIds.map((x) => x.length)
        const sinks: Array<Sink> = sites.map(() => ({ data: undefined, hidden: 0, calls: 0, error: undefined }))
        const hooks = sites.map((site, i) => wantedPositionsHook(site, want, lengths, sinks[i] as Sink))
        yield* hm.model
          .forward({ inputIds, padding, stopAtLayer, logits: "none", hooks })
          .pipe(Effect.mapError((e) => new HarvestError({ message: `model ${hm.label}: ${e.message}` })))
        const expected = want.reduce((a, w) => a + w.length, 0)
        return yield* Effect.forEach(sinks, (s, i) => {
          const where = `model ${hm.label} at ${keys[i]}`
          if (s.error !== undefined) return fail(`${where}: ${s.error}`)
          if (s.calls === 0) return fail(`${where}: the hook never ran (stopAtLayer ${stopAtLayer})`)
          if (s.calls > 1) return fail(`${where}: the hook ran ${s.calls} times in one forward pass`)
          if (s.hidden !== dim)
            return fail(`${where}: activations are ${s.hidden} wide, the model reports hidden size ${dim}`)
          const d = s.data as Float32Array
          if (d.length !== expected * dim)
            return fail(`${where}: captured ${d.length / dim} positions, expected ${expected}`)
          return Effect.succeed(d)
        })
      })

    const processGroup = (group: ReadonlyArray<readonly [TextSample, number]>) =>
      Effect.gen(function* () {
        const inputIds: Array<ReadonlyArray<number>> = []
        const want: Array<Array<number>> = []
        const meta: Array<{ sample: TextSample; index: number; tokens: ReadonlyArray<number> }> = []
        for (const [sample, index] of group) {
          textsThisRun++
          let tokens: ReadonlyArray<number>
          if (sample.tokenIds !== undefined) tokens = sample.tokenIds
          else if (options.tokenizer !== undefined) tokens = options.tokenizer.encode(sample.text, { addSpecialTokens })
          else return yield* fail(`text ${sample.id} has no tokenIds and no tokenizer was given`)
          if (maxLength !== null && tokens.length > maxLength) tokens = tokens.slice(0, maxLength)
          const pos = candidatePositions(policy, tokens, skipIds)
          if (pos.length === 0) continue
          inputIds.push(tokens)
          want.push(pos)
          meta.push({ sample, index, tokens })
        }
        if (inputIds.length === 0) return
        const captured: Array<ReadonlyArray<Float32Array>> = []
        for (const hm of models) captured.push(yield* runModel(hm, inputIds, want))
        const count = want.reduce((a, w) => a + w.length, 0)
        const data = new Float32Array(count * width)
        const norms = new Float32Array(count * S)
        const textIndex = new Int32Array(count)
        const position = new Int32Array(count)
        const datasetIds = new Int32Array(count)
        const texts = new Map<number, TextRecord>()
        const ids = new Map<number, string>()
        let r = 0
        for (let b = 0; b < meta.length; b++) {
          const { sample, index, tokens } = meta[b] as (typeof meta)[number]
          const d = writer.datasetIndex(sample.dataset)
          ids.set(index, sample.id)
          texts.set(index, {
            t: index,
            id: sample.id,
            dataset: sample.dataset,
            ...(storeText === "text" || storeText === "both" ? { text: sample.text } : {}),
            ...(storeText === "tokens" || storeText === "both" ? { tokens: [...tokens] } : {})
          })
          for (const p of want[b] as Array<number>) {
            textIndex[r] = index
            position[r] = p
            datasetIds[r] = d
            r++
          }
        }
        for (let m = 0; m < models.length; m++) {
          for (let s = 0; s < numSites; s++) {
            const src = (captured[m] as ReadonlyArray<Float32Array>)[s] as Float32Array
            const si = m * numSites + s
            for (let row = 0; row < count; row++) {
              const v = src.subarray(row * dim, (row + 1) * dim)
              data.set(v, (row * S + si) * dim)
              if (normOutlier !== undefined) {
                let ss = 0
                for (let j = 0; j < dim; j++) ss += (v[j] as number) * (v[j] as number)
                norms[row * S + si] = Math.sqrt(ss)
              }
            }
          }
        }
        const whole: PendingBatch = { count, data, norms, textIndex, position, datasetIds, texts, ids }
        if (normOutlier !== undefined && normOutlier.median === "batch") {
          const m: Array<number> = []
          for (let s = 0; s < S; s++) {
            const xs = new Float64Array(count)
            for (let row = 0; row < count; row++) xs[row] = norms[row * S + s] as number
            m.push(median(xs))
          }
          medians = m
        }
        const batch = rowsAfterCursor(whole, cursor, S)
        if (batch.count === 0) return yield* report(false)
        if (normOutlier !== undefined && medians === null) {
          pending.push(batch)
          if (pending.length >= warmupBatches) yield* flushWarmup
        } else {
          yield* appendFiltered(batch)
        }
        yield* report(false)
      })

    yield* Effect.gen(function* () {
      yield* options.source.stream.pipe(
        Stream.zipWithIndex,
        // Batches are formed from absolute text positions ([k·B, (k+1)·B)): a resumed run starts at
        // the batch holding the cursor, so it pads and computes exactly as an uninterrupted run.
        Stream.drop(cursor.text - (cursor.text % batchSize)),
        Stream.takeWhile(() => !stopped),
        Stream.grouped(batchSize),
        Stream.runForEach(processGroup)
      )
      yield* flushWarmup
      yield* writer.finish(stopped ? "maxRows" : "sourceExhausted")
      bar.setTotal(writer.rows)
      yield* report(true)
    }).pipe(Effect.ensuring(Effect.sync(() => bar.finish())))
    return result()
  })
