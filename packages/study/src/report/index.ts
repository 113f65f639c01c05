/**
 * The study report: `report.md` (+ `report.html` with the SVGs inlined), one SVG per plot with its
 * Vega-Lite spec (`<name>.svg`, `<name>.vl.json`) and the data behind it (`data.json`).
 */
import { mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { errorMessage, ReportError } from "../recipe/errors.js"
import type { ReportData } from "./data.js"
import { buildDocument } from "./document.js"
import { allPlots, renderSvg } from "./plots.js"
import { renderHtml, renderMarkdown } from "./render.js"

export * from "./data.js"
export * from "./document.js"
export * from "./plots.js"
export * from "./render.js"

export interface ReportFiles {
  readonly markdown: string
  readonly html?: string
  readonly plots: ReadonlyArray<string>
  readonly data: string
}

export const writeReport = Effect.fn("writeReport")(function* (
  data: ReportData,
  outDir: string,
  options: { readonly html?: boolean } = {}
) {
  const io = <A>(file: string, what: string, f: () => A) =>
    Effect.try({
      try: f,
      catch: (e) => new ReportError({ path: file, message: `${what} ${file}: ${errorMessage(e)}` })
    })
  yield* io(outDir, "cannot create", () => mkdirSync(outDir, { recursive: true }))
  const plots = allPlots(data)
  const svgs = new Map<string, string>()
  const plotFiles: Array<string> = []
  for (const p of plots) {
    const svg = yield* Effect.tryPromise({
      try: () => renderSvg(p.spec),
      catch: (e) =>
        new ReportError({ path: path.join(outDir, `${p.name}.svg`), message: `plot ${p.name}: ${errorMessage(e)}` })
    })
    svgs.set(p.name, svg)
    const file = path.join(outDir, `${p.name}.svg`)
    yield* io(file, "cannot write", () => {
      writeFileSync(file, svg)
      writeFileSync(path.join(outDir, `${p.name}.vl.json`), `${JSON.stringify(p.spec)}\n`)
    })
    plotFiles.push(file)
  }
  const doc = buildDocument(data, plots)
  const markdown = path.join(outDir, "report.md")
  const dataFile = path.join(outDir, "data.json")
  yield* io(markdown, "cannot write", () => {
    writeFileSync(markdown, renderMarkdown(doc))
    writeFileSync(dataFile, `${JSON.stringify(data)}\n`)
  })
  let html: string | undefined
  if (options.html ?? true) {
    html = path.join(outDir, "report.html")
    const file = html
    yield* io(file, "cannot write", () => writeFileSync(file, renderHtml(doc, svgs)))
  }
  const files: ReportFiles = { markdown, ...(html !== undefined ? { html } : {}), plots: plotFiles, data: dataFile }
  return files
})
