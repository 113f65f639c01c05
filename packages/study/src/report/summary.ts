/** The few headline numbers of a run, as text lines (printed at the end of `crosscode run`). */
import * as path from "node:path"
import type { ReportData } from "./data.js"

const f1 = (x: number) => x.toFixed(1)
const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`

export const headlineLines = (data: ReportData): Array<string> => {
  const lines: Array<string> = [`Results (${data.runDir}):`]
  const ev = data.evaluate
  if (ev !== undefined) {
    lines.push(`  tool correctness, clean (n = ${ev.n}): A ${f1(ev.clean.A.tool.pct)}%, B ${f1(ev.clean.B.tool.pct)}%`)
    for (const c of ev.crosscoders) {
      const ci = (d: (typeof c.delta)["A"]) => (d.ci !== undefined ? ` [${signed(d.ci.lo)}, ${signed(d.ci.hi)}]` : "")
      lines.push(
        `  reconstruction through ${c.name}: A ${f1(c.recon.A.tool.pct)}% (ΔA ${signed(c.delta.A.delta)} pp${ci(c.delta.A)}), B ${f1(c.recon.B.tool.pct)}% (ΔB ${signed(c.delta.B.delta)} pp${ci(c.delta.B)})`
      )
    }
  }
  const s = data.sweep
  if (s !== undefined) {
    const b = s.best?.cell
    if (b?.stats !== undefined && b.stats.delta <= 0) {
      lines.push(
        `  steering: no cell raised tool correctness (best Δ = ${signed(b.stats.delta)} pp over ${s.cells.filter((c) => c.stats !== undefined).length} cells)`
      )
    } else if (b?.stats !== undefined) {
      lines.push(
        `  best steering cell (best-of-grid): ${b.partition} |S| = ${b.features.length} (features ${b.features.join(", ")}), α = ${b.alpha}: ${f1(b.stats.clean)}% → ${f1(b.stats.steered)}% (Δ ${signed(b.stats.delta)} pp)`
      )
    }
    const singles = data.singles ?? []
    if (singles.length > 0) {
      const b1 = singles.reduce((b, c) => (c.stats.delta > b.stats.delta ? c : b))
      lines.push(
        `  best single feature: ${b1.partition} #${b1.feature} (rank ${b1.rank} by d, d = ${b1.cohenD.toFixed(2)}), α = ${b1.alpha}: ${f1(b1.stats.clean)}% → ${f1(b1.stats.treated)}% (Δ ${signed(b1.stats.delta)} pp)`
      )
    }
    const bx = s.cells.filter((c) => c.partition === "B-excl" && c.stats !== undefined)
    if (bx.length > 0)
      lines.push(
        `  B-exclusive steering: ${bx.length} cells, max |Δ| = ${f1(Math.max(...bx.map((c) => Math.abs(c.stats!.delta))))} pp`
      )
  }
  lines.push(`  report: ${path.join(data.runDir, "report", "report.md")}`)
  return lines
}
