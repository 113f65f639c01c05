/** `crosscode runner`: joins the cluster as a runner and processes messages until stopped. */
import { TensorBackend } from "@crosscode/core"
import { Plugins } from "@crosscode/crosscoder"
import { Effect, Layer, Option } from "effect"
import type { BACKENDS } from "../cli/backends.js"
import { clusterLayer, freePort, pgLayer } from "./node.js"
import { ensureRecordsTable } from "./records.js"
import { workerLayer } from "./worker.js"

export const runRunner = (i: {
  readonly cluster: string
  readonly host: string
  readonly port: Option.Option<number>
  readonly backend: Option.Option<(typeof BACKENDS)[number]>
}) =>
  Effect.gen(function* () {
    const port = Option.isSome(i.port) ? i.port.value : yield* freePort(i.host)
    const name = `${i.host}:${port}`
    const backend = Option.match(i.backend, { onNone: () => TensorBackend.layer, onSome: TensorBackend.layerFor })
    const cluster = clusterLayer({ url: i.cluster, role: "runner", host: i.host, port })
    yield* Effect.logInfo(`runner ${name}: joining ${i.cluster.replace(/:[^:@/]*@/, ":***@")}`)
    yield* ensureRecordsTable.pipe(Effect.provide(pgLayer(i.cluster)))
    return yield* Layer.launch(
      workerLayer(name).pipe(Layer.provide(Layer.mergeAll(backend, Plugins.layer)), Layer.provide(cluster))
    )
  })
