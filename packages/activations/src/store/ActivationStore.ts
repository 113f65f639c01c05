/** `ActivationStore.open(dir)`, `.layer(dir)`, `.readManifest(dir)`, `.concatStores(…)` (a store from range-harvested parts). */

export { type ConcatOptions, type ConcatResult, concatStores, type StorePart } from "./concat.js"
export { type ActivationStoreShape, layer, type OpenOptions, open } from "./reader.js"
export { readManifest } from "./writer.js"
