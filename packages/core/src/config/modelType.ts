/** `model_type` dispatch: which family a Hugging Face directory belongs to. */
import { Effect, type FileSystem, Path } from "effect"
import { ConfigError, readJsonFile } from "./errors.js"

/** The `model_type` of `<dir>/config.json` (for family dispatch), with the raw object. */
export const readModelType = (
  dir: string
): Effect.Effect<
  { readonly modelType: string | undefined; readonly json: Record<string, unknown> },
  ConfigError,
  FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function* () {
    const file = (yield* Path.Path).join(dir, "config.json")
    const json = yield* readJsonFile(file)
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return yield* new ConfigError({ path: file, message: `${file}: expected a JSON object` })
    }
    const mt = (json as Record<string, unknown>).model_type
    if (mt !== undefined && typeof mt !== "string") {
      return yield* new ConfigError({
        path: file,
        field: "model_type",
        message: `${file}: field "model_type": expected a string`
      })
    }
    return { modelType: mt, json: json as Record<string, unknown> }
  })
