/** The TensorFlow.js backends the `--backend` flags accept. */
export const BACKENDS = ["auto", "tensorflow-gpu", "tensorflow", "wasm", "webgpu", "cpu"] as const
