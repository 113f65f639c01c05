/** `ActivationStore.open(dir)`, `ActivationStore.layer(dir)`, `ActivationStore.readManifest(dir)`. */
export { type ActivationStoreShape, layer, type OpenOptions, open } from "./reader.js"
export { readManifest } from "./writer.js"
