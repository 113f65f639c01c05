/**
 * The terminal renderer of core's `Progress` service (the stages, harvest, the trainer, the eval
 * runner and the sweep report to it; only the CLI draws):
 *
 * - On a TTY: one updating line per active bar on stderr, drawn by `cli-progress` (a MultiBar, so
 *   log lines are printed above the bars instead of tearing them): label, bar, done/total, rate
 *   and ETA.
 * - Elsewhere (CI, pipes, files): a plain line every `intervalSeconds` (default 10) and one when
 *   the bar finishes: `[train dfc] 600/1500 steps (40.0%) 212.3 steps/s ETA 4s`.
 *
 * The CLI logger (`cliLogger`) writes through the same reporter, so Effect logs and bars share
 * the terminal. Tests use core's `Progress.layerCollect` to see every update.
 */
import { Progress, type ProgressShape } from "@crosscode/core"
import cliProgress from "cli-progress"
import { Cause, type Layer, Logger } from "effect"

export interface TerminalOptions {
  readonly stream?: NodeJS.WriteStream
  /** Force bar (true) or line (false) mode; default: `stream.isTTY`. */
  readonly tty?: boolean
  readonly intervalSeconds?: number
}

export const formatDuration = (seconds: number): string => {
  if (!Number.isFinite(seconds) || seconds < 0) return "?"
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
}

const formatRate = (r: number) => (r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2))

/** Rate and ETA from the work done in this process (resumed work excluded). */
class Meter {
  private readonly t0 = performance.now()
  constructor(
    private readonly initial: number,
    public total: number
  ) {}
  stats(done: number) {
    const elapsed = (performance.now() - this.t0) / 1000
    const rate = elapsed > 0 ? Math.max(0, done - this.initial) / elapsed : 0
    const eta = rate > 0 ? Math.max(0, this.total - done) / rate : Number.NaN
    return { elapsed, rate, eta }
  }
}

/** One text line describing a bar (used off a TTY). */
export const progressLine = (
  label: string,
  done: number,
  total: number,
  unit: string,
  rate: number,
  eta: number,
  detail?: string
) => {
  const pct = total > 0 ? ` (${((100 * done) / total).toFixed(1)}%)` : ""
  return `[${label}] ${done}/${total} ${unit}${pct} ${formatRate(rate)} ${unit}/s ETA ${formatDuration(eta)}${detail ? ` ${detail}` : ""}`
}

export const makeTerminalProgress = (options: TerminalOptions = {}): ProgressShape => {
  const stream = options.stream ?? process.stderr
  const tty = options.tty ?? stream.isTTY === true
  const interval = (options.intervalSeconds ?? 10) * 1000
  if (!tty) {
    const log = (line: string) => {
      stream.write(`${line}\n`)
    }
    return {
      log,
      start: (label, total, unit, initial = 0) => {
        const meter = new Meter(initial, total)
        let last = performance.now()
        let done = initial
        log(`[${label}] started: ${initial}/${total} ${unit} already done`)
        return {
          setTotal: (t) => {
            meter.total = t
          },
          update: (d, info) => {
            done = d
            const now = performance.now()
            if (now - last < interval) return
            last = now
            const s = meter.stats(d)
            log(progressLine(label, d, meter.total, unit, s.rate, s.eta, info?.detail))
          },
          finish: (info) => {
            const s = meter.stats(done)
            log(
              `[${label}] done: ${done}/${meter.total} ${unit} in ${formatDuration(s.elapsed)} (${formatRate(s.rate)} ${unit}/s)${info?.detail ? ` ${info.detail}` : ""}`
            )
          }
        }
      }
    }
  }
  let multi: cliProgress.MultiBar | undefined
  let active = 0
  const ensure = () => {
    if (multi === undefined) {
      multi = new cliProgress.MultiBar(
        {
          stream,
          clearOnComplete: false,
          hideCursor: true,
          autopadding: true,
          barsize: 30,
          fps: 5,
          format: "{label} [{bar}] {percentage}% {value}/{total} {unit} | {rate} {unit}/s | ETA {etaText} {detail}"
        },
        cliProgress.Presets.shades_classic
      )
    }
    return multi
  }
  return {
    log: (line) => {
      if (multi !== undefined && active > 0) {
        multi.log(`${line}\n`)
        multi.update() // flush now: cli-progress only writes its log buffer on a redraw
      } else stream.write(`${line}\n`)
    },
    start: (label, total, unit, initial = 0) => {
      const m = ensure()
      active++
      const meter = new Meter(initial, total)
      const bar = m.create(Math.max(total, 1), initial, { label, unit, rate: "-", etaText: "?", detail: "" })
      let done = initial
      let finished = false
      return {
        setTotal: (t) => {
          meter.total = t
          bar.setTotal(Math.max(t, 1))
        },
        update: (d, info) => {
          done = d
          const s = meter.stats(d)
          bar.update(d, { rate: formatRate(s.rate), etaText: formatDuration(s.eta), detail: info?.detail ?? "" })
        },
        finish: (info) => {
          if (finished) return
          finished = true
          const s = meter.stats(done)
          bar.update(done, { rate: formatRate(s.rate), etaText: "0s", detail: info?.detail ?? "" })
          bar.stop()
          active--
          if (active === 0 && multi !== undefined) {
            multi.stop()
            multi = undefined
          }
        }
      }
    }
  }
}

/**
 * A logger writing `HH:MM:SS LEVEL message` lines through a progress reporter, so log lines appear
 * above the bars. Failures carry their cause's pretty form.
 */
export const cliLogger = (progress: ProgressShape) =>
  Logger.make<unknown, void>(({ message, logLevel, date, cause }) => {
    const parts = (Array.isArray(message) ? message : [message]).map((m) =>
      typeof m === "string" ? m : JSON.stringify(m)
    )
    const time = date.toISOString().slice(11, 19)
    let line = `${time} ${logLevel.toUpperCase().padEnd(5)} ${parts.join(" ")}`
    if (cause.reasons.length > 0) line += `\n${Cause.pretty(cause)}`
    progress.log(line)
  })

/** `Progress` drawn on stderr: bars on a TTY, periodic lines otherwise. */
export const terminalProgressLayer = (options: TerminalOptions = {}): Layer.Layer<never> =>
  Progress.layer(makeTerminalProgress(options))
