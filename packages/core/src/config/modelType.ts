/** `model_type` dispatch: which family a Hugging Face directory belongs to. */
import * as path from "node:path"
import { Effect } from "effect"
import { ConfigError, readJsonFile } from "./errors.js"

/** The `model_type` of `<dir>/config.json` (for family dispatch), with the raw object. */
export const readModelType = (
  dir: string
): Effect.Effect<{ readonly modelType: string | undefined; readonly json: Record<string, unknown> }, ConfigError> => {
  const file = path.join(dir, "config.json")
  return Effect.flatMap(readJsonFile(file), (json) => {
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return Effect.fail(new ConfigError({ path: file, message: `${file}: expected a JSON object` }))
    }
    const mt = (json as Record<string, unknown>).model_type
    if (mt !== undefined && typeof mt !== "string") {
      return Effect.fail(
        new ConfigError({ path: file, field: "model_type", message: `${file}: field "model_type": expected a string` })
      )
    }
    return Effect.succeed({ modelType: mt, json: json as Record<string, unknown> })
  })
}
