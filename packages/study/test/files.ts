/** Runs test effects with Node's `FileSystem` and `Path` (records files, datasets). */
import { NodeServices } from "@effect/platform-node"
import { Effect, type FileSystem, type Path } from "effect"

export const runFiles = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>): Promise<A> =>
  Effect.runPromise(Effect.provide(effect, NodeServices.layer))

export const runFilesExit = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>) =>
  Effect.runPromiseExit(Effect.provide(effect, NodeServices.layer))
