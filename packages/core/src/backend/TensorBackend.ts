/**
 * The TensorFlow.js backend as an Effect service.
 *
 * TensorFlow.js keeps one global engine per process, so this service initialises that engine once
 * and reports what it chose. Preference order for `auto`:
 *   tfjs-node-gpu → tfjs-node (optionalDependencies, present only where libtensorflow installed)
 *   → wasm (always installed) → cpu (pure JS, ~40× slower than wasm: never chosen silently).
 * Only one native variant is ever tried: after a failed native import, importing the other one
 * floods the console with "kernel already registered" messages.
 */

import { createRequire } from "node:module"
import * as tf from "@tensorflow/tfjs"
import { Config, Context, Effect, Layer, Schema } from "effect"

export const BackendNames = ["tensorflow-gpu", "tensorflow", "wasm", "cpu", "webgpu"] as const
export type BackendName = (typeof BackendNames)[number]
export type BackendChoice = BackendName | "auto"

/** Why a backend earlier in the preference order was not used. */
export interface BackendAttempt {
  readonly backend: BackendName
  readonly reason: string
}

export class BackendError extends Schema.TaggedError<BackendError>()("BackendError", {
  requested: Schema.String,
  message: Schema.String
}) {}

export interface TensorBackendShape {
  /** The backend the global TensorFlow.js engine runs on. */
  readonly name: BackendName
  /** The TensorFlow.js namespace bound to that engine. */
  readonly tf: typeof tf
  /** Backends tried before `name`, with the reason each was skipped. */
  readonly attempts: ReadonlyArray<BackendAttempt>
  /** Bytes currently held by tensors (TensorFlow.js bookkeeping, not process RSS). */
  readonly memoryBytes: () => number
}

const require = createRequire(import.meta.url)

const isInstalled = (pkg: string): boolean => {
  try {
    require.resolve(pkg)
    return true
  } catch {
    return false
  }
}

const message = (e: unknown): string => (e instanceof Error ? (e.message.split("\n")[0] ?? String(e)) : String(e))

const setBackend = async (name: string): Promise<void> => {
  const ok = await tf.setBackend(name)
  if (!ok) throw new Error(`tf.setBackend("${name}") returned false`)
  await tf.ready()
}

const tryNative = async (name: "tensorflow-gpu" | "tensorflow"): Promise<void> => {
  const pkg = name === "tensorflow-gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node"
  if (!isInstalled(pkg)) throw new Error(`${pkg} is not installed (it is an optional dependency)`)
  await import(pkg)
  await setBackend("tensorflow")
}

let xnnFailures = 0

/**
 * How many times the wasm backend reported "XNN status for xnn_create_… is not successful" since
 * this process initialised it. tfjs-backend-wasm 4.22 prints that when XNNPACK cannot allocate
 * (wasm heap full) and then returns an *uninitialised* matMul result; callers compare the count
 * before and after a computation to refuse such results. Always 0 on other backends.
 */
export const wasmXnnFailureCount = (): number => xnnFailures

const tryWasm = async (): Promise<void> => {
  await import("@tensorflow/tfjs-backend-wasm")
  // The wasm module binds console.warn when it is instantiated (inside setBackend): bind it to a
  // wrapper that counts XNNPACK failures, then restore console.warn for everyone else.
  const original = console.warn
  console.warn = (...args: Array<unknown>) => {
    if (typeof args[0] === "string" && args[0].startsWith("XNN status")) xnnFailures++
    original.apply(console, args)
  }
  try {
    await setBackend("wasm")
  } finally {
    console.warn = original
  }
}

/**
 * WebGPU through Dawn for Node (`webgpu` npm package) and `@tensorflow/tfjs-backend-webgpu`.
 * Neither is a dependency: install both to enable it (see docs/backends.md).
 */
const tryWebgpu = async (): Promise<void> => {
  for (const pkg of ["webgpu", "@tensorflow/tfjs-backend-webgpu"]) {
    if (!isInstalled(pkg)) throw new Error(`${pkg} is not installed (install it to use the webgpu backend)`)
  }
  const dawn = (await import("webgpu" as string)) as { create: (flags: Array<string>) => unknown; globals: object }
  Object.assign(globalThis, dawn.globals)
  const g = globalThis as { navigator?: { gpu?: unknown } }
  if (g.navigator === undefined) Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true })
  ;(globalThis as unknown as { navigator: { gpu: unknown } }).navigator.gpu = dawn.create([])
  await import("@tensorflow/tfjs-backend-webgpu" as string)
  await setBackend("webgpu")
}

const initialisers: Record<BackendName, () => Promise<void>> = {
  "tensorflow-gpu": () => tryNative("tensorflow-gpu"),
  tensorflow: () => tryNative("tensorflow"),
  wasm: tryWasm,
  webgpu: tryWebgpu,
  cpu: () => setBackend("cpu")
}

const tfName = (name: BackendName): string => (name === "tensorflow-gpu" ? "tensorflow" : name)

let initialised: Promise<TensorBackendShape> | undefined
let initialisedChoice: BackendChoice | undefined

const initialise = async (choice: BackendChoice, allowCpu: boolean): Promise<TensorBackendShape> => {
  const attempts: Array<BackendAttempt> = []
  const order: ReadonlyArray<BackendName> =
    choice === "auto"
      ? [isInstalled("@tensorflow/tfjs-node-gpu") ? "tensorflow-gpu" : "tensorflow", "wasm", "cpu"]
      : [choice]
  for (const name of order) {
    if (name === "cpu" && choice === "auto" && !allowCpu) {
      attempts.push({ backend: "cpu", reason: "refused: set CROSSCODE_BACKEND=cpu to use the slow pure-JS backend" })
      break
    }
    try {
      await initialisers[name]()
      return {
        name,
        tf,
        attempts,
        memoryBytes: () => tf.memory().numBytes
      }
    } catch (e) {
      attempts.push({ backend: name, reason: message(e) })
    }
  }
  throw new Error(attempts.map((a) => `${a.backend}: ${a.reason}`).join("; "))
}

/**
 * Initialise the global engine (once per process). A second call with a different explicit
 * choice switches the engine's backend; tensors created earlier stay on their old backend, so
 * switch only before creating any.
 */
export const initTensorBackend = (choice: BackendChoice = "auto", options: { allowCpu?: boolean } = {}) =>
  Effect.tryPromise({
    try: async () => {
      if (initialised === undefined || (choice !== "auto" && choice !== initialisedChoice)) {
        initialisedChoice = choice
        initialised = initialise(choice, options.allowCpu ?? false)
        initialised.catch(() => {
          initialised = undefined
          initialisedChoice = undefined
        })
      }
      const shape = await initialised
      if (tf.getBackend() !== tfName(shape.name)) await setBackend(tfName(shape.name))
      return shape
    },
    catch: (e) => new BackendError({ requested: choice, message: message(e) })
  })

const backendChoice = Config.Literals([...BackendNames, "auto"] as const, "CROSSCODE_BACKEND").pipe(
  Config.withDefault("auto" as const)
)

export class TensorBackend extends Context.Service<TensorBackend, TensorBackendShape>()(
  "@crosscode/core/TensorBackend"
) {
  /** Chooses the backend from `CROSSCODE_BACKEND` (auto | tensorflow-gpu | tensorflow | wasm | webgpu | cpu). */
  static readonly layer = Layer.effect(
    TensorBackend,
    Effect.gen(function* () {
      const choice = yield* backendChoice
      const shape = yield* initTensorBackend(choice)
      yield* Effect.logDebug(`TensorFlow.js backend: ${shape.name}`)
      return TensorBackend.of(shape)
    })
  )

  /** A layer for an explicit backend, ignoring configuration (tests, benchmarks). */
  static readonly layerFor = (choice: BackendChoice) =>
    Layer.effect(
      TensorBackend,
      Effect.map(initTensorBackend(choice, { allowCpu: choice === "cpu" }), (shape) => TensorBackend.of(shape))
    )
}
