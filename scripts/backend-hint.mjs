#!/usr/bin/env node
// `pnpm install` ends with this one line: which TensorFlow.js backend `auto` will use and how to get
// a faster one. The native packages are opt-in (see docs/backends.md), so a default install is wasm.
import { createRequire } from "node:module"

const require = createRequire(new URL("../packages/core/package.json", import.meta.url))
const installed = (pkg) => {
  try {
    require.resolve(pkg)
    return true
  } catch {
    return false
  }
}
const native = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"].find(installed)
console.log(
  native !== undefined
    ? `crosscode: TensorFlow.js backend will be native (${native}).`
    : "crosscode: TensorFlow.js backend will be wasm; for native speed: pnpm add -w @tensorflow/tfjs-node@4.22.0 (or @tensorflow/tfjs-node-gpu@4.22.0 on CUDA), see docs/backends.md"
)
