/**
 * Converter from the 2606.26474 authors' checkpoint layout (`dfc.py`), once the torch state dict
 * has been exported to safetensors:
 *   model.safetensors: W_enc (2, d, D), b_enc (D), W_dec (D, 2, d), b_dec (2, d),
 *                      enc_mask (2, D), dec_mask (D, 2)        (any float dtype)
 *   config.json:       { activation_dim, dict_size, k, n_a, n_b }
 * Export with e.g. `safetensors.torch.save_file({k: v.float().contiguous() for k, v in sd.items()}, path)`.
 *
 * The result is a crosscoder with TopK(k), a `dfc` partition with counts [n_a, n_b] (or `none`
 * when both are 0) and no normalization (the authors did not save their z-score statistics; pass
 * them as `normalization` if you have them). Masks are checked against n_a / n_b; forbidden
 * weights are reported, and the forward pass masks them regardless.
 */

import * as path from "node:path"
import { TensorBackend } from "@crosscode/core"
import { Effect, Result, Schema } from "effect"
import { CheckpointError, CrosscoderConfigError } from "../errors.js"
import { Crosscoder, type CrosscoderConfig, resolvePlugins, sourcesFor } from "../model/Crosscoder.js"
import { identityNormalization, type Normalization } from "../model/Normalization.js"
import { readJson } from "../util/fs.js"
import { readSafetensors } from "./safetensors.js"

export const PaperConfigSchema = Schema.Struct({
  activation_dim: Schema.Int,
  dict_size: Schema.Int,
  k: Schema.Int,
  n_a: Schema.Int,
  n_b: Schema.Int
})
export type PaperConfig = typeof PaperConfigSchema.Type

export interface PaperConversionOptions {
  /** Directory holding `model.safetensors` and `config.json` (or give the two paths). */
  readonly dir?: string
  readonly safetensorsPath?: string
  readonly configPath?: string
  /** Labels of model 0 (the paper's A, the RL model) and model 1 (B, the base model). Default ["A", "B"]. */
  readonly models?: readonly [string, string]
  /** Site label of both sources (default "block_output.13"). */
  readonly site?: string
  /** Normalization the checkpoint was trained with, if known (default none). */
  readonly normalization?: Normalization
}

export interface PaperConversionReport {
  readonly config: PaperConfig
  /** Largest |W_enc| / |W_dec| entry the partition forbids (the authors report ≈ 0). */
  readonly encoderMaxForbidden: number
  readonly decoderMaxForbidden: number
}

/** Convert a paper-layout checkpoint into a `Crosscoder` (save it with `saveCrosscoder`). */
export const convertPaperCheckpoint = Effect.fn("convertPaperCheckpoint")(function* (options: PaperConversionOptions) {
  const backend = yield* TensorBackend
  const stPath = options.safetensorsPath ?? path.join(options.dir ?? ".", "model.safetensors")
  const cfgPath = options.configPath ?? path.join(options.dir ?? ".", "config.json")
  const cfg = yield* readJson(cfgPath).pipe(
    Effect.flatMap((raw) => Schema.decodeUnknownEffect(PaperConfigSchema)(raw)),
    Effect.mapError((e) =>
      e instanceof CheckpointError
        ? e
        : new CheckpointError({ path: cfgPath, message: `not a paper config.json: ${e.message}` })
    )
  )
  const { activation_dim: d, dict_size: F, k, n_a, n_b } = cfg
  const { tensors } = yield* readSafetensors(stPath)
  const fail = (message: string) => new CheckpointError({ path: stPath, message })
  const get = (name: string, shape: ReadonlyArray<number>) =>
    Effect.gen(function* () {
      const t = tensors.get(name)
      if (t === undefined) return yield* fail(`missing tensor ${name} (have ${[...tensors.keys()].join(", ")})`)
      if (t.shape.join(",") !== shape.join(","))
        return yield* fail(`tensor ${name} has shape [${t.shape.join(", ")}], expected [${shape.join(", ")}]`)
      if (t.data instanceof Float32Array) return t.data
      if (t.data instanceof Float64Array || t.data instanceof Uint8Array || t.data instanceof Int32Array)
        return Float32Array.from(t.data)
      return yield* fail(`tensor ${name} has dtype ${t.dtype}`)
    })
  const W_enc = yield* get("W_enc", [2, d, F])
  const b_enc = yield* get("b_enc", [F])
  const W_dec = yield* get("W_dec", [F, 2, d])
  const b_dec = yield* get("b_dec", [2, d])
  if (n_a < 0 || n_b < 0 || n_a + n_b > F)
    return yield* fail(`config n_a = ${n_a}, n_b = ${n_b} do not fit dict_size ${F}`)
  // masks: enc_mask (2, D) zero at [1, 0:n_a] and [0, n_a:n_a+n_b]; dec_mask (D, 2) the transpose
  const expectedAllowed = (m: number, j: number) => (j < n_a ? m === 0 : j < n_a + n_b ? m === 1 : true)
  for (const [name, shape, at] of [
    ["enc_mask", [2, F], (m: number, j: number) => m * F + j],
    ["dec_mask", [F, 2], (m: number, j: number) => j * 2 + m]
  ] as const) {
    if (!tensors.has(name)) continue
    const mask = yield* get(name, shape)
    for (let m = 0; m < 2; m++) {
      for (let j = 0; j < F; j++) {
        const v = mask[at(m, j)]!
        if ((v !== 0) !== expectedAllowed(m, j)) {
          return yield* fail(
            `${name}[${name === "enc_mask" ? `${m}, ${j}` : `${j}, ${m}`}] = ${v} contradicts n_a = ${n_a}, n_b = ${n_b}`
          )
        }
      }
    }
  }
  const models = options.models ?? ["A", "B"]
  const config: CrosscoderConfig = {
    architecture: { sources: sourcesFor(models, options.site ?? "block_output.13"), dim: d, features: F },
    sparsity: { kind: "topk", k },
    partition: n_a + n_b > 0 ? { kind: "dfc", counts: [n_a, n_b] } : { kind: "none" }
  }
  const { sparsity, partition } = yield* resolvePlugins(config)
  const made = Crosscoder.fromParts({
    tf: backend.tf,
    config,
    sparsity,
    partition,
    normalization: options.normalization ?? identityNormalization(2, d),
    arrays: { W_enc, b_enc, W_dec, b_dec }
  })
  if (Result.isFailure(made)) return yield* new CrosscoderConfigError({ message: made.failure })
  const integrity = made.success.integrity()
  const report: PaperConversionReport = {
    config: cfg,
    encoderMaxForbidden: integrity.encoderMaxForbidden,
    decoderMaxForbidden: integrity.decoderMaxForbidden
  }
  return { crosscoder: made.success, report }
})
