/**
 * Reading back what the stages wrote (summaries, curves, trainer logs) through the platform
 * `FileSystem`: a missing file is "not there yet", a file that is there but unreadable or not JSON
 * is an error built by `fail` naming it.
 */
import { platformErrorMessage, readTextFileIfExists } from "@crosscode/core"
import { Effect, type FileSystem } from "effect"
import { errorMessage } from "./errors.js"

/** A JSON file, or `undefined` when it does not exist. */
export const readJsonIfExists = <A, E>(
  file: string,
  fail: (message: string) => E
): Effect.Effect<A | undefined, E, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const text = yield* readTextFileIfExists(file).pipe(
      Effect.mapError((e) => fail(`cannot read ${file}: ${platformErrorMessage(e)}`))
    )
    if (text === undefined) return undefined
    return yield* Effect.try({
      try: () => JSON.parse(text) as A,
      catch: (e) => fail(`${file}: not valid JSON (${errorMessage(e)})`)
    })
  })

/**
 * The JSON lines of a log the stages append to (missing = empty). A line that is not JSON is one
 * cut short by a crash and is skipped: these logs are for plots, and the writer trims them on resume.
 */
export const readLogLines = <A, E>(
  file: string,
  fail: (message: string) => E
): Effect.Effect<Array<A>, E, FileSystem.FileSystem> =>
  Effect.map(
    readTextFileIfExists(file).pipe(Effect.mapError((e) => fail(`cannot read ${file}: ${platformErrorMessage(e)}`))),
    (text) => {
      const out: Array<A> = []
      for (const line of (text ?? "").split("\n")) {
        if (line.trim() === "") continue
        try {
          out.push(JSON.parse(line) as A)
        } catch {
          // a line cut by a crash
        }
      }
      return out
    }
  )

/** Last record per step, sorted by step. */
export const byStep = <A extends { readonly step: number }>(xs: ReadonlyArray<A>): Array<A> => {
  const m = new Map<number, A>()
  for (const x of xs) m.set(x.step, x)
  return [...m.values()].sort((a, b) => a.step - b.step)
}
