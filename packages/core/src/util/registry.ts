/**
 * The one rule every plugin registry follows (model families in core, sparsity schemes and
 * partitions in the crosscoder, scorers in eval): built-ins are registered first, then the
 * program's own entries in the order given, and **a later entry replaces an earlier one under the
 * same name** — that is how a program swaps a built-in. Lookups of an unknown name fail with the
 * list of known names (each registry wraps {@link Registry.get} in its own typed error).
 */

export interface Registry<A> {
  /** Every registered name, in first-registration order. */
  readonly names: ReadonlyArray<string>
  /** The entry registered last under `name`. */
  readonly get: (name: string) => A | undefined
  /** Names whose built-in or earlier entry a later one replaced (for logs and tests). */
  readonly replaced: ReadonlyArray<string>
}

/**
 * A registry over `entries` (earliest first), each registered under the names `namesOf` gives
 * (one for a scheme or scorer; a model family registers every `model_type` it loads).
 */
export const makeRegistry = <A>(
  entries: ReadonlyArray<A>,
  namesOf: (entry: A) => string | ReadonlyArray<string>
): Registry<A> => {
  const table = new Map<string, A>()
  const replaced: Array<string> = []
  for (const entry of entries) {
    const names = namesOf(entry)
    for (const name of typeof names === "string" ? [names] : names) {
      if (table.has(name)) replaced.push(name)
      table.set(name, entry)
    }
  }
  return { names: [...table.keys()], get: (name) => table.get(name), replaced }
}
