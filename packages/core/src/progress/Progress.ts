/**
 * Progress of long jobs (harvest, training, evaluation, sweeps), as an Effect service.
 *
 * Library code reports here (`const progress = yield* Progress; const bar = progress.start(…)`)
 * and never draws anything itself; the program decides how to show it. `Progress` is a
 * `Context.Reference` whose default is silent, so a library call needs no layer for it; the
 * `crosscode` CLI provides a terminal renderer (bars on a TTY, plain lines otherwise) and tests
 * provide `Progress.layerCollect(events)` to assert on every update.
 */
import { Context, Layer } from "effect"

export interface BarUpdate {
  /** Free text shown after the numbers (e.g. "loss=0.031 L0=16.0"). */
  readonly detail?: string
}

export interface ProgressBar {
  /** Sets the completed amount (absolute, not an increment). */
  update(done: number, info?: BarUpdate): void
  /** Changes the total (e.g. once it is known). */
  setTotal(total: number): void
  /** Marks the bar complete (a renderer removes it, or prints a final line). */
  finish(info?: BarUpdate): void
}

export interface ProgressShape {
  /** Starts a bar; `initial` counts work already done (resumed) and is left out of rates. */
  start(label: string, total: number, unit: string, initial?: number): ProgressBar
  /** Writes a line without disturbing the bars. */
  log(line: string): void
}

export type ProgressEvent =
  | {
      readonly type: "start"
      readonly label: string
      readonly total: number
      readonly unit: string
      readonly initial: number
    }
  | {
      readonly type: "update"
      readonly label: string
      readonly done: number
      readonly total: number
      readonly detail?: string
    }
  | {
      readonly type: "finish"
      readonly label: string
      readonly done: number
      readonly total: number
      readonly detail?: string
    }
  | { readonly type: "log"; readonly line: string }

/** Shows nothing (the default). */
export const silentProgress: ProgressShape = {
  log: () => {},
  start: () => ({ update: () => {}, setTotal: () => {}, finish: () => {} })
}

/** Records every event into `events` (for tests). */
export const collectProgress = (events: Array<ProgressEvent>): ProgressShape => ({
  log: (line) => {
    events.push({ type: "log", line })
  },
  start: (label, total, unit, initial = 0) => {
    let t = total
    let done = initial
    events.push({ type: "start", label, total, unit, initial })
    return {
      setTotal: (x) => {
        t = x
      },
      update: (d, info) => {
        done = d
        events.push({
          type: "update",
          label,
          done: d,
          total: t,
          ...(info?.detail !== undefined ? { detail: info.detail } : {})
        })
      },
      finish: (info) => {
        events.push({
          type: "finish",
          label,
          done,
          total: t,
          ...(info?.detail !== undefined ? { detail: info.detail } : {})
        })
      }
    }
  }
})

const ProgressRef = Context.Reference<ProgressShape>("@crosscode/core/Progress", {
  defaultValue: () => silentProgress
})

/** The progress reporter in context (silent unless a program provides one). */
export const Progress = Object.assign(ProgressRef, {
  /** Reports to `shape`. */
  layer: (shape: ProgressShape): Layer.Layer<never> => Layer.succeed(ProgressRef, shape),
  /** Nothing is shown. */
  layerSilent: Layer.succeed(ProgressRef, silentProgress) as Layer.Layer<never>,
  /** Records every event into `events` (tests). */
  layerCollect: (events: Array<ProgressEvent>): Layer.Layer<never> =>
    Layer.succeed(ProgressRef, collectProgress(events))
})
