/**
 * The `crosscode` command (effect/cli): one subcommand per stage plus `run`.
 *
 *   crosscode run <recipe> [--dry-run] [--force <stage>]… [--until <stage>] [--cluster postgres://…]
 *   crosscode runner --cluster postgres://… [--backend …]   (a cluster runner: src/cluster, docs/scale-out.md)
 *   crosscode harvest|train|evaluate|rank|steer <recipe> [--force]
 *   crosscode report <recipe | run directory>
 *   crosscode bfcl --model DIR [--style qwen|python] [--categories …] [--n N] … (BFCL v4 non-live, see bfcl.ts)
 *
 * Shared flags: --model-a, --model-b, --tokenizer, --run-dir, --set key.path=value (repeatable),
 * --backend. See docs/cli.md.
 */
import { platformErrorMessage, TensorBackend } from "@crosscode/core"
import { Plugins } from "@crosscode/crosscoder"
import { Console, Effect, FileSystem, Layer, Option, Path } from "effect"
import { Argument, CliError, Command, Flag } from "effect/cli"
import {
  batchPromptsFlag,
  clusterFlags,
  harvestRangeTextsFlag,
  recipeRef,
  runDistributed,
  runnerCommand
} from "../cluster/cli.js"
import { errorMessage, RecipeError } from "../recipe/errors.js"
import { decodeRecipe, type LoadedRecipe, loadRecipe, type RecipeOverrides } from "../recipe/load.js"
import { formatPlan, planStages, type RunOptions, runStages } from "../recipe/runner.js"
import { STAGES, type Stage } from "../recipe/schema.js"
import { collectReportData } from "../report/data.js"
import { headlineLines } from "../report/summary.js"
import { BACKENDS } from "./backends.js"
import { bfclCommand } from "./bfcl.js"
import { CommandFailed, describeFailure, ExitCode, exitCodeOf } from "./exitCodes.js"

export const VERSION = "0.1.0"

const recipeArg = Argument.String("recipe").pipe(
  Argument.withDescription("Recipe file (JSON), e.g. examples/recipes/embedded.json")
)

const shared = {
  modelA: Flag.String("model-a").pipe(
    Flag.withDescription("Directory of model A (overrides the recipe's models.A)"),
    Flag.optional
  ),
  modelB: Flag.String("model-b").pipe(
    Flag.withDescription("Directory of model B (overrides the recipe's models.B)"),
    Flag.optional
  ),
  tokenizer: Flag.String("tokenizer").pipe(
    Flag.withDescription("Tokenizer directory (overrides the recipe's tokenizer)"),
    Flag.optional
  ),
  runDir: Flag.String("run-dir").pipe(
    Flag.withDescription("Run directory (overrides the recipe's runDir)"),
    Flag.optional
  ),
  set: Flag.String("set").pipe(
    Flag.withDescription(
      "Override a recipe field before validation: key.path=value (value is JSON, else a string); repeatable"
    ),
    Flag.atLeast(0)
  ),
  backend: Flag.Literals("backend", BACKENDS).pipe(
    Flag.withDescription("TensorFlow.js backend (overrides the recipe and CROSSCODE_BACKEND)"),
    Flag.optional
  )
}

interface SharedInput {
  readonly recipe: string
  readonly modelA: Option.Option<string>
  readonly modelB: Option.Option<string>
  readonly tokenizer: Option.Option<string>
  readonly runDir: Option.Option<string>
  readonly set: ReadonlyArray<string>
  readonly backend: Option.Option<(typeof BACKENDS)[number]>
}

const overridesOf = (i: SharedInput): RecipeOverrides => ({
  ...Option.match(i.modelA, { onNone: () => ({}), onSome: (modelA) => ({ modelA }) }),
  ...Option.match(i.modelB, { onNone: () => ({}), onSome: (modelB) => ({ modelB }) }),
  ...Option.match(i.tokenizer, { onNone: () => ({}), onSome: (tokenizer) => ({ tokenizer }) }),
  ...Option.match(i.runDir, { onNone: () => ({}), onSome: (runDir) => ({ runDir }) }),
  set: i.set
})

/** A recipe file, or a run directory holding the `recipe.json` a run wrote. */
const loadRecipeOrRun = (
  target: string,
  overrides: RecipeOverrides
): Effect.Effect<LoadedRecipe, RecipeError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const abs = path.resolve(overrides.cwd ?? process.cwd(), target)
    const isDir = yield* fs.stat(abs).pipe(
      Effect.map((s) => s.type === "Directory"),
      Effect.catch(() => Effect.succeed(false))
    )
    if (!isDir) return yield* loadRecipe(target, overrides)
    const file = path.join(abs, "recipe.json")
    const notARun = (why: string) =>
      new RecipeError({ file, message: `${abs} is not a run directory (no readable recipe.json): ${why}` })
    const text = yield* fs.readFileString(file).pipe(Effect.mapError((e) => notARun(platformErrorMessage(e))))
    const stored = yield* Effect.try({
      try: () => JSON.parse(text) as { file: string; recipe: unknown },
      catch: (e) => notARun(errorMessage(e))
    })
    return yield* decodeRecipe(stored.recipe, stored.file, { ...overrides, runDir: overrides.runDir ?? abs })
  })

/** Loads the recipe and runs `options` with the tensor backend and the crosscoder plugins. */
export const execute = (
  input: SharedInput,
  options: RunOptions & { readonly dryRun?: boolean; readonly headline?: boolean }
) =>
  Effect.gen(function* () {
    const loaded = yield* (
      options.stages?.length === 1 && options.stages[0] === "report" ? loadRecipeOrRun : loadRecipe
    )(input.recipe, overridesOf(input))
    if (options.dryRun === true) {
      yield* Console.log(formatPlan(loaded, planStages(loaded, options)))
      return
    }
    const choice = Option.getOrUndefined(input.backend) ?? loaded.recipe.backend
    const backend = choice !== undefined ? TensorBackend.layerFor(choice) : TensorBackend.layer
    yield* runStages(loaded, options).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(backend, Plugins.layer)))
    if (options.headline ?? true) {
      yield* Console.log(headlineLines(yield* collectReportData(loaded.recipe.runDir, loaded.recipe)).join("\n"))
    }
  })

/** `run --cluster`: the coordinator of a distributed run (src/cluster). */
const executeDistributed = (
  input: SharedInput & {
    readonly force: ReadonlyArray<Stage>
    readonly host: string
    readonly port: Option.Option<number>
    readonly batchPrompts: number
    readonly harvestRangeTexts: number
  },
  url: string,
  stages: ReadonlyArray<Stage>
) =>
  Effect.gen(function* () {
    if (input.force.length > 0) {
      return yield* new RecipeError({
        file: input.recipe,
        message:
          "--force is not supported with --cluster: force the stage in a single-process run, or use another runDir"
      })
    }
    const loaded = yield* loadRecipe(input.recipe, overridesOf(input))
    const ref = recipeRef(loaded, {
      set: input.set,
      modelA: Option.getOrUndefined(input.modelA),
      modelB: Option.getOrUndefined(input.modelB),
      tokenizer: Option.getOrUndefined(input.tokenizer)
    })
    yield* runDistributed(loaded, ref, {
      url,
      stages,
      batchPrompts: input.batchPrompts,
      harvestRangeTexts: input.harvestRangeTexts,
      host: input.host,
      port: input.port
    })
    yield* Console.log(headlineLines(yield* collectReportData(loaded.recipe.runDir, loaded.recipe)).join("\n"))
  })

const runCommand = Command.make(
  "run",
  {
    recipe: recipeArg,
    ...shared,
    dryRun: Flag.Boolean("dry-run").pipe(
      Flag.withDescription("Validate the recipe and print the stage plan; run nothing"),
      Flag.withDefault(false)
    ),
    force: Flag.Literals("force", STAGES).pipe(
      Flag.withDescription("Rerun this stage from scratch, and every stage after it (repeatable)"),
      Flag.atLeast(0)
    ),
    until: Flag.Literals("until", STAGES).pipe(Flag.withDescription("Stop after this stage"), Flag.optional),
    ...clusterFlags,
    batchPrompts: batchPromptsFlag,
    harvestRangeTexts: harvestRangeTextsFlag
  },
  (i) => {
    const last = Option.match(i.until, { onNone: () => STAGES.length - 1, onSome: (s) => STAGES.indexOf(s) })
    const stages = STAGES.slice(0, last + 1)
    // one effect type for both paths (the distributed run's errors beside the single-process run's)
    const run: Effect.Effect<
      void,
      Effect.Error<ReturnType<typeof executeDistributed>> | Effect.Error<ReturnType<typeof execute>>,
      FileSystem.FileSystem | Path.Path
    > =
      Option.isSome(i.cluster) && !i.dryRun
        ? executeDistributed(i, i.cluster.value, stages)
        : execute(i, { stages, force: i.force, dryRun: i.dryRun })
    return run
  }
).pipe(
  Command.withDescription(
    "Run a recipe: harvest → train → evaluate → rank → steer → report, resuming whatever is already done"
  ),
  Command.withExamples([
    { command: "crosscode run examples/recipes/embedded.json", description: "The study on the embedded model pair" },
    {
      command: "crosscode run examples/recipes/paper-qwen2.5-3b.json --dry-run",
      description: "Check a recipe and see what would run"
    },
    {
      command: "crosscode run examples/recipes/embedded.json --force steer",
      description: "Redo the steering sweep and the report"
    }
  ])
)

const STAGE_HELP: Record<Exclude<Stage, "report">, string> = {
  harvest: "Harvest paired last-token activations of models A and B into <runDir>/harvest/store",
  train: "Train the recipe's crosscoders on the harvested activations (<runDir>/train/<name>)",
  evaluate: "Evaluate clean vs reconstruction for A and B with every crosscoder (<runDir>/evaluate)",
  rank: "Rank features by Cohen's d on tool prompts vs general text, with top-activating texts (<runDir>/rank/<name>)",
  steer: "Sweep feature steering over partitions × k% × α (<runDir>/steer)"
}

const stageCommand = (stage: Exclude<Stage, "report">) =>
  Command.make(
    stage,
    {
      recipe: recipeArg,
      ...shared,
      force: Flag.Boolean("force").pipe(
        Flag.withDescription(`Rerun ${stage} from scratch (deletes <runDir>/${stage})`),
        Flag.withDefault(false)
      )
    },
    (i) => execute(i, { stages: [stage], force: i.force ? [stage] : [], cascade: false, headline: false })
  ).pipe(
    Command.withDescription(`${STAGE_HELP[stage]}. Needs the earlier stages to be complete; resumes a partial run.`),
    Command.withExamples([
      { command: `crosscode ${stage} examples/recipes/embedded.json`, description: `Run only the ${stage} stage` }
    ])
  )

const reportCommand = Command.make(
  "report",
  {
    recipe: Argument.String("recipe").pipe(
      Argument.withDescription("Recipe file, or a run directory (holding recipe.json)")
    ),
    ...shared
  },
  (i) => execute(i, { stages: ["report"], headline: true })
).pipe(
  Command.withDescription("Write the report (Markdown, HTML, SVG plots) from whatever stages are complete"),
  Command.withExamples([
    { command: "crosscode report runs/embedded", description: "Rewrite the report of an existing run" }
  ])
)

export const crosscode = Command.make("crosscode").pipe(
  Command.withDescription("Model diffing with crosscoders: run the tool-use study (or any recipe) stage by stage"),
  Command.withSubcommands([
    runCommand,
    ...(["harvest", "train", "evaluate", "rank", "steer"] as const).map(stageCommand),
    reportCommand,
    bfclCommand,
    runnerCommand
  ])
)

/**
 * Runs the CLI on `argv` (without the node and script paths). A known failure is reported as one
 * line on stderr and fails as `CommandFailed { error, exitCode }` (the typed error, and the exit
 * code of docs/cli.md); anything else (a bug) fails as is.
 */
export const runCli = (argv: ReadonlyArray<string>) =>
  Command.runWith(crosscode, { version: VERSION })(argv).pipe(
    Effect.catch((e: unknown) => {
      const exitCode = exitCodeOf(e)
      if (exitCode === ExitCode.internal) return Effect.fail(e)
      const failed = Effect.fail(new CommandFailed({ error: e, exitCode }))
      // effect/cli has already shown parse errors with the help text
      return CliError.isCliError(e) ? failed : Effect.andThen(Console.error(`crosscode: ${describeFailure(e)}`), failed)
    })
  )
