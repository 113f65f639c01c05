/** Helpers shared by the model-running stages. */
import { closeSync, existsSync, fstatSync, openSync, readSync } from "node:fs"
import type { HookRequest, Intervention } from "@crosscode/core"
import type { GenerationSettings, MetricSummary, PairedComparison, RunSummary } from "@crosscode/eval"
import { comparePaired, type EvalRecord, summarizeRun } from "@crosscode/eval"
import { Effect, type Scope } from "effect"
import { FORMAT_METRIC, SCORE_METRIC, TOOL_METRIC } from "../sources.js"

/** An intervention that also calls `tick` for every prompt it is asked about (records unchanged). */
export const ticking = <E, R, Req extends HookRequest>(
  iv: Intervention<E, R, Req>,
  tick: () => void
): Intervention<E, R, Req> => ({
  ...iv,
  hooks: (req) => Effect.flatMap(Effect.sync(tick), () => iv.hooks(req))
})

/** Number of complete lines in a file (0 when missing). */
export const countLines = (file: string): number => {
  if (!existsSync(file)) return 0
  const fd = openSync(file, "r")
  try {
    const size = fstatSync(fd).size
    const buf = Buffer.alloc(1 << 16)
    let n = 0
    for (let off = 0; off < size; ) {
      const got = readSync(fd, buf, 0, buf.length, off)
      if (got <= 0) break
      for (let i = 0; i < got; i++) if (buf[i] === 10) n++
      off += got
    }
    return n
  } finally {
    closeSync(fd)
  }
}

/** Calls `onLines(lines)` every `ms` while the scope is open (follows an append-only JSONL file). */
export const watchLines = (
  file: string,
  onLines: (n: number) => void,
  ms = 500
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      let offset = 0
      let lines = 0
      const poll = () => {
        if (!existsSync(file)) return
        const fd = openSync(file, "r")
        try {
          const size = fstatSync(fd).size
          if (size < offset) {
            offset = 0
            lines = 0
          }
          const buf = Buffer.alloc(1 << 16)
          while (offset < size) {
            const got = readSync(fd, buf, 0, Math.min(buf.length, size - offset), offset)
            if (got <= 0) break
            for (let i = 0; i < got; i++) if (buf[i] === 10) lines++
            offset += got
          }
        } finally {
          closeSync(fd)
        }
        onLines(lines)
      }
      return setInterval(poll, ms)
    }),
    (h) => Effect.sync(() => clearInterval(h))
  ).pipe(Effect.asVoid)

export interface Rate {
  readonly n: number
  readonly k: number
  readonly pct: number
  readonly lo: number
  readonly hi: number
}

export interface ConditionStats {
  readonly run: string
  readonly n: number
  /** Tool correctness (paper rubric), % with Wilson 95% CI. */
  readonly tool: Rate
  readonly format: Rate
  /** Overall score (−1…+2), mean ± SD. */
  readonly score: { readonly mean: number; readonly sd: number }
}

export interface DeltaStats {
  readonly n: number
  readonly clean: number
  readonly treated: number
  /** Percentage points. */
  readonly delta: number
  /** Paired-t 95% CI of Δ (pp). */
  readonly ci?: { readonly lo: number; readonly hi: number; readonly p: number }
  readonly mcnemar?: { readonly rescued: number; readonly broken: number; readonly p: number }
  readonly formatDelta: number
  readonly scoreDelta: number
}

const rate = (m: MetricSummary | undefined, n: number): Rate =>
  m !== undefined && m.kind === "binary"
    ? { n: m.n, k: m.k, pct: m.pct, lo: m.lo, hi: m.hi }
    : { n, k: 0, pct: 0, lo: 0, hi: 0 }

export const conditionStats = (records: ReadonlyArray<EvalRecord>): ConditionStats => {
  const s: RunSummary = summarizeRun(records, false)
  const all = s.groups[0]
  const get = (name: string) => all?.metrics.find((m) => m.metric === name)
  const score = get(SCORE_METRIC)
  return {
    run: s.run,
    n: s.n,
    tool: rate(get(TOOL_METRIC), s.n),
    format: rate(get(FORMAT_METRIC), s.n),
    score: score !== undefined && score.kind === "score" ? { mean: score.mean, sd: score.sd } : { mean: 0, sd: 0 }
  }
}

const delta = (c: PairedComparison | undefined) => c?.delta ?? 0

export const deltaStats = (clean: ReadonlyArray<EvalRecord>, treated: ReadonlyArray<EvalRecord>): DeltaStats => {
  const t = comparePaired(clean, treated, TOOL_METRIC)
  return {
    n: t?.n ?? 0,
    clean: t?.baseline ?? 0,
    treated: t?.treatment ?? 0,
    delta: delta(t),
    ...(t?.pairedT !== undefined ? { ci: { lo: t.pairedT.lo, hi: t.pairedT.hi, p: t.pairedT.p } } : {}),
    ...(t?.mcnemar !== undefined ? { mcnemar: t.mcnemar } : {}),
    formatDelta: delta(comparePaired(clean, treated, FORMAT_METRIC)),
    scoreDelta: delta(comparePaired(clean, treated, SCORE_METRIC))
  }
}

export const generationSettings = (o: {
  readonly maxNewTokens?: number | undefined
  readonly maxPromptTokens?: number | undefined
  readonly batchSize?: number | undefined
}): Partial<GenerationSettings> => ({
  ...(o.maxNewTokens !== undefined ? { maxNewTokens: o.maxNewTokens } : {}),
  ...(o.maxPromptTokens !== undefined ? { maxPromptTokens: o.maxPromptTokens } : {}),
  ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {})
})
