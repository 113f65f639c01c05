/**
 * The report's plots as Vega-Lite specs, rendered to standalone SVG in Node by Vega's headless
 * SVG renderer (no canvas, no browser): `vega.View(vega.parse(vegaLite.compile(spec).spec),
 * { renderer: "none" }).toSVG()`. Vega-Lite was chosen over hand-written SVG for correct axes,
 * legends, binning, log/symlog scales and facets; the specs are plain data, kept beside the SVGs
 * (`*.vl.json`) so a reader can re-render or restyle them.
 */
import * as vega from "vega"
import { compile, type TopLevelSpec } from "vega-lite"
import type { ReportData } from "./data.js"

export interface Plot {
  /** File stem, e.g. "steering-heatmap". */
  readonly name: string
  readonly title: string
  readonly caption: string
  readonly spec: TopLevelSpec
}

const base = { $schema: "https://vega.github.io/schema/vega-lite/v6.json", background: "white" } as const

const partitionLabel = (p: string) => p

/** |S| × α heat-map of Δ tool correctness, one panel per partition. */
export const steeringHeatmap = (data: ReportData): Plot | undefined => {
  const sweep = data.sweep
  if (sweep === undefined) return undefined
  const rows = sweep.cells
    .filter((c) => c.status === "done" && c.stats !== undefined)
    .map((c) => ({
      partition: partitionLabel(c.partition),
      row: `${c.kPercent}% (|S|=${c.features.length})`,
      k: c.kPercent,
      alpha: c.alpha,
      delta: Math.round(c.stats!.delta * 10) / 10,
      steered: Math.round(c.stats!.steered * 10) / 10
    }))
  if (rows.length === 0) return undefined
  const maxAbs = Math.max(1, ...rows.map((r) => Math.abs(r.delta)))
  const nAlpha = new Set(rows.map((r) => r.alpha)).size
  const nRows = Math.max(
    ...[...new Set(rows.map((r) => r.partition))].map(
      (p) => new Set(rows.filter((r) => r.partition === p).map((r) => r.row)).size
    )
  )
  return {
    name: "steering-heatmap",
    title: "Steering grid",
    caption: `Δ tool correctness (pp, steered − clean ${sweep.clean.value.toFixed(1)}%) of model ${sweep.target} per partition, subset size (k% of the partition's tool-signed features) and α; n = ${sweep.clean.n} prompts per cell.`,
    spec: {
      ...base,
      data: { values: rows },
      facet: { column: { field: "partition", type: "nominal", title: null } },
      spec: {
        width: 48 * nAlpha,
        height: 28 * nRows,
        encoding: {
          x: { field: "alpha", type: "ordinal", title: "α", sort: "ascending" },
          y: { field: "row", type: "ordinal", title: "k% (|S|)", sort: { field: "k", order: "ascending" } }
        },
        layer: [
          {
            mark: "rect",
            encoding: {
              color: {
                field: "delta",
                type: "quantitative",
                title: "Δ pp",
                scale: { scheme: "redblue", domain: [-maxAbs, maxAbs], reverse: true }
              },
              tooltip: [{ field: "steered", title: "steered %" }]
            }
          },
          {
            mark: { type: "text", fontSize: 10 },
            encoding: { text: { field: "delta", type: "quantitative", format: "+.1f" } }
          }
        ]
      },
      resolve: { scale: { y: "independent" } }
    } as TopLevelSpec
  }
}

/** Steered tool correctness against α, one line per subset size, one panel per partition. */
export const alphaCurves = (data: ReportData): Plot | undefined => {
  const sweep = data.sweep
  if (sweep === undefined) return undefined
  const rows = sweep.cells
    .filter((c) => c.status === "done" && c.stats !== undefined)
    .map((c) => ({
      partition: c.partition,
      subset: `k=${c.kPercent}% |S|=${c.features.length}`,
      alpha: c.alpha,
      steered: c.stats!.steered,
      clean: sweep.clean.value
    }))
  for (const c of data.singles ?? []) {
    rows.push({
      partition: `${c.partition}, one feature`,
      subset: `#${c.feature} (d ${c.cohenD.toFixed(1)})`,
      alpha: c.alpha,
      steered: c.stats.treated,
      clean: sweep.clean.value
    })
  }
  if (rows.length === 0) return undefined
  return {
    name: "alpha-curves",
    title: "α curves",
    caption: `Tool correctness of model ${sweep.target} against the steering strength α (dashed: clean ${sweep.clean.value.toFixed(1)}%${
      sweep.reconstruction !== undefined
        ? `; dotted: full reconstruction ${sweep.reconstruction.stats.steered.toFixed(1)}%`
        : ""
    }).`,
    spec: {
      ...base,
      data: { values: rows },
      facet: { column: { field: "partition", type: "nominal", title: null } },
      spec: {
        width: 220,
        height: 180,
        layer: [
          {
            mark: { type: "line", point: true },
            encoding: {
              x: { field: "alpha", type: "quantitative", title: "α", scale: { type: "symlog" } },
              y: { field: "steered", type: "quantitative", title: "tool correctness %", scale: { domain: [0, 100] } },
              color: { field: "subset", type: "nominal", title: "subset" }
            }
          },
          {
            mark: { type: "rule", strokeDash: [4, 3], color: "gray" },
            encoding: { y: { field: "clean", aggregate: "mean", type: "quantitative" } }
          },
          ...(sweep.reconstruction !== undefined
            ? [
                {
                  mark: { type: "rule" as const, strokeDash: [1, 2], color: "black" },
                  encoding: { y: { datum: sweep.reconstruction.stats.steered, type: "quantitative" as const } }
                }
              ]
            : [])
        ]
      }
    } as TopLevelSpec
  }
}

/** Histogram of the relative decoder norm ‖d_A‖ / (‖d_A‖ + ‖d_B‖), stacked by partition group. */
export const decoderNormHistogram = (data: ReportData): Plot | undefined => {
  const rows: Array<{ crosscoder: string; group: string; r: number }> = []
  for (const c of data.crosscoders) {
    const s = c.summary
    const groupOf = new Array<string>(s.relativeNormA.length).fill("shared")
    for (const g of s.groups)
      if (g.range !== undefined) for (let j = g.range[0]; j < g.range[1]; j++) groupOf[j] = g.name
    s.relativeNormA.forEach((r, j) => {
      rows.push({ crosscoder: s.name, group: groupOf[j]!, r })
    })
  }
  if (rows.length === 0) return undefined
  return {
    name: "decoder-norms",
    title: "Relative decoder norms",
    caption:
      "Histogram of ‖d_A‖ / (‖d_A‖ + ‖d_B‖) per feature (1 = decodes only into A, 0 = only into B), stacked by partition group; symlog count axis.",
    spec: {
      ...base,
      data: { values: rows },
      facet: { row: { field: "crosscoder", type: "nominal", title: null } },
      spec: {
        width: 420,
        height: 140,
        mark: "bar",
        encoding: {
          x: {
            field: "r",
            bin: { maxbins: 40, extent: [0, 1] },
            type: "quantitative",
            title: "‖d_A‖ / (‖d_A‖ + ‖d_B‖)"
          },
          y: { aggregate: "count", type: "quantitative", title: "features", scale: { type: "symlog" } },
          color: { field: "group", type: "nominal", title: "group" }
        }
      }
    } as TopLevelSpec
  }
}

/** FVE at each checkpoint and L0 along training, per crosscoder. */
export const trainingCurves = (data: ReportData): Plot | undefined => {
  const fve = data.crosscoders.flatMap((c) =>
    c.curve.map((p) => ({ crosscoder: c.summary.name, step: p.step, fve: p.fve }))
  )
  const l0 = data.crosscoders.flatMap((c) =>
    c.log.flatMap((p) => [
      { crosscoder: c.summary.name, step: p.step, series: "total", l0: p.l0 },
      ...(Object.keys(p.l0PerGroup).length > 1
        ? Object.entries(p.l0PerGroup).map(([g, v]) => ({ crosscoder: c.summary.name, step: p.step, series: g, l0: v }))
        : [])
    ])
  )
  if (fve.length === 0 && l0.length === 0) return undefined
  return {
    name: "training-curves",
    title: "Training curves",
    caption:
      "Left: fraction of variance explained (normalized units) on the first store rows, measured at each checkpoint. Right: mean active features per row (L0) on training batches, total and per partition group (symlog).",
    spec: {
      ...base,
      hconcat: [
        {
          width: 280,
          height: 200,
          data: { values: fve },
          mark: { type: "line", point: true },
          encoding: {
            x: { field: "step", type: "quantitative", title: "step" },
            y: { field: "fve", type: "quantitative", title: "FVE", scale: { zero: false } },
            color: { field: "crosscoder", type: "nominal" }
          }
        },
        {
          width: 280,
          height: 200,
          data: { values: l0 },
          mark: "line",
          encoding: {
            x: { field: "step", type: "quantitative", title: "step" },
            y: { field: "l0", type: "quantitative", title: "L0", scale: { type: "symlog" } },
            color: { field: "crosscoder", type: "nominal" },
            strokeDash: { field: "series", type: "nominal", title: "group" }
          }
        }
      ],
      resolve: { scale: { color: "shared" } }
    } as TopLevelSpec
  }
}

/** Clean vs reconstruction tool correctness with Wilson 95% CIs, per model. */
export const reconstructionBars = (data: ReportData): Plot | undefined => {
  const ev = data.evaluate
  if (ev === undefined) return undefined
  const rows: Array<{ model: string; condition: string; pct: number; lo: number; hi: number; order: number }> = []
  for (const m of ["A", "B"] as const) {
    rows.push({
      model: `model ${m}`,
      condition: "clean",
      pct: ev.clean[m].tool.pct,
      lo: ev.clean[m].tool.lo,
      hi: ev.clean[m].tool.hi,
      order: 0
    })
    ev.crosscoders.forEach((c, i) => {
      rows.push({
        model: `model ${m}`,
        condition: `recon ${c.name}`,
        pct: c.recon[m].tool.pct,
        lo: c.recon[m].tool.lo,
        hi: c.recon[m].tool.hi,
        order: i + 1
      })
    })
  }
  return {
    name: "reconstruction",
    title: "Clean vs reconstruction",
    caption: `Tool correctness (paper rubric) of each model, clean and with its last-prompt-token activation replaced by the crosscoder reconstruction; bars: Wilson 95% CI; n = ${ev.n}.`,
    spec: {
      ...base,
      data: { values: rows },
      facet: { column: { field: "model", type: "nominal", title: null } },
      spec: {
        width: 60 * (1 + (data.evaluate?.crosscoders.length ?? 0)),
        height: 200,
        encoding: { x: { field: "condition", type: "nominal", title: null, sort: { field: "order" } } },
        layer: [
          {
            mark: "bar",
            encoding: {
              y: { field: "pct", type: "quantitative", title: "tool correctness %", scale: { domain: [0, 100] } },
              color: { field: "condition", type: "nominal", legend: null }
            }
          },
          { mark: "rule", encoding: { y: { field: "lo", type: "quantitative" }, y2: { field: "hi" } } }
        ]
      }
    } as TopLevelSpec
  }
}

export const allPlots = (data: ReportData): Array<Plot> =>
  [
    reconstructionBars(data),
    steeringHeatmap(data),
    alphaCurves(data),
    decoderNormHistogram(data),
    trainingCurves(data)
  ].filter((p): p is Plot => p !== undefined)

/** Renders a Vega-Lite spec to an SVG string (headless). */
export const renderSvg = async (spec: TopLevelSpec): Promise<string> => {
  const compiled = compile(spec, { logger: vega.logger(vega.Error) }).spec
  const view = new vega.View(vega.parse(compiled), { renderer: "none" })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}
