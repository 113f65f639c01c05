import { BackendNames } from "@crosscode/core"

/** The backends the `--backend` flags and a recipe's `backend` accept: core's, plus "auto". */
export const BACKENDS = ["auto", ...BackendNames] as const
