/**
 * The hostile-input suite's runner. Each reader has a table of cases: a name, how to corrupt a
 * fresh copy of a valid input, and what must come out — a typed failure with a given `_tag` (and a
 * message naming what is wrong), or a correct result. A raw exception, a defect (a bug turned into
 * `Effect.die`) or an unexpected success fails the case: that is what "no crash, no silent wrong
 * result" means here.
 */
import { expect, it } from "vitest"

export type HostileExpectation<A> =
  /** A typed failure: its `_tag`, and a pattern its `path`/`file`/`field` + message must match. */
  | { readonly tag: string; readonly message?: RegExp }
  /** Success, with an optional check of the value. */
  | { readonly ok: true; readonly check?: (value: A) => void }

export interface HostileCase<Ctx, A = unknown> {
  readonly name: string
  /** Corrupts the input held by `ctx` (a fresh copy per case). */
  readonly corrupt: (ctx: Ctx) => void | Promise<void>
  readonly expect: HostileExpectation<A>
}

/**
 * What a reader returned: an effect `Exit` (from `Effect.runPromiseExit`, read structurally so that
 * this root folder needs no dependency), or {@link outcomeOf} for a plain function.
 */
export type HostileOutcome<A> =
  | { readonly _tag: "Success"; readonly value: A }
  | {
      readonly _tag: "Failure"
      readonly cause: {
        readonly reasons: ReadonlyArray<{ readonly _tag: string; readonly error?: unknown; readonly defect?: unknown }>
      }
    }

/** Runs a plain (non-Effect) reader; what it throws counts as a defect (a crash). */
export const outcomeOf = <A>(f: () => A): HostileOutcome<A> => {
  try {
    return { _tag: "Success", value: f() }
  } catch (e) {
    return { _tag: "Failure", cause: { reasons: [{ _tag: "Die", defect: e }] } }
  }
}

const describeReasons = (reasons: ReadonlyArray<{ _tag: string; error?: unknown; defect?: unknown }>): string =>
  reasons
    .map((r) => {
      const x = r._tag === "Fail" ? r.error : r.defect
      return `${r._tag}: ${x instanceof Error ? (x.stack ?? x.message) : JSON.stringify(x)}`
    })
    .join("; ")

/** Checks one outcome against its expectation (exported for suites with their own loops). */
export const checkOutcome = <A>(name: string, outcome: HostileOutcome<A>, expected: HostileExpectation<A>): void => {
  if ("ok" in expected) {
    if (outcome._tag === "Failure")
      throw new Error(`${name}: expected success, got ${describeReasons(outcome.cause.reasons)}`)
    expected.check?.(outcome.value)
    return
  }
  if (outcome._tag === "Success") throw new Error(`${name}: expected a ${expected.tag}, got success`)
  const fail = outcome.cause.reasons.find((r) => r._tag === "Fail")
  if (fail === undefined)
    throw new Error(`${name}: expected a ${expected.tag}, got ${describeReasons(outcome.cause.reasons)}`)
  const e = fail.error as { _tag?: string; message?: string; path?: string; file?: string; field?: string }
  expect(e._tag, `${name}: ${e.message}`).toBe(expected.tag)
  const text = [e.path, e.file, e.field, e.message].filter((x) => x !== undefined).join(" ")
  if (expected.message !== undefined) expect(text, name).toMatch(expected.message)
}

/**
 * Registers one vitest case per table row: `setup()` makes a fresh valid input, `corrupt` breaks
 * it, `read` runs the reader, and the outcome is checked.
 */
export const hostileCases = <Ctx, A>(
  cases: ReadonlyArray<HostileCase<Ctx, A>>,
  setup: () => Ctx | Promise<Ctx>,
  read: (ctx: Ctx) => Promise<HostileOutcome<A>>,
  timeout = 20_000
): void => {
  for (const c of cases) {
    it(
      c.name,
      async () => {
        const ctx = await setup()
        await c.corrupt(ctx)
        checkOutcome(c.name, await read(ctx), c.expect)
      },
      timeout
    )
  }
}
