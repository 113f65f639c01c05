/** Markdown and HTML renderings of a `ReportDocument` (plots referenced as `<name>.svg`). */
import type { Block, Cell, ReportDocument, Table } from "./document.js"

const cellOf = (c: Cell | string): Cell => (typeof c === "string" ? { text: c } : c)

/** A Markdown table cell: pipes escaped, newlines removed; code cells as code spans. */
export const mdCell = (c: Cell | string): string => {
  const { text, code } = cellOf(c)
  const flat = text.replace(/\r?\n/g, " ").replace(/\|/g, "\\|")
  return code === true ? `\`${flat.replace(/`/g, "'")}\`` : flat.replace(/</g, "&lt;").replace(/>/g, "&gt;")
}

const mdTable = (t: Table): string => {
  const lines: Array<string> = []
  if (t.caption !== undefined) lines.push(`*${t.caption}*`, "")
  lines.push(`| ${t.columns.map(mdCell).join(" | ")} |`)
  lines.push(`|${t.columns.map(() => " --- ").join("|")}|`)
  for (const r of t.rows) lines.push(`| ${r.map(mdCell).join(" | ")} |`)
  return lines.join("\n")
}

const mdBlock = (b: Block): string => {
  switch (b.kind) {
    case "p":
      return b.text
    case "list":
      return b.items.map((i) => `- ${i}`).join("\n")
    case "table":
      return mdTable(b.table)
    case "plot":
      return `![${b.plot.title}](${b.plot.name}.svg)\n\n*${b.plot.caption}*`
  }
}

export const renderMarkdown = (doc: ReportDocument): string =>
  [
    `# ${doc.title}`,
    ...doc.intro.map(mdBlock),
    ...doc.sections.flatMap((s) => [`## ${s.title}`, ...s.blocks.map(mdBlock)])
  ].join("\n\n") + "\n"

export const escapeHtml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** Inline `code` spans of the plain-text paragraphs. */
const inline = (s: string) => escapeHtml(s).replace(/`([^`]+)`/g, "<code>$1</code>")

const htmlCell = (c: Cell | string, tag: "td" | "th") => {
  const { text, code } = cellOf(c)
  return `<${tag}>${code === true ? `<code>${escapeHtml(text)}</code>` : inline(text)}</${tag}>`
}

const htmlBlock = (b: Block, svgs: ReadonlyMap<string, string>): string => {
  switch (b.kind) {
    case "p":
      return `<p>${inline(b.text)}</p>`
    case "list":
      return `<ul>${b.items.map((i) => `<li>${inline(i)}</li>`).join("")}</ul>`
    case "table": {
      const t = b.table
      return [
        "<table>",
        t.caption !== undefined ? `<caption>${inline(t.caption)}</caption>` : "",
        `<thead><tr>${t.columns.map((c) => htmlCell(c, "th")).join("")}</tr></thead>`,
        `<tbody>${t.rows.map((r) => `<tr>${r.map((c) => htmlCell(c, "td")).join("")}</tr>`).join("\n")}</tbody>`,
        "</table>"
      ].join("\n")
    }
    case "plot": {
      const svg = svgs.get(b.plot.name)
      return `<figure>${svg ?? `<img src="${b.plot.name}.svg" alt="${escapeHtml(b.plot.title)}">`}<figcaption>${inline(b.plot.caption)}</figcaption></figure>`
    }
  }
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
caption{text-align:left;font-style:italic;padding:4px 0}code{font-size:12px;background:#f4f4f4;white-space:pre-wrap}
figure{margin:1.5em 0}figcaption{font-size:13px;color:#555}`

/** A self-contained HTML page (SVG plots inlined). */
export const renderHtml = (doc: ReportDocument, svgs: ReadonlyMap<string, string>): string =>
  [
    "<!doctype html>",
    `<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(doc.title)}</title><style>${STYLE}</style></head><body>`,
    `<h1>${escapeHtml(doc.title)}</h1>`,
    ...doc.intro.map((b) => htmlBlock(b, svgs)),
    ...doc.sections.flatMap((s) => [`<h2>${escapeHtml(s.title)}</h2>`, ...s.blocks.map((b) => htmlBlock(b, svgs))]),
    "</body></html>",
    ""
  ].join("\n")
