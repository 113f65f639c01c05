/**
 * A new partition, defined outside @crosscode/crosscoder: for three models A, B, C, blocks of
 * features exclusive to each model, blocks shared by each pair, and a block shared by all three.
 * Feature ids are contiguous in this order: A | B | C | AB | AC | BC | ABC (the rest).
 */
import {
  definePartitionKind,
  type FeatureGroup,
  maskFromGroups,
  type PartitionSpec,
  rangeGroup,
  validatePartition
} from "@crosscode/crosscoder"
import { Result, Schema } from "effect"

export interface PairwisePartitionSpec extends PartitionSpec {
  readonly kind: "pairwise3"
  /** Size of each single-model block (fraction of F). */
  readonly exclusive: number
  /** Size of each pair block (fraction of F). */
  readonly pair: number
}

export const PairwisePartition = definePartitionKind<PairwisePartitionSpec>({
  kind: "pairwise3",
  schema: Schema.Struct({ kind: Schema.Literal("pairwise3"), exclusive: Schema.Finite, pair: Schema.Finite }),
  make: (spec, { features: F, models }) => {
    if (models.length !== 3) return Result.fail(`pairwise3 needs exactly 3 models, got ${models.length}`)
    const [a, b, c] = models as [string, string, string]
    const nEx = Math.floor(F * spec.exclusive)
    const nPair = Math.floor(F * spec.pair)
    if (3 * nEx + 3 * nPair > F) return Result.fail("pairwise3: blocks do not fit the dictionary")
    const blocks: Array<[string, Array<string>, number]> = [
      [`exclusive:${a}`, [a], nEx],
      [`exclusive:${b}`, [b], nEx],
      [`exclusive:${c}`, [c], nEx],
      [`pair:${a}+${b}`, [a, b], nPair],
      [`pair:${a}+${c}`, [a, c], nPair],
      [`pair:${b}+${c}`, [b, c], nPair]
    ]
    const groups: Array<FeatureGroup> = []
    const allowed: Array<{ group: FeatureGroup; models: Array<string> }> = []
    let off = 0
    for (const [name, ms, n] of blocks) {
      const g = rangeGroup(name, off, off + n)
      groups.push(g)
      allowed.push({ group: g, models: ms })
      off += n
    }
    const shared = rangeGroup("shared", off, F)
    groups.push(shared)
    allowed.push({ group: shared, models: [a, b, c] })
    const mask = maskFromGroups(F, models, allowed)
    if (Result.isFailure(mask)) return Result.fail(mask.failure)
    // the same mask for encoder (which models a feature reads) and decoder (which it writes)
    return validatePartition({
      spec,
      features: F,
      models,
      groups,
      encoderMask: mask.success,
      decoderMask: mask.success
    })
  }
})
