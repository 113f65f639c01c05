/**
 * `pnpm bench cli-harvest-memory [-- --layers 36 --texts 64 --backend native]`: issue 17 goal 3 through
 * the CLI. Writes one synthetic Qwen2.5-3B-shaped checkpoint (BF16, sharded at 1 GiB with
 * `model.safetensors.index.json`, `--layers` blocks), points models A and B at it (B through a
 * symbolic link, so the study's model cache loads it twice, as for two real models), and runs
 * `crosscode run <paper recipe> --until harvest` at the paper's site (block 13) over `--texts` short
 * texts, in a child process whose peak RSS the kernel reports (`/proc/<pid>/status` VmHWM, read just
 * before it exits, and `/usr/bin/time` where installed). Needs ~7 GB of disk (36 blocks) and a
 * machine with ≥ 16 GB of RAM.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import * as path from "node:path"
import { writeBenchRecords } from "@crosscode/core"
import { qwen25_3bShape, writeSyntheticQwen2 } from "../../core/bench/syntheticCheckpoint.js"

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? undefined : process.argv[i + 1]
}
const layers = Number(arg("layers") ?? 36)
const texts = Number(arg("texts") ?? 64)
const backend = arg("backend") ?? "native"
const site = Math.min(13, layers - 1)
const root = path.resolve(import.meta.dirname, "..", "..", "..")

const dir = mkdtempSync(path.join(tmpdir(), "crosscode-cli-harvest-mem-"))
try {
  const config = await qwen25_3bShape(layers)
  const modelA = path.join(dir, "model-a")
  mkdirSync(modelA)
  const t0 = performance.now()
  await writeSyntheticQwen2(modelA, config, { shardBytes: 2 ** 30, seed: 0x9e3779b9 })
  console.log(`synthetic checkpoint: ${layers} blocks, written in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  const modelB = path.join(dir, "model-b")
  symlinkSync(modelA, modelB)
  const words = readFileSync(path.join(root, "examples/data/embedded/harvest-general.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .slice(0, texts)
  const data = path.join(dir, "texts.jsonl")
  writeFileSync(data, `${words.join("\n")}\n`)
  const paper = JSON.parse(readFileSync(path.join(root, "examples/recipes/paper-qwen2.5-3b.json"), "utf8"))
  const recipe = {
    ...paper,
    name: "cli-harvest-memory",
    runDir: path.join(dir, "run"),
    backend,
    models: { A: modelA, B: modelB },
    tokenizer: path.join(root, "examples/models/embedded-base"),
    site: { layer: site },
    // only the harvest runs; the crosscoders' batch must still fit the rows (the recipe check)
    crosscoders: paper.crosscoders.map((c: { batchSize: number }) => ({
      ...c,
      batchSize: Math.min(c.batchSize, texts)
    })),
    harvest: {
      ...paper.harvest,
      text: { kind: "mix", sources: [{ kind: "jsonl", path: data, field: "text", dataset: "general", samples: texts }] }
    }
  }
  const recipeFile = path.join(dir, "recipe.json")
  writeFileSync(recipeFile, JSON.stringify(recipe, null, 1))

  const cli = path.join(root, "packages/study/src/cli.ts")
  const load = loadavg()
  const t1 = performance.now()
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--conditions=source", cli, "run", recipeFile, "--until", "harvest"],
    { cwd: root, stdio: ["ignore", "inherit", "inherit"] }
  )
  // VmHWM is the process's RSS high-water mark; read it until the process is gone.
  let peakKb = 0
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s*(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))
      if (m !== null) peakKb = Math.max(peakKb, Number(m[1]))
    } catch {}
  }, 100)
  const code: number = await new Promise((resolve) => child.on("exit", (c) => resolve(c ?? 1)))
  clearInterval(poll)
  const seconds = (performance.now() - t1) / 1000
  if (code !== 0) throw new Error(`crosscode run exited ${code}`)
  const rows = existsSync(path.join(dir, "run"))
    ? JSON.parse(readFileSync(path.join(dir, "run", "harvest", "store", "manifest.json"), "utf8")).rows
    : Number.NaN
  console.log(
    `crosscode run --until harvest: two ${layers}-block models, block ${site}: peak RSS ${(peakKb / 2 ** 20).toFixed(2)} GiB, ${seconds.toFixed(0)} s, load ${load.map((l) => l.toFixed(1)).join(" ")}`
  )
  writeBenchRecords("cli-harvest-memory", [
    {
      name: "study.cli_harvest_memory",
      backend,
      shape: { hidden: 2048, layers, site, models: 2, texts, vocab: 151936, weights: "BF16" },
      value: (peakKb * 1024) / 2 ** 30,
      unit: "GiB peak RSS",
      extra: { seconds, rows, load1: load[0] ?? Number.NaN },
      peakRssBytes: peakKb * 1024
    }
  ])
} finally {
  rmSync(dir, { recursive: true, force: true })
}
