/** Markdown and HTML renderings of a `ReportDocument` (plots referenced as `<name>.svg`). */
import type { Block, Cell, FeatureExamples, ReportDocument, Table } from "./document.js"

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

/** Whitespace made visible inside one token (a newline token would otherwise vanish). */
const showToken = (t: string) => t.replace(/\r?\n/g, "↵").replace(/\t/g, "⇥")

type Example = FeatureExamples["examples"][number]

/** The window as text, the firing token between ⟦ ⟧ (Markdown: inside a code span). */
const exampleText = (e: Example) =>
  `${e.cutBefore ? "…" : ""}${e.tokens.map((t, i) => (i === e.firing ? `⟦${showToken(t)}⟧` : showToken(t))).join("")}${e.cutAfter ? "…" : ""}`

const mdExamples = (caption: string, features: ReadonlyArray<FeatureExamples>): string =>
  [
    `*${caption}*`,
    ...features.map((f) =>
      [
        `- **${f.label}**`,
        ...f.examples.map(
          (e) => `  - ${e.activation.toFixed(2)} · ${e.dataset} · \`${exampleText(e).replace(/`/g, "'")}\``
        )
      ].join("\n")
    )
  ].join("\n\n")

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
    case "examples":
      return mdExamples(b.caption, b.features)
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

/** One example as a feature dashboard shows it: the tokens in boxes, the firing one highlighted. */
const htmlExample = (e: Example) => {
  const tokens = e.tokens.map((t, i) =>
    i === e.firing
      ? `<mark class="fire" title="activation ${e.activation.toFixed(3)}">${escapeHtml(showToken(t))}</mark>`
      : `<span class="tok">${escapeHtml(showToken(t))}</span>`
  )
  return `<li><span class="act">${e.activation.toFixed(2)}</span> <span class="ds">${escapeHtml(e.dataset)}</span> <code class="ctx">${e.cutBefore ? "…" : ""}${tokens.join("")}${e.cutAfter ? "…" : ""}</code></li>`
}

const htmlExamples = (caption: string, features: ReadonlyArray<FeatureExamples>) =>
  [
    `<div class="examples"><p class="cap">${inline(caption)}</p>`,
    ...features.map(
      (f) =>
        `<div class="feature"><h4>${escapeHtml(f.label)}</h4><ol>${f.examples.length === 0 ? "<li>–</li>" : f.examples.map(htmlExample).join("")}</ol></div>`
    ),
    "</div>"
  ].join("\n")

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
    case "examples":
      return htmlExamples(b.caption, b.features)
  }
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
caption{text-align:left;font-style:italic;padding:4px 0}code{font-size:12px;background:#f4f4f4;white-space:pre-wrap}
figure{margin:1.5em 0}figcaption{font-size:13px;color:#555}
.examples .cap{font-style:italic;font-size:13px}.feature h4{margin:.8em 0 .2em}.feature ol{margin:0;padding-left:1.5em;font-size:13px}
.feature li{margin:2px 0}.act{font-variant-numeric:tabular-nums;font-weight:600}.ds{color:#666}
.ctx{white-space:pre-wrap}.tok{border-right:1px solid #ddd}.fire{background:#f59e0b;color:#000;font-weight:700;padding:0 2px;border-radius:2px}`

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
