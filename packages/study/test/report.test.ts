/**
 * The report generator on synthetic results: every table and plot is produced, numbers land in the
 * right cells, store texts are escaped, SVGs are real SVG, and `crosscode report <runDir>` rebuilds
 * it from a run directory's JSON files alone.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { Progress } from "@crosscode/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { afterAll, describe, expect, it, vi } from "vitest"
import { runCli } from "../src/cli/commands.js"
import type { SweepCell, SweepResult } from "../src/index.js"
import { loadRecipe } from "../src/recipe/load.js"
import type { Recipe } from "../src/recipe/schema.js"
import type { ConditionStats, DeltaStats } from "../src/recipe/stages/common.js"
import type { EvalSummary } from "../src/recipe/stages/evaluate.js"
import { type RankSummary, tokenContext } from "../src/recipe/stages/rank.js"
import type { CrosscoderSummary, CurvePoint } from "../src/recipe/stages/train.js"
import { collectReportData, mdCell, type ReportData, snippet, writeReport } from "../src/report/index.js"
import { headlineLines } from "../src/report/summary.js"
import { runFiles } from "./files.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const tmp = mkdtempSync(path.join(tmpdir(), "crosscode-report-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const recipe: Recipe = (
  await runFiles(loadRecipe(path.resolve(here, "../../../examples/recipes/embedded.json"), { cwd: tmp, env: {} }))
).recipe

const rate = (k: number, n: number) => ({
  n,
  k,
  pct: (100 * k) / n,
  lo: Math.max(0, (100 * k) / n - 10),
  hi: Math.min(100, (100 * k) / n + 10)
})
const cond = (run: string, k: number): ConditionStats => ({
  run,
  n: 40,
  tool: rate(k, 40),
  format: rate(k, 40),
  score: { mean: k / 40, sd: 0.5 }
})
const delta = (clean: number, treated: number): DeltaStats => ({
  n: 40,
  clean,
  treated,
  delta: treated - clean,
  ci: { lo: treated - clean - 8, hi: treated - clean + 8, p: 0.01 },
  mcnemar: { rescued: 5, broken: 1, p: 0.2 },
  formatDelta: treated - clean,
  scoreDelta: 0.3
})

const curve = (step: number, fve: number): CurvePoint => ({
  step,
  fve,
  mse: 1 - fve,
  l0: 16,
  l0PerGroup: { "exclusive:A": 1.5, "exclusive:B": 1.2, shared: 13.3 },
  deadFraction: 0.1,
  fvePerModel: { A: fve, B: fve - 0.01 }
})

const ccSummary = (name: string, dfc: boolean): CrosscoderSummary => {
  const spec = recipe.crosscoders.find((c) => c.name === name)!
  const F = 64
  return {
    name,
    spec,
    config: {
      architecture: {
        sources: [
          { model: "A", site: "block_output.2" },
          { model: "B", site: "block_output.2" }
        ],
        dim: 8,
        features: F
      },
      sparsity: { kind: "topk", k: 4 },
      partition: { kind: dfc ? "dfc" : "none" }
    },
    steps: 300,
    final: curve(300, 0.91),
    groups: dfc
      ? [
          { name: "exclusive:A", range: [0, 6], count: 6 },
          { name: "exclusive:B", range: [6, 12], count: 6 },
          { name: "shared", range: [12, F], count: F - 12 }
        ]
      : [{ name: "shared", range: [0, F], count: F }],
    integrity: { encoderMaxForbidden: 0, decoderMaxForbidden: 0 },
    relativeNormA: Array.from({ length: F }, (_, j) => (dfc && j < 6 ? 1 : dfc && j < 12 ? 0 : 0.3 + (j % 7) / 20)),
    evalRows: 1000,
    seconds: 12
  }
}

const cell = (
  partition: string,
  kPercent: number,
  alpha: number,
  features: Array<number>,
  steered: number | undefined
): SweepCell => ({
  id: `${partition}|k${kPercent}|a${alpha}`,
  partition,
  kPercent,
  alpha,
  features,
  parts: [{ group: partition, nTool: features.length, size: features.length }],
  status: steered === undefined ? "empty" : "done",
  ...(steered === undefined
    ? {}
    : {
        run: `steer|${alpha}`,
        stats: {
          n: 40,
          clean: 30,
          steered,
          delta: steered - 30,
          ci: { lo: steered - 40, hi: steered - 20, level: 0.95, p: 0.001 },
          mcnemar: { rescued: 10, broken: 0, p: 0.002 }
        }
      }),
  configHash: "h"
})

const cells: Array<SweepCell> = [
  ...[1, 6, 16, 32].map((a) => cell("A-excl", 10, a, [3], a === 1 ? 30 : 30 + a)),
  ...[1, 6, 16, 32].map((a) => cell("A-excl", 100, a, [3, 5], a === 1 ? 30 : 30 + a / 2)),
  ...[1, 6, 16, 32].map((a) => cell("B-excl", 10, a, [7], 30)),
  ...[1, 6, 16, 32].map((a) => cell("shared", 10, a, [20, 21], a === 32 ? 10 : 35))
]
const sweep: SweepResult = {
  metric: "paper.tool_correctness",
  target: "A",
  positions: "lastPrompt",
  configHash: "h",
  clean: { n: 40, value: 30, run: "clean" },
  reconstruction: { run: "recon", stats: { n: 40, clean: 30, steered: 45, delta: 15 } },
  cells,
  best: { flag: "best-of-grid (no multiple-comparison correction)", cell: cells[3]! },
  bestByPartition: {
    "A-excl": { flag: "best-of-grid (no multiple-comparison correction)", cell: cells[3]! },
    "B-excl": { flag: "best-of-grid (no multiple-comparison correction)", cell: cells[8]! }
  },
  resumedCells: 0,
  files: { records: "r", cells: "c", json: "j", csv: "v" }
}

const evaluate: EvalSummary = {
  n: 40,
  promptSet: "eval.jsonl",
  clean: { A: cond("clean", 12), B: cond("clean", 1) },
  crosscoders: [
    {
      name: "dfc",
      recon: { A: cond("recon:dfc", 18), B: cond("recon:dfc", 2) },
      delta: { A: delta(30, 45), B: delta(2.5, 5) }
    },
    {
      name: "cc",
      recon: { A: cond("recon:cc", 16), B: cond("recon:cc", 3) },
      delta: { A: delta(30, 40), B: delta(2.5, 7.5) }
    }
  ]
}

const rank: RankSummary = {
  crosscoder: "dfc",
  nTool: 200,
  nGeneral: 200,
  groups: [
    { group: "exclusive:A", size: 6, nTool: 2, nFilter: 1 },
    { group: "exclusive:B", size: 6, nTool: 1, nFilter: 0 },
    { group: "shared", size: 52, nTool: 9, nFilter: 4 }
  ],
  topFeatures: [
    {
      feature: 3,
      group: "exclusive:A",
      cohenD: 12.5,
      auroc: 0.99,
      fireRateTool: 0.97,
      fireRateGeneral: 0.01,
      meanTool: 3.1,
      meanGeneral: 0.01,
      passesFilter: true,
      relativeNormA: 1,
      topTexts: [
        {
          row: 17,
          activation: 7.25,
          dataset: "toolrl",
          id: "t:1",
          text: '<tool_call>\n{"name": "a|b"}\n</tool_call> `tick`',
          context: {
            tokens: ["<tool_call>", "\n", '{"name": "a|b"}', "\n", "</tool_call>", " `tick`"],
            firing: 5,
            position: 40,
            length: 41
          }
        },
        { row: 18, activation: 6.5, dataset: "general", text: "an older run without a token context ends here" }
      ]
    }
  ]
}

const data: ReportData = {
  title: "Synthetic study",
  runDir: path.join(tmp, "run"),
  generatedAt: "2026-01-01T00:00:00Z",
  recipe,
  harvest: {
    rows: 4000,
    shards: 2,
    datasets: ["toolrl", "general"],
    dim: 128,
    sources: [
      { model: "A", site: "block_output.2" },
      { model: "B", site: "block_output.2" }
    ],
    seconds: 50,
    rowsPerSecond: 80
  },
  crosscoders: [
    {
      summary: ccSummary("dfc", true),
      curve: [curve(100, 0.8), curve(200, 0.88), curve(300, 0.91)],
      log: [25, 50, 75].map((step) => ({
        step,
        loss: 0.1,
        mse: 0.09,
        l0: 16,
        l0PerGroup: { "exclusive:A": 1, "exclusive:B": 1, shared: 14 }
      }))
    },
    { summary: ccSummary("cc", false), curve: [curve(100, 0.82), curve(300, 0.92)], log: [] }
  ],
  evaluate,
  rank: [rank],
  sweep,
  singles: [16, 32].map((alpha) => ({
    partition: "A-excl",
    feature: 5,
    rank: 2,
    cohenD: 1.4,
    alpha,
    run: `single|A|f5|a${alpha}`,
    stats: delta(30, alpha === 16 ? 60 : 25)
  }))
}

describe("report", () => {
  it("writes Markdown, HTML, one SVG per plot and the data", async () => {
    const out = path.join(tmp, "report")
    const files = await runFiles(writeReport(data, out))
    expect(files.plots.map((p) => path.basename(p)).sort()).toEqual(
      [
        "alpha-curves.svg",
        "decoder-norms.svg",
        "reconstruction.svg",
        "steering-heatmap.svg",
        "training-curves.svg"
      ].sort()
    )
    for (const p of files.plots) {
      const svg = readFileSync(p, "utf8")
      expect(svg.startsWith("<svg")).toBe(true)
      expect(svg).toContain("</svg>")
      expect(existsSync(p.replace(/\.svg$/, ".vl.json"))).toBe(true)
    }
    const md = readFileSync(files.markdown, "utf8")
    // ΔA and ΔB with CIs
    expect(md).toContain("| dfc | +15.0 pp [+7.0, +23.0] | 5 / 1 (p 0.20) | +2.5 pp [-5.5, +10.5] |")
    expect(md).toContain("| A | clean | 30.0% [20.0, 40.0] |")
    // the steering grid, best cell and the B-exclusive check
    expect(md).toContain("*A-excl: Δ tool correctness in pp (steered %)*")
    expect(md).toContain("| 10% (1) | +0.0 (30.0) | +6.0 (36.0) | +16.0 (46.0) | +32.0 (62.0) |")
    expect(md).toContain(
      "Best cell — best-of-grid (no multiple-comparison correction): A-excl, k = 10% (|S| = 1: features 3), α = 32: 30.0% → 62.0%"
    )
    expect(md).toContain("largest |Δ| = 0.0 pp (exactly zero")
    // single-feature steering
    expect(md).toContain("| A-excl | #5 (2) | 1.40 | +30.0 (60.0) | -5.0 (25.0) |")
    // top features with their texts, escaped for a table
    expect(md).toContain("| #3 | exclusive:A | 12.50 | 0.990 | 97% / 1% | 1.00 |")
    expect(md).toContain("| 7.25 (toolrl) |")
    // top-activating examples: the tokens before the firing token (the window was cut), the firing one marked
    expect(md).toContain('  - 7.25 · toolrl · `…<tool_call>↵{"name": "a|b"}↵</tool_call>⟦ \'tick\'⟧`')
    expect(md).toContain("  - 6.50 · general · `an older run without a token context ends here`")
    // plots referenced
    for (const p of ["steering-heatmap", "alpha-curves", "decoder-norms", "training-curves", "reconstruction"])
      expect(md).toContain(`(${p}.svg)`)
    // α ticks are the α values tested; the heat-map outlines the best cell and writes white on dark cells
    const alphaAxis = JSON.stringify(JSON.parse(readFileSync(path.join(out, "alpha-curves.vl.json"), "utf8")))
    expect(alphaAxis).toContain('"axis":{"values":[1,6,16,32]')
    const heat = readFileSync(path.join(out, "steering-heatmap.svg"), "utf8")
    expect(heat).toContain('stroke="#f59e0b"')
    expect(heat).toMatch(/<text[^>]*fill="white">\+32\.0<\/text>/)
    expect(heat).toMatch(/<text[^>]*fill="black">\+6\.0<\/text>/)
    const html = readFileSync(files.html!, "utf8")
    expect(html).toContain("<svg")
    expect(html).toContain("&lt;tool_call&gt;")
    expect(html).not.toContain("<tool_call>")
    expect(html).toContain('<mark class="fire" title="activation 7.250"> `tick`</mark>')
    const back = JSON.parse(readFileSync(files.data, "utf8")) as ReportData
    expect(back.sweep?.best?.cell.id).toBe("A-excl|k10|a32")
  })

  it("shows what exists when stages are missing", async () => {
    const partial: ReportData = { ...data, crosscoders: [], rank: [] }
    delete (partial as { evaluate?: unknown }).evaluate
    delete (partial as { sweep?: unknown }).sweep
    const files = await runFiles(writeReport(partial, path.join(tmp, "partial")))
    expect(files.plots).toEqual([])
    expect(readFileSync(files.markdown, "utf8")).toContain("## Setup")
  })

  it("headline lines and text helpers", () => {
    const lines = headlineLines(data).join("\n")
    expect(lines).toContain("A 30.0%, B 2.5%")
    expect(lines).toContain("ΔA +15.0 pp [+7.0, +23.0]")
    expect(lines).toContain("B-exclusive steering: 4 cells, max |Δ| = 0.0 pp")
    expect(lines).toContain(
      "best single feature: A-excl #5 (rank 2 by d, d = 1.40), α = 16: 30.0% → 60.0% (Δ +30.0 pp)"
    )
    expect(snippet("a\n\n b   c", 10)).toBe("a b c")
    expect(snippet("x".repeat(20), 10)).toBe(`${"x".repeat(9)}…`)
    expect(mdCell({ text: "a|b`c", code: true })).toBe("`a\\|b'c`")
    expect(mdCell("<think>")).toBe("&lt;think&gt;")
  })

  it("`crosscode report <runDir>` rebuilds the report from the run directory's files", async () => {
    const runDir = path.join(tmp, "run")
    const put = (rel: string, value: unknown, jsonl = false) => {
      const f = path.join(runDir, rel)
      mkdirSync(path.dirname(f), { recursive: true })
      writeFileSync(
        f,
        jsonl ? `${(value as Array<unknown>).map((v) => JSON.stringify(v)).join("\n")}\n` : JSON.stringify(value)
      )
    }
    put("recipe.json", {
      file: path.resolve(here, "../../../examples/recipes/embedded.json"),
      recipe: { ...recipe, runDir }
    })
    put("harvest/summary.json", data.harvest)
    put("train/dfc/summary.json", data.crosscoders[0]!.summary)
    put("train/dfc/curve.jsonl", data.crosscoders[0]!.curve, true)
    put(
      "train/dfc/metrics.jsonl",
      [{ step: 25, loss: 0.2, terms: { mse: 0.19 }, l0: 16, l0PerGroup: { shared: 16 } }],
      true
    )
    put("evaluate/summary.json", evaluate)
    put("rank/dfc/top-features.json", rank)
    put("steer/sweep.json", sweep)
    expect((await runFiles(collectReportData(runDir, recipe))).crosscoders.map((c) => c.summary.name)).toEqual(["dfc"])
    const log = vi.spyOn(console, "log").mockImplementation(() => {})
    try {
      await runFiles(
        runCli(["report", runDir]).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, Progress.layerSilent)))
      )
      expect(log.mock.calls.flat().join("\n")).toContain(
        "best steering cell (best-of-grid): A-excl |S| = 1 (features 3), α = 32: 30.0% → 62.0%"
      )
    } finally {
      log.mockRestore()
    }
    const md = readFileSync(path.join(runDir, "report", "report.md"), "utf8")
    expect(md).toContain("## Steering")
    expect(existsSync(path.join(runDir, "report", "steering-heatmap.svg"))).toBe(true)
  })
})

describe("tokenContext", () => {
  const tokenizer = { decode: (ids: ReadonlyArray<number>) => ids.map((i) => `<${i}>`).join("") }
  it("keeps the tokens before and after the firing position, cut at the window", () => {
    const ids = Array.from({ length: 100 }, (_, i) => i)
    const c = tokenContext(tokenizer, ids, 50)!
    expect(c.tokens[c.firing]).toBe("<50>")
    expect(c.tokens[0]).toBe("<26>")
    expect(c.tokens.at(-1)).toBe("<58>")
    expect({ position: c.position, length: c.length }).toEqual({ position: 50, length: 100 })
    const last = tokenContext(tokenizer, ids.slice(0, 3), 2)!
    expect(last).toEqual({ tokens: ["<0>", "<1>", "<2>"], firing: 2, position: 2, length: 3 })
    expect(tokenContext(tokenizer, ids, 100)).toBeUndefined()
  })
})

/** A Chromium on PATH (Debian's package `chromium`), or `CROSSCODE_CHROMIUM`. */
const chromium = [process.env["CROSSCODE_CHROMIUM"], "chromium", "chromium-browser", "google-chrome"]
  .filter((c): c is string => c !== undefined && c !== "")
  .find((c) => spawnSync(c, ["--version"], { stdio: "ignore" }).status === 0)
if (chromium === undefined)
  console.warn(
    "report in a browser: skipped, no chromium on PATH (apt-get install -y chromium, or set CROSSCODE_CHROMIUM)"
  )

describe.skipIf(chromium === undefined)("report in a browser (headless Chromium)", () => {
  const headless = (profile: string, ...args: Array<string>) =>
    spawnSync(
      chromium!,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        ...args
      ],
      { encoding: "utf8", timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }
    )

  it("renders the page, and every plot has a legend and axis titles", async () => {
    const out = process.env["CROSSCODE_REPORT_SHOTS"] ?? path.join(tmp, "report-browser")
    const files = await runFiles(writeReport(data, out))
    const url = pathToFileURL(files.html!).href
    const shot = path.join(out, "report.png")
    const screenshot = headless(path.join(tmp, "chromium-1"), `--screenshot=${shot}`, "--window-size=1200,5000", url)
    expect(existsSync(shot), `no screenshot: ${screenshot.stderr}`).toBe(true)
    // a rendered page, not a blank one: a PNG well beyond an empty white page's size
    const png = readFileSync(shot)
    expect(png.subarray(1, 4).toString()).toBe("PNG")
    expect(png.length).toBeGreaterThan(50_000)

    const dump = headless(path.join(tmp, "chromium-2"), "--dump-dom", url)
    expect(dump.status, dump.stderr).toBe(0)
    const figures = dump.stdout.split("<figure>").slice(1)
    expect(figures.length).toBe(files.plots.length)
    for (const fig of figures) {
      const title = /<figcaption>([^<]{0,60})/.exec(fig)?.[1]
      expect(fig, `a plot without a legend: ${title}`).toMatch(/class="[^"]*role-legend[^"]*"/)
      const axisTitles = fig.match(/class="[^"]*role-axis-title[^"]*"/g) ?? []
      expect(axisTitles.length, `a plot without both axis titles: ${title}`).toBeGreaterThanOrEqual(2)
    }
    // the top-activating examples render with the firing token marked
    expect(dump.stdout).toContain('<mark class="fire"')
  }, 120_000)
})
