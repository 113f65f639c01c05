/**
 * The webgpu backend for tests: Dawn's software adapter (Mesa llvmpipe through OpenGL ES) unless
 * `CROSSCODE_WEBGPU_DAWN_FLAGS` / `CROSSCODE_WEBGPU_FEATURE_LEVEL` say otherwise (on a GPU machine:
 * `CROSSCODE_WEBGPU_DAWN_FLAGS= CROSSCODE_WEBGPU_FEATURE_LEVEL=core`).
 */
import { Effect } from "effect"
import { initTensorBackend, type WebgpuOptions } from "../src/index.js"

// Mesa's EGL without a display server; read when Dawn opens EGL, so set before the first init.
process.env.EGL_PLATFORM ??= "surfaceless"

export const webgpuOptions: WebgpuOptions = {
  dawnFlags: (process.env.CROSSCODE_WEBGPU_DAWN_FLAGS ?? "backend=opengles")
    .split(",")
    .map((f) => f.trim())
    .filter((f) => f !== ""),
  featureLevel: process.env.CROSSCODE_WEBGPU_FEATURE_LEVEL === "core" ? "core" : "compatibility"
}

/** Starts webgpu: `skip` says why it could not, `detail` describes the adapter. */
export const startWebgpu = async (): Promise<{ readonly skip?: string; readonly detail?: string }> => {
  return Effect.runPromise(
    initTensorBackend("webgpu", { webgpu: webgpuOptions }).pipe(
      Effect.match({
        onFailure: (e) => ({ skip: `no WebGPU backend here (${e.message})` }),
        onSuccess: (s) => ({ detail: s.detail ?? "unknown adapter" })
      })
    )
  )
}
