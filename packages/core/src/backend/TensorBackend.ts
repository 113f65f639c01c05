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
import * as tf from "@tensorflow/tfjs-core"
// Gradients and chained ops (`t.reshape(…)`), which tfjs-core alone does not register in Node.
import "../../vendor/tfjs-core-extras.js"
import { Config, Context, Effect, Layer, Schema } from "effect"
import { NATIVE_BACKEND, registerNativeBackend } from "./native.js"

export const BackendNames = ["tensorflow-gpu", "tensorflow", "native", "wasm", "cpu", "webgpu"] as const
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
  /** What the backend runs on, where known (webgpu: the Dawn adapter). */
  readonly detail?: string
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
  if (!isInstalled(pkg)) throw new Error(`${pkg} is not installed (opt-in: add ${pkg}@4.22.0 for native speed)`)
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

/** Options of the `webgpu` backend (Dawn for Node). */
export interface WebgpuOptions {
  /**
   * Flags for Dawn's `create(flags)`, e.g. `["backend=vulkan"]`, or `["backend=opengles"]` for
   * Mesa's software OpenGL ES (llvmpipe) on a machine without a GPU. From
   * `CROSSCODE_WEBGPU_DAWN_FLAGS` (comma-separated) in `TensorBackend.layer`. Default: none.
   */
  readonly dawnFlags?: ReadonlyArray<string>
  /**
   * Adapter feature level. Dawn's OpenGL / OpenGL ES backends only offer `"compatibility"`
   * adapters. From `CROSSCODE_WEBGPU_FEATURE_LEVEL` in `TensorBackend.layer`. Default `"core"`.
   */
  readonly featureLevel?: "core" | "compatibility"
}

interface DawnAdapter {
  readonly info?: { readonly vendor?: string; readonly architecture?: string; readonly description?: string }
}
interface DawnGpu {
  requestAdapter(options?: Record<string, unknown>): Promise<DawnAdapter | null>
}

const SOFTWARE_WEBGPU_HINT =
  "for a software check without a GPU: EGL_PLATFORM=surfaceless CROSSCODE_WEBGPU_DAWN_FLAGS=backend=opengles CROSSCODE_WEBGPU_FEATURE_LEVEL=compatibility"

/**
 * WebGPU through Dawn for Node (`webgpu` npm package) and `@tensorflow/tfjs-backend-webgpu`.
 * Neither is a dependency: install both to enable it (see docs/backends.md). Checks that Dawn
 * finds an adapter before handing over to tfjs (which otherwise fails with a TypeError).
 * Returns a description of the adapter.
 */
const tryWebgpu = async (options: WebgpuOptions = {}): Promise<string> => {
  for (const pkg of ["webgpu", "@tensorflow/tfjs-backend-webgpu"]) {
    if (!isInstalled(pkg)) throw new Error(`${pkg} is not installed (install it to use the webgpu backend)`)
  }
  const flags = [...(options.dawnFlags ?? [])]
  const dawn = (await import("webgpu" as string)) as { create: (flags: Array<string>) => DawnGpu; globals: object }
  Object.assign(globalThis, dawn.globals)
  const gpu = dawn.create(flags)
  if (options.featureLevel === "compatibility") {
    // tfjs-backend-webgpu asks for an adapter without a feature level; Dawn's GL backends need it.
    const request = gpu.requestAdapter.bind(gpu)
    gpu.requestAdapter = (o = {}) => request({ ...o, featureLevel: "compatibility" })
  }
  const adapter = await gpu.requestAdapter()
  if (adapter === null) {
    const how = flags.length > 0 ? ` with flags [${flags.join(", ")}]` : ""
    throw new Error(
      `no WebGPU adapter (Dawn found no Vulkan/Metal/D3D12 device${how}; feature level ${options.featureLevel ?? "core"}); ${SOFTWARE_WEBGPU_HINT}`
    )
  }
  const info = adapter.info ?? {}
  const described = [info.vendor, info.architecture, info.description].filter((x) => x !== undefined && x !== "")
  const g = globalThis as { navigator?: object }
  if (g.navigator === undefined) Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true })
  Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true, writable: true })
  await import("@tensorflow/tfjs-backend-webgpu" as string)
  try {
    await setBackend("webgpu")
  } catch (e) {
    throw new Error(
      `@tensorflow/tfjs-backend-webgpu could not start on adapter "${described.join(" ") || "unknown"}" (${message(e)}; tfjs logs the cause above)`
    )
  }
  guardWebgpuReadSync()
  return `Dawn${flags.length > 0 ? ` [${flags.join(", ")}]` : ""}: ${described.join(" ") || "unknown adapter"}`
}

/** What a synchronous read on the webgpu backend in Node fails with. */
export const WEBGPU_READ_SYNC_MESSAGE =
  "webgpu backend in Node: tfjs-backend-webgpu 4.22 reads GPU tensors synchronously (dataSync/arraySync) through OffscreenCanvas, which Node lacks; only `await tensor.data()` works. crosscode-ts's stages read asynchronously; this synchronous read came from caller code (or decoderForward with a tensor of ids, or a TrainStep's synchronous `gradients`: use runStepAsync)"

/**
 * tfjs-backend-webgpu's `readSync` copies through an `OffscreenCanvas` (browser only): in Node it
 * throws `ReferenceError: OffscreenCanvas is not defined`. Replace that with an error that says
 * what is wrong and what to use instead. Async reads (`data()`) are unaffected.
 */
const guardWebgpuReadSync = (): void => {
  const backend = tf.backend() as unknown as { readSync: (dataId: object) => unknown }
  const readSync = backend.readSync.bind(backend)
  backend.readSync = (dataId) => {
    try {
      return readSync(dataId)
    } catch (e) {
      if (e instanceof ReferenceError && e.message.includes("OffscreenCanvas"))
        throw new Error(WEBGPU_READ_SYNC_MESSAGE)
      throw e
    }
  }
}

/** Each resolves when its backend is active; a string result describes the device. */
const initialisers: Record<BackendName, (o: InitOptions) => Promise<unknown>> = {
  "tensorflow-gpu": () => tryNative("tensorflow-gpu"),
  tensorflow: () => tryNative("tensorflow"),
  native: async () => {
    const detail = await registerNativeBackend()
    await setBackend(NATIVE_BACKEND)
    return `@crosscode/native: ${detail}`
  },
  wasm: tryWasm,
  webgpu: (o) => tryWebgpu(o.webgpu),
  cpu: async () => {
    // Registered only when asked for, so that no tensor op can land on it by default.
    await import("@tensorflow/tfjs-backend-cpu")
    await setBackend("cpu")
  }
}

/** Options of `initTensorBackend` / `TensorBackend.layerFor`. */
export interface InitOptions {
  /** Let `auto` end on the slow pure-JS `cpu` backend (default false). */
  readonly allowCpu?: boolean
  readonly webgpu?: WebgpuOptions
}

const tfName = (name: BackendName): string => (name === "tensorflow-gpu" ? "tensorflow" : name)

let initialised: Promise<TensorBackendShape> | undefined
let initialisedChoice: BackendChoice | undefined

const initialise = async (choice: BackendChoice, options: InitOptions): Promise<TensorBackendShape> => {
  const allowCpu = options.allowCpu ?? false
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
      const detail = await initialisers[name](options)
      return {
        name,
        tf,
        attempts,
        memoryBytes: () => tf.memory().numBytes,
        ...(typeof detail === "string" ? { detail } : {})
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
export const initTensorBackend = (choice: BackendChoice = "auto", options: InitOptions = {}) =>
  Effect.tryPromise({
    try: async () => {
      if (initialised === undefined || (choice !== "auto" && choice !== initialisedChoice)) {
        initialisedChoice = choice
        initialised = initialise(choice, options)
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
const webgpuDawnFlags = Config.String("CROSSCODE_WEBGPU_DAWN_FLAGS").pipe(Config.withDefault(""))
const webgpuFeatureLevel = Config.Literals(["core", "compatibility"] as const, "CROSSCODE_WEBGPU_FEATURE_LEVEL").pipe(
  Config.withDefault("core" as const)
)

/** Where native TensorFlow is documented (the line below is read by users who installed from npm). */
export const BACKENDS_DOC = "https://github.com/crosscode-ts/crosscode-ts/blob/main/docs/backends.md"

/**
 * One line: the backend in use and, when it is not native, how to get a faster one. The native
 * packages are opt-in (their install script downloads libtensorflow), so a default install runs
 * on wasm and says so once.
 */
export const backendSummary = (shape: Pick<TensorBackendShape, "name" | "detail">): string => {
  const what = `TensorFlow.js backend: ${shape.name}${shape.detail ? ` (${shape.detail})` : ""}`
  if (shape.name === "tensorflow" || shape.name === "tensorflow-gpu" || shape.name === "native") return what
  return `${what}; for native speed use CROSSCODE_BACKEND=native (@crosscode/native, built at install where OpenBLAS is) or add @tensorflow/tfjs-node@4.22.0 (or -gpu on CUDA), see ${BACKENDS_DOC}`
}

let announced = false

export class TensorBackend extends Context.Service<TensorBackend, TensorBackendShape>()(
  "@crosscode/core/TensorBackend"
) {
  /**
   * Chooses the backend from `CROSSCODE_BACKEND` (auto | tensorflow-gpu | tensorflow | native | wasm | webgpu | cpu);
   * webgpu also reads `CROSSCODE_WEBGPU_DAWN_FLAGS` and `CROSSCODE_WEBGPU_FEATURE_LEVEL` (see `WebgpuOptions`).
   */
  static readonly layer = Layer.effect(
    TensorBackend,
    Effect.gen(function* () {
      const choice = yield* backendChoice
      const flags = yield* webgpuDawnFlags
      const featureLevel = yield* webgpuFeatureLevel
      const dawnFlags = flags
        .split(",")
        .map((f) => f.trim())
        .filter((f) => f !== "")
      const shape = yield* initTensorBackend(choice, { webgpu: { dawnFlags, featureLevel } })
      const line = backendSummary(shape)
      if (choice === "auto" && !announced) {
        announced = true
        yield* Effect.logInfo(line)
      } else yield* Effect.logDebug(line)
      return TensorBackend.of(shape)
    })
  )

  /** A layer for an explicit backend, ignoring configuration (tests, benchmarks). */
  static readonly layerFor = (choice: BackendChoice, options: Omit<InitOptions, "allowCpu"> = {}) =>
    Layer.effect(
      TensorBackend,
      Effect.map(initTensorBackend(choice, { ...options, allowCpu: choice === "cpu" }), (shape) =>
        TensorBackend.of(shape)
      )
    )
}
