/**
 * The two kinds of cluster process, as layers over effect/cluster's socket runners
 * (`NodeClusterSocket`) with PostgreSQL (`@effect/sql-pg`) for shard locks, runner membership,
 * messages, replies and workflow state:
 *
 * - the coordinator: a runner of the "coordinator" shard group, hosting the study workflow
 *   (`ClusterWorkflowEngine`); it does no model work;
 * - a runner: a runner of the "default" shard group, hosting the `StudyWorker` entity.
 *
 * The timings are shortened from effect's defaults (minutes) so a dead runner's shards and
 * messages move within seconds; every setting can still be overridden by effect's
 * `SHARDING_*`-style environment configuration (`ShardingConfig.layerFromEnv`).
 */

import { NodeClusterSocket } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Option, Redacted } from "effect"
import { RunnerAddress, type ShardingConfig } from "effect/cluster"
import { findFreePort } from "./postgres.js"
import { COORDINATOR_GROUP } from "./protocol.js"

export interface ClusterNodeOptions {
  /** `postgres://user@host:port/db` */
  readonly url: string
  readonly role: "coordinator" | "runner"
  /** Address other processes reach this one at. */
  readonly host: string
  readonly port: number
}

export const CLUSTER_TIMINGS: Partial<ShardingConfig.ShardingConfig["Service"]> = {
  shardsPerGroup: 64,
  entityMessagePollInterval: "1 second",
  refreshAssignmentsInterval: "1 second",
  runnerHealthCheckInterval: "3 seconds",
  // model work on the WebAssembly backend blocks the event loop for seconds at a time; a lock
  // refresh that times out (after min(refresh, expiration / 3)) drops every shard of the runner,
  // so these stay long. A killed runner's PostgreSQL session ends at once, and with it its
  // advisory locks, so they do not slow its replacement down.
  shardLockRefreshInterval: "20 seconds",
  shardLockExpiration: "60 seconds",
  entityMaxIdleTime: "10 minutes",
  entityTerminationTimeout: "5 seconds"
}

export const pgLayer = (url: string) => PgClient.layer({ url: Redacted.make(url), applicationName: "crosscode" })

/** Sharding for one process, with the PostgreSQL client (also used for the keyed records). */
export const clusterLayer = (o: ClusterNodeOptions) =>
  NodeClusterSocket.layer({
    storage: "sql",
    shardingConfig: {
      ...CLUSTER_TIMINGS,
      runnerAddress: Option.some(RunnerAddress.make(o.host, o.port)),
      availableShardGroups: ["default", COORDINATOR_GROUP],
      assignedShardGroups: [o.role === "coordinator" ? COORDINATOR_GROUP : "default"]
    }
  }).pipe(Layer.provideMerge(pgLayer(o.url)))

/** A free TCP port on `host` (for a runner started without `--port`). */
export const freePort = (host: string) => Effect.promise(() => findFreePort(host))
