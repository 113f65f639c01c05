/**
 * @crosscode/steering — feature ranking from crosscoder codes and runtime interventions through
 * crosscoder features (reconstruction, feature steering, clamping, ablation, fixed directions,
 * projection ablation), applied through the model's hooks. The steering sweep, which needs the eval
 * package, lives in @crosscode/study. See README.md.
 */
export * from "./errors.js"
export * from "./intervention/builtins.js"
export * from "./intervention/codes.js"
export * from "./intervention/Intervention.js"
export * from "./intervention/lockstep.js"
export * from "./intervention/PairEncoder.js"
export * from "./positions.js"
export * from "./ranking/io.js"
export * from "./ranking/rank.js"
export * from "./ranking/stats.js"
export type * from "./tf.js"
