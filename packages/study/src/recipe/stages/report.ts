/** Stage 6 — report: Markdown + HTML report with tables and SVG plots in `report/`. */
import { Effect } from "effect"
import { collectReportData, writeReport } from "../../report/index.js"
import type { RunContext } from "../context.js"
import { stageFailure } from "../errors.js"

export const runReport = Effect.fn("runReport")(
  function* (ctx: RunContext) {
    const data = yield* collectReportData(ctx.runDir, ctx.recipe)
    const files = yield* writeReport(data, ctx.dir("report"), { html: ctx.recipe.report?.html ?? true })
    yield* Effect.logInfo(
      `report: ${files.markdown}${files.html !== undefined ? `, ${files.html}` : ""} (${files.plots.length} plots)`
    )
    return files
  },
  Effect.mapError(stageFailure("report"))
)
