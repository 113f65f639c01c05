import { Schema } from "effect"

/**
 * An intervention that cannot be built for this prompt: an unknown model label or feature, a
 * position mode it does not support, a vector of the wrong size, a crosscoder that does not match
 * the models.
 */
export class InterventionError extends Schema.TaggedError<InterventionError>()("InterventionError", {
  intervention: Schema.String,
  message: Schema.String
}) {}

/** Bad input to feature ranking or subset selection (shape mismatch, empty prompt set, non-finite code). */
export class RankingError extends Schema.TaggedError<RankingError>()("RankingError", {
  message: Schema.String
}) {}

/** Reading or writing a ranking (or another steering output) file failed. */
export class SteeringIOError extends Schema.TaggedError<SteeringIOError>()("SteeringIOError", {
  path: Schema.String,
  message: Schema.String
}) {}
