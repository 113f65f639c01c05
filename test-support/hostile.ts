/**
 * The hostile-input suite's runner. Each reader has a table of cases: a name, how to corrupt a
 * fresh copy of a valid input, and what must come out — a typed failure with a given `_tag` (and a
 * message naming what is wrong), or a correct result. A raw exception, a defect (a bug turned into
 * `Effect.die`) or an unexpected success fails the case: that is what "no crash, no silent wrong
 * result" means here.
 */
import { Cause, Exit } from "effect"
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

/** What a reader returned: an Exit (Effect readers) or the value / thrown error of a plain function. */
export type HostileOutcome<A> = Exit.Exit<A, unknown>

/** Runs a plain (non-Effect) reader and captures what it threw as a defect. */
export const outcomeOf = <A>(f: () => A): HostileOutcome<A> => {
  try {
    return Exit.succeed(f())
  } catch (e) {
    return Exit.die(e)
  }
}

/** Checks one outcome against its expectation (exported for suites with their own loops). */
export const checkOutcome = <A>(name: string, outcome: HostileOutcome<A>, expected: HostileExpectation<A>): void => {
  if ("ok" in expected) {
    if (Exit.isFailure(outcome)) throw new Error(`${name}: expected success, got ${Cause.pretty(outcome.cause)}`)
    expected.check?.(outcome.value)
    return
  }
  if (Exit.isSuccess(outcome)) throw new Error(`${name}: expected a ${expected.tag}, got success`)
  const error = Cause.findErrorOption(outcome.cause)
  if (error._tag === "None")
    throw new Error(`${name}: expected a ${expected.tag}, got a defect: ${Cause.pretty(outcome.cause)}`)
  const e = error.value as { _tag?: string; message?: string; path?: string; file?: string; field?: string }
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
