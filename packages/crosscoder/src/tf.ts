/**
 * TensorFlow.js types, derived from the `TensorBackend` service of @crosscode/core so that this
 * package uses exactly the engine (and the `@tensorflow/tfjs-core` copy) that core initialised.
 * At runtime every op goes through `backend.tf`; nothing here imports TensorFlow.js itself.
 */
import type { TensorBackendShape } from "@crosscode/core"

export type TF = TensorBackendShape["tf"]
export type Tensor = ReturnType<TF["tensor"]>
export type Scalar = ReturnType<TF["scalar"]>
export type Tensor1D = ReturnType<TF["tensor1d"]>
export type Tensor2D = ReturnType<TF["tensor2d"]>
export type Tensor3D = ReturnType<TF["tensor3d"]>
