/**
 * The report as a small document model (sections of paragraphs, tables and plots), built from
 * `ReportData`; `render.ts` turns it into Markdown and HTML.
 */

import type { DeltaStats, Rate } from "../recipe/stages/common.js"
import type { SweepCell } from "../sweep/Sweep.js"
import type { ReportData } from "./data.js"
import type { Plot } from "./plots.js"

/** Table cells are plain text; `code: true` renders them as code (texts from the store). */
export interface Cell {
  readonly text: string
  readonly code?: boolean
}

export interface Table {
  readonly caption?: string
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<Cell | string>>
}

export type Block =
  | { readonly kind: "p"; readonly text: string }
  | { readonly kind: "list"; readonly items: ReadonlyArray<string> }
  | { readonly kind: "table"; readonly table: Table }
  | { readonly kind: "plot"; readonly plot: Plot }

export interface Section {
  readonly title: string
  readonly blocks: ReadonlyArray<Block>
}

export interface ReportDocument {
  readonly title: string
  readonly intro: ReadonlyArray<Block>
  readonly sections: ReadonlyArray<Section>
}

const f1 = (x: number) => x.toFixed(1)
const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`
const pct = (r: Rate) => `${f1(r.pct)}% [${f1(r.lo)}, ${f1(r.hi)}]`
const pval = (p: number) => (p < 1e-4 ? p.toExponential(1) : p.toPrecision(2))
const deltaText = (d: DeltaStats) =>
  `${signed(d.delta)} pp${d.ci !== undefined ? ` [${signed(d.ci.lo)}, ${signed(d.ci.hi)}]` : ""}`
const mcn = (d: DeltaStats) =>
  d.mcnemar !== undefined ? `${d.mcnemar.rescued} / ${d.mcnemar.broken} (p ${pval(d.mcnemar.p)})` : "–"

/** One line of a stored text: whitespace collapsed, cut at `max` characters. */
export const snippet = (text: string, max = 160): string => {
  const one = text.replace(/\s+/g, " ").trim()
  return one.length > max ? `${one.slice(0, max - 1)}…` : one
}

const partitionText = (p: ReportData["recipe"]["crosscoders"][number]["partition"]) =>
  p === "none"
    ? "none (plain crosscoder)"
    : Object.entries(p)
        .map(([m, s]) => `${m} ${(s * 100).toFixed(0)}%`)
        .join(", ")

const setupSection = (data: ReportData): Section => {
  const r = data.recipe
  const blocks: Array<Block> = [
    {
      kind: "list",
      items: [
        `Model A: \`${r.models.A}\``,
        `Model B: \`${r.models.B}\``,
        `Site: residual stream after decoder block ${r.site.layer} (last token of each text)`,
        data.harvest !== undefined
          ? `Activations: ${data.harvest.rows} paired rows (${data.harvest.datasets.join(", ")}), ${data.harvest.sources.length} sources × ${data.harvest.dim} dims, harvested at ${f1(data.harvest.rowsPerSecond)} rows/s`
          : "Activations: not harvested yet",
        `Seed ${r.seed}`
      ]
    }
  ]
  if (data.crosscoders.length > 0) {
    blocks.push({
      kind: "table",
      table: {
        caption: "Crosscoders (final reconstruction on the first store rows, normalized units)",
        columns: [
          "name",
          "D",
          "k",
          "exclusive share",
          "λ_sh / λ_excl",
          "steps",
          "FVE",
          "FVE A / B",
          "L0 per group",
          "dead",
          "max forbidden weight"
        ],
        rows: data.crosscoders.map(({ summary: s }) => [
          s.name,
          String(s.spec.features),
          String(s.spec.k),
          partitionText(s.spec.partition),
          `${s.spec.lambdas?.shared ?? 1e-3} / ${s.spec.lambdas?.exclusive ?? 1e-3}`,
          String(s.steps),
          s.final.fve.toFixed(3),
          `${(s.final.fvePerModel.A ?? Number.NaN).toFixed(3)} / ${(s.final.fvePerModel.B ?? Number.NaN).toFixed(3)}`,
          Object.entries(s.final.l0PerGroup)
            .map(([g, v]) => `${g} ${v.toFixed(2)}`)
            .join(", "),
          `${(s.final.deadFraction * 100).toFixed(1)}%`,
          Math.max(s.integrity.encoderMaxForbidden, s.integrity.decoderMaxForbidden).toExponential(1)
        ])
      }
    })
  }
  return { title: "Setup", blocks }
}

const evaluationSection = (data: ReportData, plots: ReadonlyArray<Plot>): Section | undefined => {
  const ev = data.evaluate
  if (ev === undefined) return undefined
  const rows: Array<Array<string>> = []
  for (const m of ["A", "B"] as const) {
    rows.push([m, "clean", pct(ev.clean[m].tool), pct(ev.clean[m].format), ev.clean[m].score.mean.toFixed(2)])
    for (const c of ev.crosscoders)
      rows.push([m, `recon ${c.name}`, pct(c.recon[m].tool), pct(c.recon[m].format), c.recon[m].score.mean.toFixed(2)])
  }
  const deltas = ev.crosscoders.map((c) => [
    c.name,
    deltaText(c.delta.A),
    mcn(c.delta.A),
    deltaText(c.delta.B),
    mcn(c.delta.B),
    `${signed(c.delta.A.formatDelta)} / ${signed(c.delta.B.formatDelta)}`
  ])
  const plot = plots.find((p) => p.name === "reconstruction")
  return {
    title: "Reconstruction and spillover",
    blocks: [
      {
        kind: "p",
        text: `${ev.n} prompts (paper style: system prompt only, no chat template, greedy), scored with the paper's rubric. Rates with Wilson 95% CIs; Δ = reconstruction − clean with paired-t 95% CIs; McNemar = prompts rescued / broken by the reconstruction (exact test).`
      },
      {
        kind: "table",
        table: {
          caption: "Tool correctness, format accuracy and overall score",
          columns: ["model", "condition", "tool correctness", "format accuracy", "overall score"],
          rows
        }
      },
      {
        kind: "table",
        table: {
          caption: "ΔA (RL model) and ΔB (spillover into the base model)",
          columns: ["crosscoder", "ΔA tool", "A rescued / broken", "ΔB tool", "B rescued / broken", "Δ format A / B"],
          rows: deltas
        }
      },
      ...(plot !== undefined ? [{ kind: "plot" as const, plot }] : [])
    ]
  }
}

const gridTable = (cells: ReadonlyArray<SweepCell>, partition: string, alphas: ReadonlyArray<number>): Table => {
  const ks = [...new Set(cells.filter((c) => c.partition === partition).map((c) => c.kPercent))].sort((a, b) => a - b)
  return {
    caption: `${partition}: Δ tool correctness in pp (steered %)`,
    columns: ["k% (|S|)", ...alphas.map((a) => `α = ${a}`)],
    rows: ks.map((k) => {
      const row = cells.filter((c) => c.partition === partition && c.kPercent === k)
      const size = row[0]?.features.length ?? 0
      return [
        `${k}% (${size})`,
        ...alphas.map((a) => {
          const c = row.find((x) => x.alpha === a)
          if (c === undefined) return "–"
          if (c.status === "empty" || c.stats === undefined) return "no tool-signed feature"
          return `${signed(c.stats.delta)} (${f1(c.stats.steered)})`
        })
      ]
    })
  }
}

const steeringSection = (data: ReportData, plots: ReadonlyArray<Plot>): Section | undefined => {
  const s = data.sweep
  if (s === undefined) return undefined
  const alphas = [...new Set(s.cells.map((c) => c.alpha))].sort((a, b) => a - b)
  const partitions = [...new Set(s.cells.map((c) => c.partition))]
  const blocks: Array<Block> = [
    {
      kind: "p",
      text: `Crosscoder \`${data.recipe.steer.crosscoder}\`, steering model ${s.target} at the last prompt token: h' = h + Σ_{i∈S} (α − 1) f_i W_dec[i, ${s.target}], S = the top k% of the partition's tool-signed features by Cohen's d. Clean: ${f1(s.clean.value)}% (n = ${s.clean.n})${
        s.reconstruction !== undefined
          ? `; full reconstruction on the same prompts: ${f1(s.reconstruction.stats.steered)}% (Δ ${signed(s.reconstruction.stats.delta)} pp)`
          : ""
      }.`
    }
  ]
  const best = s.best?.cell
  if (best?.stats !== undefined && best.stats.delta <= 0) {
    blocks.push({ kind: "p", text: `No cell raised ${s.metric} (best Δ = ${signed(best.stats.delta)} pp).` })
  } else if (best?.stats !== undefined) {
    blocks.push({
      kind: "p",
      text: `Best cell — ${s.best!.flag}: ${best.partition}, k = ${best.kPercent}% (|S| = ${best.features.length}: features ${best.features.join(", ")}), α = ${best.alpha}: ${f1(best.stats.clean)}% → ${f1(best.stats.steered)}%, Δ ${signed(best.stats.delta)} pp${
        best.stats.ci !== undefined ? ` [${signed(best.stats.ci.lo)}, ${signed(best.stats.ci.hi)}]` : ""
      }${best.stats.mcnemar !== undefined ? `, McNemar ${best.stats.mcnemar.rescued} rescued / ${best.stats.mcnemar.broken} broken (p ${pval(best.stats.mcnemar.p)})` : ""}.`
    })
  }
  const byPart = Object.entries(s.bestByPartition)
  if (byPart.length > 0) {
    blocks.push({
      kind: "table",
      table: {
        caption: "Best cell per partition (best-of-grid, no multiple-comparison correction)",
        columns: ["partition", "|S|", "α", "features", "steered", "Δ [95% CI]"],
        rows: byPart.map(([p, b]) => [
          p,
          String(b.cell.features.length),
          String(b.cell.alpha),
          b.cell.features.join(", "),
          `${f1(b.cell.stats!.steered)}%`,
          `${signed(b.cell.stats!.delta)}${b.cell.stats!.ci !== undefined ? ` [${signed(b.cell.stats!.ci.lo)}, ${signed(b.cell.stats!.ci.hi)}]` : ""}`
        ])
      }
    })
  }
  const bExcl = s.cells.filter((c) => c.partition === "B-excl" && c.stats !== undefined)
  if (bExcl.length > 0) {
    const maxAbs = Math.max(...bExcl.map((c) => Math.abs(c.stats!.delta)))
    blocks.push({
      kind: "p",
      text: `B-exclusive steering of model ${s.target}: ${bExcl.length} cells, largest |Δ| = ${f1(maxAbs)} pp${
        maxAbs === 0 ? " (exactly zero, as it must be: B-exclusive decoder rows into A are zero by construction)" : ""
      }.`
    })
  }
  for (const p of partitions) blocks.push({ kind: "table", table: gridTable(s.cells, p, alphas) })
  const singles = data.singles ?? []
  if (singles.length > 0) {
    const sAlphas = [...new Set(singles.map((c) => c.alpha))].sort((a, b) => a - b)
    const feats = [...new Map(singles.map((c) => [`${c.partition}|${c.feature}`, c])).values()]
    blocks.push({
      kind: "table",
      table: {
        caption:
          "Single features (|S| = 1, the partition's top tool-signed features by d): Δ tool correctness in pp (steered %)",
        columns: ["partition", "feature (rank by d)", "d", ...sAlphas.map((a) => `α = ${a}`)],
        rows: feats.map((f) => [
          f.partition,
          `#${f.feature} (${f.rank})`,
          f.cohenD.toFixed(2),
          ...sAlphas.map((a) => {
            const c = singles.find((x) => x.partition === f.partition && x.feature === f.feature && x.alpha === a)
            return c === undefined ? "–" : `${signed(c.stats.delta)} (${f1(c.stats.treated)})`
          })
        ])
      }
    })
  }
  for (const name of ["steering-heatmap", "alpha-curves"]) {
    const plot = plots.find((x) => x.name === name)
    if (plot !== undefined) blocks.push({ kind: "plot", plot })
  }
  return { title: "Steering", blocks }
}

const featuresSection = (data: ReportData, plots: ReadonlyArray<Plot>): Section | undefined => {
  if (data.rank.length === 0 && data.crosscoders.length === 0) return undefined
  const blocks: Array<Block> = []
  for (const r of data.rank) {
    blocks.push({
      kind: "p",
      text: `Crosscoder \`${r.crosscoder}\`: Cohen's d of last-token codes on ${r.nTool} tool prompts vs ${r.nGeneral} general texts. Tool-signed (d > 0) features per group: ${r.groups
        .map((g) => `${g.group} ${g.nTool}/${g.size} (${g.nFilter} pass the firing filter)`)
        .join(", ")}.`
    })
    if (r.topFeatures.length > 0) {
      blocks.push({
        kind: "table",
        table: {
          caption: `${r.crosscoder}: top tool-signed features per group, with their top-activating texts from the activation store`,
          columns: [
            "feature",
            "group",
            "d",
            "AUROC",
            "fires tool / general",
            "‖d_A‖ share",
            "top-activating texts (activation)"
          ],
          rows: r.topFeatures.map((f) => [
            `#${f.feature}`,
            f.group,
            f.cohenD.toFixed(2),
            f.auroc.toFixed(3),
            `${(f.fireRateTool * 100).toFixed(0)}% / ${(f.fireRateGeneral * 100).toFixed(0)}%`,
            f.relativeNormA !== undefined ? f.relativeNormA.toFixed(2) : "–",
            {
              text:
                f.topTexts.length === 0
                  ? "–"
                  : f.topTexts
                      .map((t) => `(${t.activation.toFixed(2)}, ${t.dataset}) ${snippet(t.text, 120)}`)
                      .join(" ⏐ "),
              code: true
            }
          ])
        }
      })
    }
  }
  for (const name of ["decoder-norms", "training-curves"]) {
    const plot = plots.find((x) => x.name === name)
    if (plot !== undefined) blocks.push({ kind: "plot", plot })
  }
  return { title: "Features", blocks }
}

export const buildDocument = (data: ReportData, plots: ReadonlyArray<Plot>): ReportDocument => ({
  title: data.title,
  intro: [
    ...(data.recipe.description !== undefined ? [{ kind: "p" as const, text: data.recipe.description }] : []),
    {
      kind: "p",
      text: `Recipe \`${data.recipe.name}\`, run directory \`${data.runDir}\`, generated ${data.generatedAt}.`
    }
  ],
  sections: [
    setupSection(data),
    evaluationSection(data, plots),
    steeringSection(data, plots),
    featuresSection(data, plots)
  ].filter((s): s is Section => s !== undefined)
})
