/**
 * Every eval record of a distributed run, keyed in PostgreSQL: (run key, output file, run label,
 * item id) is the primary key and a record is inserted with `ON CONFLICT DO NOTHING`, so a message
 * delivered twice (a runner killed after storing but before replying) never stores a record twice.
 * The coordinator counts rows to show progress per stage and runner, and writes the stage's JSONL
 * files from the rows, in prompt order, without listing the run directory. The record is stored
 * as the exact JSON line the runner wrote (`text`, not `jsonb`, which would reorder keys).
 *
 * Harvested text ranges are keyed the same way (run key, first and end text), so the coordinator
 * knows every range is in, and which runner harvested it, without listing the run directory.
 */
import type { EvalRecord } from "@crosscode/eval"
import { Array as Arr, Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Creates the tables if absent. Runners join at once, and concurrent `CREATE TABLE IF NOT EXISTS`
 * statements can fail in PostgreSQL (both insert the table's row type into pg_type; the loser gets
 * a unique violation), so the DDL runs in a transaction under an advisory lock.
 */
export const ensureRecordsTable = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.withTransaction(createTables(sql))
})

const createTables = (sql: SqlClient.SqlClient) =>
  Effect.gen(function* () {
    yield* sql`SELECT pg_advisory_xact_lock(hashtext('crosscode.records.ddl'))`
    yield* sql`CREATE TABLE IF NOT EXISTS crosscode_records (
    run_key text NOT NULL,
    stage text NOT NULL,
    output text NOT NULL,
    run text NOT NULL,
    item_id text NOT NULL,
    item_index integer NOT NULL,
    runner text NOT NULL,
    record text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_key, output, run, item_id)
  )`
    yield* sql`CREATE TABLE IF NOT EXISTS crosscode_harvest_ranges (
    run_key text NOT NULL,
    text_from integer NOT NULL,
    text_to integer NOT NULL,
    rows integer NOT NULL,
    batch_size integer NOT NULL,
    runner text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_key, text_from, text_to)
  )`
  })

/** A harvested text range (its store complete in the run directory); a second insert keeps the first. */
export const insertHarvestRange = (
  runKey: string,
  runner: string,
  r: { readonly from: number; readonly to: number; readonly rows: number; readonly batchSize: number }
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO crosscode_harvest_ranges ${sql.insert({
      run_key: runKey,
      text_from: r.from,
      text_to: r.to,
      rows: r.rows,
      batch_size: r.batchSize,
      runner
    })} ON CONFLICT DO NOTHING`
  })

/** The harvested ranges of a run key, in text order. */
export const readHarvestRanges = (runKey: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{ text_from: number; text_to: number; rows: number; batch_size: number; runner: string }>`
      SELECT text_from, text_to, rows, batch_size, runner FROM crosscode_harvest_ranges
      WHERE run_key = ${runKey} ORDER BY text_from`
  })

export interface StoredRecord {
  readonly stage: string
  readonly output: string
  readonly record: EvalRecord
}

/** Inserts records (existing keys are kept, not overwritten); returns how many were new. */
export const insertRecords = (runKey: string, runner: string, records: ReadonlyArray<StoredRecord>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = records.map((r) => ({
      run_key: runKey,
      stage: r.stage,
      output: r.output,
      run: r.record.run,
      item_id: r.record.itemId,
      item_index: r.record.index,
      runner,
      record: JSON.stringify(r.record)
    }))
    if (!Arr.isArrayNonEmpty(rows)) return 0
    const inserted = yield* sql<{ item_id: string }>`INSERT INTO crosscode_records ${sql.insert(rows)}
      ON CONFLICT DO NOTHING RETURNING item_id`
    return inserted.length
  })

/** Every record of a run key in file, run and prompt order (the order the files are written in). */
export const readStoredRecords = (runKey: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{ output: string; run: string; item_index: number; record: string }>`
      SELECT output, run, item_index, record FROM crosscode_records
      WHERE run_key = ${runKey} ORDER BY output, run, item_index`
  })

/** Records (and harvested ranges) stored so far, by stage and runner (the coordinator's progress). */
export const countRecords = (runKeys: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    if (runKeys.length === 0) return []
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{ stage: string; runner: string; n: number }>`
      SELECT stage, runner, count(*)::int AS n FROM crosscode_records
      WHERE ${sql.in("run_key", runKeys)} GROUP BY stage, runner
      UNION ALL
      SELECT 'harvest' AS stage, runner, count(*)::int AS n FROM crosscode_harvest_ranges
      WHERE ${sql.in("run_key", runKeys)} GROUP BY runner
      ORDER BY stage, runner`
  })
