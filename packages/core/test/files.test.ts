/**
 * Small files go through the platform `FileSystem` the program provides: a config and a tokenizer
 * load from an in-memory file system (nothing of them on disk), a wrapping layer sees every path
 * `loadTokenizer` reads, and a platform failure becomes the package's typed error naming the file.
 */
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { NodeServices } from "@effect/platform-node"
import { Effect, FileSystem, Layer, Path, PlatformError } from "effect"
import { describe, expect, it } from "vitest"
import { loadTokenizer, readJsonLines, readModelType, readQwen2Config } from "../src/index.js"

const embedded = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../examples/models/embedded-base")

/** A read-only in-memory file system over `files` (path → text); everything else is NotFound. */
const memoryFs = (files: ReadonlyMap<string, string>) =>
  Layer.merge(
    FileSystem.layerNoop({
      readFileString: (p) => {
        const text = files.get(p)
        return text !== undefined
          ? Effect.succeed(text)
          : Effect.fail(
              PlatformError.systemError({
                _tag: "NotFound",
                module: "FileSystem",
                method: "readFileString",
                pathOrDescriptor: p
              })
            )
      }
    }),
    Path.layer
  )

/** Node's file system, recording every path read. */
const recordingFs = (reads: Array<string>) =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      return FileSystem.FileSystem.of({
        ...fs,
        readFileString: (p, encoding) => {
          reads.push(p)
          return fs.readFileString(p, encoding)
        }
      })
    })
  ).pipe(Layer.provide(NodeServices.layer), Layer.merge(Path.layer))

describe("small-file I/O through the provided FileSystem", () => {
  const copy = (name: string) => readFileSync(path.join(embedded, name), "utf8")

  it("reads a model's config.json from an in-memory file system", async () => {
    const files = new Map([["/virtual/model/config.json", copy("config.json")]])
    const layer = memoryFs(files)
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
    const tok = await Effect.runPromise(loadTokenizer("/virtual/model").pipe(Effect.provide(memoryFs(files))))
    expect(tok.decode(tok.encode("hello world"))).toBe("hello world")
  })

  it("a wrapping layer sees every file loadTokenizer reads", async () => {
    const reads: Array<string> = []
    await Effect.runPromise(loadTokenizer(embedded).pipe(Effect.provide(recordingFs(reads))))
    expect(reads.map((p) => path.basename(p)).sort()).toEqual([
      "chat_template.jinja",
      "generation_config.json",
      "tokenizer.json",
      "tokenizer_config.json"
    ])
  })

  it("a platform failure is the package's typed error naming the file", async () => {
    const layer = memoryFs(new Map())
    const config = await Effect.runPromise(Effect.flip(readModelType("/virtual/none")).pipe(Effect.provide(layer)))
    expect(config).toMatchObject({ _tag: "ConfigError", path: "/virtual/none/config.json" })
    expect(config.message).toContain("NotFound")
    const tok = await Effect.runPromise(Effect.flip(loadTokenizer("/virtual/none")).pipe(Effect.provide(layer)))
    expect(tok).toMatchObject({ _tag: "TokenizerLoadError", path: "/virtual/none/tokenizer.json" })
    // a missing JSON-lines file is empty, through the same service
    expect(await Effect.runPromise(readJsonLines("/virtual/none.jsonl").pipe(Effect.provide(layer)))).toEqual([])
  })
})
