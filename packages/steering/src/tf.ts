/**
 * TensorFlow.js types derived from the `TensorBackend` service of @crosscode/core, so this package
 * uses exactly the engine core initialised. At runtime every op goes through `backend.tf`.
 */
import type { TensorBackendShape } from "@crosscode/core"

export type TF = TensorBackendShape["tf"]
export type Tensor = ReturnType<TF["tensor"]>
export type Tensor2D = ReturnType<TF["tensor2d"]>
export type Tensor3D = ReturnType<TF["tensor3d"]>
