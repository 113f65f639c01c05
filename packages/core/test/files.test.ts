/**
 * Small files go through the platform `FileSystem` the program provides: a config and a tokenizer
 * load from an in-memory file system (nothing of them on disk), a wrapping layer sees every path
 * `loadTokenizer` reads, and a platform failure becomes the package's typed error naming the file.
 */
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Path } from "effect"
import { describe, expect, it } from "vitest"
import {
  loadTokenizer,
  memoryFileSystem,
  readJsonLines,
  readModelType,
  readQwen2Config,
  recordingFileSystem
} from "../src/index.js"

const embedded = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../examples/models/embedded-base")

/** Node's file system (NodeServices), recording the paths read. */
const recordingNodeFs = (reads: Array<string>) =>
  recordingFileSystem(reads).pipe(Layer.provide(NodeServices.layer), Layer.merge(Path.layer))

describe("small-file I/O through the provided FileSystem", () => {
  const copy = (name: string) => readFileSync(path.join(embedded, name), "utf8")

  it("reads a model's config.json from an in-memory file system", async () => {
    const files = new Map([["/virtual/model/config.json", copy("config.json")]])
    const layer = memoryFileSystem(files)
    const { modelType } = await Effect.runPromise(readModelType("/virtual/model").pipe(Effect.provide(layer)))
    expect(modelType).toBe("qwen2")
    const config = await Effect.runPromise(readQwen2Config("/virtual/model").pipe(Effect.provide(layer)))
    expect(config.hidden_size).toBe(JSON.parse(copy("config.json")).hidden_size)
  })

  it("loads a tokenizer from an in-memory file system (optional files absent there)", async () => {
    const files = new Map([
      ["/virtual/model/tokenizer.json", copy("tokenizer.json")],
      ["/virtual/model/tokenizer_config.json", copy("tokenizer_config.json")]
    ])
    const tok = await Effect.runPromise(loadTokenizer("/virtual/model").pipe(Effect.provide(memoryFileSystem(files))))
    expect(tok.decode(tok.encode("hello world"))).toBe("hello world")
  })

  it("a wrapping layer sees every file loadTokenizer reads", async () => {
    const reads: Array<string> = []
    await Effect.runPromise(loadTokenizer(embedded).pipe(Effect.provide(recordingNodeFs(reads))))
    expect(reads.map((p) => path.basename(p)).sort()).toEqual([
      "chat_template.jinja",
      "generation_config.json",
      "tokenizer.json",
      "tokenizer_config.json"
    ])
  })

  it("a platform failure is the package's typed error naming the file", async () => {
    const layer = memoryFileSystem(new Map())
    const config = await Effect.runPromise(Effect.flip(readModelType("/virtual/none")).pipe(Effect.provide(layer)))
    expect(config).toMatchObject({ _tag: "ConfigError", path: "/virtual/none/config.json" })
    expect(config.message).toContain("NotFound")
    const tok = await Effect.runPromise(Effect.flip(loadTokenizer("/virtual/none")).pipe(Effect.provide(layer)))
    expect(tok).toMatchObject({ _tag: "TokenizerLoadError", path: "/virtual/none/tokenizer.json" })
    // a missing JSON-lines file is empty, through the same service
    expect(await Effect.runPromise(readJsonLines("/virtual/none.jsonl").pipe(Effect.provide(layer)))).toEqual([])
  })
})
