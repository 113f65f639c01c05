/**
 * The study report: `report.md` (+ `report.html` with the SVGs inlined), one SVG per plot with its
 * Vega-Lite spec (`<name>.svg`, `<name>.vl.json`) and the data behind it (`data.json`).
 */
import { platformErrorMessage } from "@crosscode/core"
import { Effect, FileSystem, Path, type PlatformError } from "effect"
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

/** Writes the report files into `outDir` (through the platform `FileSystem` and `Path`). */
export const writeReport = Effect.fn("writeReport")(function* (
  data: ReportData,
  outDir: string,
  options: { readonly html?: boolean } = {}
): Effect.fn.Return<ReportFiles, ReportError, FileSystem.FileSystem | Path.Path> {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const io = <A>(file: string, what: string, f: Effect.Effect<A, PlatformError.PlatformError>) =>
    Effect.mapError(f, (e) => new ReportError({ path: file, message: `${what} ${file}: ${platformErrorMessage(e)}` }))
  const write = (file: string, text: string) => io(file, "cannot write", fs.writeFileString(file, text))
  yield* io(outDir, "cannot create", fs.makeDirectory(outDir, { recursive: true }))
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
    yield* write(file, svg)
    yield* write(path.join(outDir, `${p.name}.vl.json`), `${JSON.stringify(p.spec)}\n`)
    plotFiles.push(file)
  }
  const doc = buildDocument(data, plots)
  const markdown = path.join(outDir, "report.md")
  const dataFile = path.join(outDir, "data.json")
  yield* write(markdown, renderMarkdown(doc))
  yield* write(dataFile, `${JSON.stringify(data)}\n`)
  let html: string | undefined
  if (options.html ?? true) {
    html = path.join(outDir, "report.html")
    yield* write(html, renderHtml(doc, svgs))
  }
  const files: ReportFiles = { markdown, ...(html !== undefined ? { html } : {}), plots: plotFiles, data: dataFile }
  return files
})
