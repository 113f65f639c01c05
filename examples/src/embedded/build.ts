/**
 * Builds the embedded A/B model pair from scratch, deterministically:
 *
 *   pnpm tsx --conditions=source examples/src/embedded/build.ts [stage…]
 *
 * Stages (default: all, in order): `tokenizer`, `base`, `tooluse`, `data`, `check`.
 * - tokenizer: generate the corpus, trim Qwen's BPE to it → examples/models/.build/tokenizer*.json
 * - base:      train model B (general text + prose about tools) → examples/models/embedded-base/
 * - tooluse:   fine-tune A from B on ToolRL-format dialogues → examples/models/embedded-tooluse/
 * - data:      write the prompt sets → examples/data/embedded/*.jsonl
 * - check:     greedy system-prompt-only evaluation of A and B with the paper rubric
 *
 * Environment: EMBEDDED_MODELS_DIR writes the models (and the .build/ tokenizer) elsewhere, e.g. to
 * compare a rebuild with the shipped files; EMBEDDED_STEPS_B, EMBEDDED_STEPS_A override the step
 * counts (for experiments only: the shipped models use the defaults).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import {
  disposeQwen2Weights,
  initQwen2Weights,
  initTensorBackend,
  loadModel,
  loadTokenizer,
  parseQwen2Config,
  type Qwen2Config,
  type Qwen2Weights,
  saveQwen2,
  TensorBackend
} from "@crosscode/core"
import { paperRubric } from "@crosscode/eval"
import { NodeServices } from "@effect/platform-node"
import { Tokenizer } from "@huggingface/tokenizers"
import * as tf from "@tensorflow/tfjs-core"
import { Effect, Layer } from "effect"
import {
  chunkText,
  coverageTexts,
  dialogueExample,
  evalPrompts,
  generalChunk,
  generalTexts,
  joinExample,
  type PromptRecord,
  systemOnlyExample,
  toolProse
} from "./corpus.js"
import { readSafetensorsF32 } from "./loadSafetensors.js"
import { makeRng, subSeed } from "./rng.js"
import { epochSampler, makeBatch, packRows, type TrainSeq, trainLoop } from "./train.js"
import { qwenTokenStrings, trimQwenTokenizer } from "./trimTokenizer.js"

export const SEED = 20260625

const here = dirname(fileURLToPath(import.meta.url))
export const EXAMPLES_DIR = resolve(here, "../..")
/** Where the models are written (EMBEDDED_MODELS_DIR overrides, e.g. to rebuild beside the shipped ones). */
export const MODELS_DIR = process.env.EMBEDDED_MODELS_DIR ?? join(EXAMPLES_DIR, "models")
export const BASE_DIR = join(MODELS_DIR, "embedded-base")
export const TOOLUSE_DIR = join(MODELS_DIR, "embedded-tooluse")
export const DATA_DIR = join(EXAMPLES_DIR, "data", "embedded")
const BUILD_DIR = join(MODELS_DIR, ".build")

/** Corpus sizes and training schedule (the numbers documented in docs/embedded-models.md). */
export const RECIPE = {
  generalDocs: 12000,
  proseDocs: 2400,
  dialogues: 2000,
  systemOnly: 2000,
  /** Share of system-prompt-only training examples that offer a single tool. */
  systemOnlySingleShare: 0.5,
  baseRowLen: 128,
  baseBatch: 16,
  baseSteps: Number(process.env.EMBEDDED_STEPS_B ?? 400),
  baseLr: 3e-3,
  toolBatch: 6,
  generalBatchA: 8,
  toolSteps: Number(process.env.EMBEDDED_STEPS_A ?? 600),
  toolLr: 2.5e-3,
  /** Evaluation: share of eval prompts offering a single tool. */
  evalSingleShare: 0.3,
  evalPrompts: 40,
  rankPrompts: 200,
  rankGeneral: 200,
  harvestExamples: 300,
  harvestGeneral: 2200,
  harvestPrompts: 1000
} as const

/** The config.json of both models (raw HF JSON; `parseQwen2Config` types it). */
export const modelConfig = (vocabSize: number, eosId: number) => ({
  architectures: ["Qwen2ForCausalLM"],
  model_type: "qwen2",
  attention_dropout: 0,
  bos_token_id: eosId,
  eos_token_id: eosId,
  hidden_act: "silu",
  hidden_size: 128,
  initializer_range: 0.02,
  intermediate_size: 352,
  max_position_embeddings: 1024,
  max_window_layers: 4,
  num_attention_heads: 4,
  num_hidden_layers: 4,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: "float32",
  use_cache: true,
  use_sliding_window: false,
  vocab_size: Math.ceil(vocabSize / 64) * 64
})

const log = (line: string): void => {
  process.stdout.write(`[embedded ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
}

/** The training corpus, a pure function of SEED. */
export const trainingCorpus = () => {
  const rng = makeRng(subSeed(SEED, "corpus"))
  const general = Array.from({ length: RECIPE.generalDocs }, () => generalChunk(rng))
  const prose = Array.from({ length: RECIPE.proseDocs }, () => toolProse(rng))
  const dialogues = Array.from({ length: RECIPE.dialogues }, () => dialogueExample(rng))
  const systemOnly = Array.from({ length: RECIPE.systemOnly }, (_, i) =>
    systemOnlyExample(rng, i < RECIPE.systemOnly * RECIPE.systemOnlySingleShare)
  )
  return { general, prose, dialogues, systemOnly }
}

const loadTok = (dir: string): Tokenizer =>
  new Tokenizer(
    JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")),
    JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"))
  )

const stageTokenizer = () => {
  const corpus = trainingCorpus()
  const texts = [
    ...coverageTexts(),
    ...corpus.general,
    ...corpus.prose,
    ...[...corpus.dialogues, ...corpus.systemOnly].flatMap((e) => {
      const j = joinExample(e)
      return [j.prefix, j.output, j.prefix + j.output]
    })
  ]
  const trimmed = trimQwenTokenizer(texts)
  mkdirSync(BUILD_DIR, { recursive: true })
  writeFileSync(join(BUILD_DIR, "tokenizer.json"), JSON.stringify(trimmed.tokenizerJson) + "\n")
  writeFileSync(join(BUILD_DIR, "tokenizer_config.json"), JSON.stringify(trimmed.tokenizerConfig, null, 2) + "\n")
  log(`tokenizer: ${trimmed.bpeSize} BPE tokens + added = ${trimmed.size}, ${trimmed.mergeCount} merges`)
  // held-out check: the trimmed tokenizer reproduces Qwen's tokens on fresh samples
  const qwen = qwenTokenStrings()
  const tok = loadTok(BUILD_DIR)
  const heldRng = makeRng(subSeed(SEED, "heldout-tokenizer"))
  let bad = 0
  const held = [
    ...Array.from({ length: 300 }, () => generalChunk(heldRng)),
    ...Array.from({ length: 100 }, () => toolProse(heldRng)),
    ...Array.from({ length: 100 }, () => {
      const j = joinExample(dialogueExample(heldRng))
      return j.prefix + j.output
    })
  ]
  for (const t of held) if (JSON.stringify(qwen(t)) !== JSON.stringify(tok.tokenize(t))) bad++
  log(`tokenizer: ${held.length - bad}/${held.length} held-out samples tokenized exactly as Qwen does`)
}

/** Training and evaluation run on the wasm backend (single-threaded kernels: deterministic). */
const useWasm = () => Effect.runPromise(initTensorBackend("wasm"))

const parseConfig = (raw: unknown, where: string): Promise<Qwen2Config> =>
  Effect.runPromise(parseQwen2Config(raw, where))

/** Trainable copies of a saved model's weights (core's safetensors codec). */
const loadTrainableWeights = (dir: string): Qwen2Weights =>
  Object.fromEntries(
    [...readSafetensorsF32(join(dir, "model.safetensors"))].map(([k, v]) => [
      k,
      tf.variable(tf.tensor(v.data, v.shape), true, k)
    ])
  )

/** An HF model directory: core's `saveQwen2` (config, generation config, safetensors) + the tokenizer files. */
const saveHfDir = (dir: string, c: Qwen2Config, weights: Qwen2Weights) =>
  Effect.runPromise(
    Effect.gen(function* () {
      yield* saveQwen2(dir, c, weights, { dtype: "F32", generationConfig: { doSample: false } })
      const t = tokenizerFiles()
      writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(t.json) + "\n")
      writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(t.config, null, 2) + "\n")
    })
  )

const stageBase = async () => {
  await useWasm()
  const tok = loadTok(BUILD_DIR)
  const eos = tok.token_to_id("<|endoftext|>") as number
  const tj = tokenizerFiles().json as { model: { vocab: Record<string, number> }; added_tokens: Array<unknown> }
  const c = await parseConfig(modelConfig(Object.keys(tj.model.vocab).length + tj.added_tokens.length, eos), "config")
  const corpus = trainingCorpus()
  const rng = makeRng(subSeed(SEED, "base-order"))
  const docs = rng.shuffle([...corpus.general, ...corpus.prose]).map((d) => tok.encode(d).ids)
  const rows = packRows(docs, eos, RECIPE.baseRowLen)
  log(`base: ${docs.length} docs → ${rows.length} rows of ${RECIPE.baseRowLen}; vocab ${c.vocab_size}`)
  const weights = initQwen2Weights(c, subSeed(SEED, "base-init"), { variables: true })
  const draw = epochSampler(rng, rows)
  const t0 = Date.now()
  trainLoop(c, weights, () => makeBatch(draw(RECIPE.baseBatch), eos), {
    steps: RECIPE.baseSteps,
    lr: RECIPE.baseLr,
    warmup: 30,
    minLrFrac: 0.1,
    clip: 1,
    log: (l) => log(`base ${l}`),
    logEvery: 25
  })
  log(`base: trained in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  await saveHfDir(BASE_DIR, c, weights)
  disposeQwen2Weights(weights)
}

const tokenizerFiles = () => ({
  json: JSON.parse(readFileSync(join(BUILD_DIR, "tokenizer.json"), "utf8")),
  config: JSON.parse(readFileSync(join(BUILD_DIR, "tokenizer_config.json"), "utf8"))
})

const stageTooluse = async () => {
  await useWasm()
  const tok = loadTok(BUILD_DIR)
  const eos = tok.token_to_id("<|endoftext|>") as number
  const c = await parseConfig(JSON.parse(readFileSync(join(BASE_DIR, "config.json"), "utf8")), BASE_DIR)
  const corpus = trainingCorpus()
  const rng = makeRng(subSeed(SEED, "tooluse-order"))
  const toolSeqs: Array<TrainSeq> = [...corpus.dialogues, ...corpus.systemOnly].map((e) => {
    const j = joinExample(e)
    const prefix = tok.encode(j.prefix).ids
    const out = tok.encode(j.output).ids
    // loss on the output and the closing <|endoftext|> only
    return { ids: [...prefix, ...out, eos], lossFrom: prefix.length - 1 }
  })
  const general = packRows(
    rng.shuffle(corpus.general).map((d) => tok.encode(d).ids),
    eos,
    RECIPE.baseRowLen
  )
  log(
    `tooluse: ${toolSeqs.length} tool examples (max ${Math.max(...toolSeqs.map((s) => s.ids.length))} tokens), ${general.length} general rows`
  )
  const weights = loadTrainableWeights(BASE_DIR)
  const drawTool = epochSampler(rng, toolSeqs)
  const drawGen = epochSampler(rng, general)
  const t0 = Date.now()
  trainLoop(
    c,
    weights,
    (step) =>
      step % 4 === 3 ? makeBatch(drawGen(RECIPE.generalBatchA), eos) : makeBatch(drawTool(RECIPE.toolBatch), eos),
    {
      steps: RECIPE.toolSteps,
      lr: RECIPE.toolLr,
      warmup: 20,
      minLrFrac: 0.1,
      clip: 1,
      log: (l) => log(`tooluse ${l}`),
      logEvery: 25
    }
  )
  log(`tooluse: trained in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  await saveHfDir(TOOLUSE_DIR, c, weights)
  disposeQwen2Weights(weights)
}

/** Prompt sets for evaluation, feature ranking and activation harvesting. */
export const promptSets = () => {
  const evalSet = evalPrompts(SEED, RECIPE.evalPrompts, RECIPE.evalSingleShare, "eval")
  const rankTool = evalPrompts(SEED, RECIPE.rankPrompts, RECIPE.evalSingleShare, "rank")
  const rankGeneral = generalTexts(SEED, RECIPE.rankGeneral, "rank-general")
  const hRng = makeRng(subSeed(SEED, "harvest"))
  const harvestTool = Array.from({ length: RECIPE.harvestExamples }, (_, i) => {
    const e = i % 4 === 3 ? systemOnlyExample(hRng, hRng.chance(0.5)) : dialogueExample(hRng)
    return chunkText([e.instruction, e.input, e.output].filter((s) => s.length > 0).join("\n\n"))
  }).flat()
  const harvestGeneral = generalTexts(SEED, RECIPE.harvestGeneral, "harvest-general")
  // whole system prompts (ending where A decides to call or greet), half of them single-tool
  const harvestPrompts = evalPrompts(SEED, RECIPE.harvestPrompts, 0.5, "harvest-prompts")
  return { evalSet, rankTool, rankGeneral, harvestTool, harvestGeneral, harvestPrompts }
}

const writeJsonl = (path: string, rows: ReadonlyArray<unknown>) =>
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join("\n") + "\n")

const stageData = () => {
  const s = promptSets()
  mkdirSync(DATA_DIR, { recursive: true })
  writeJsonl(join(DATA_DIR, "eval-tool-prompts.jsonl"), s.evalSet)
  writeJsonl(join(DATA_DIR, "rank-tool-prompts.jsonl"), s.rankTool)
  writeJsonl(
    join(DATA_DIR, "rank-general.jsonl"),
    s.rankGeneral.map((text, i) => ({ id: `rank-general-${i}`, text }))
  )
  writeJsonl(
    join(DATA_DIR, "harvest-tool.jsonl"),
    s.harvestTool.map((text, i) => ({ id: `harvest-tool-${i}`, text }))
  )
  writeJsonl(
    join(DATA_DIR, "harvest-general.jsonl"),
    s.harvestGeneral.map((text, i) => ({ id: `harvest-general-${i}`, text }))
  )
  writeJsonl(join(DATA_DIR, "harvest-tool-prompts.jsonl"), s.harvestPrompts)
  log(
    `data: ${s.evalSet.length} eval, ${s.rankTool.length}+${s.rankGeneral.length} rank, ${s.harvestTool.length}+${s.harvestGeneral.length}+${s.harvestPrompts.length} harvest`
  )
}

/** Greedy system-prompt-only evaluation with the paper rubric (no chat template), through core's `generate`. */
export const evaluateDir = async (dir: string, prompts: ReadonlyArray<PromptRecord>, maxNewTokens = 100) => {
  const results = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const lm = yield* loadModel(dir)
        const tok = yield* loadTokenizer(dir)
        const gens = yield* lm.generate({ prompts: prompts.map((p) => tok.encode(p.prompt)), maxNewTokens })
        return gens.map((g, i) => {
          const p = prompts[i]!
          const text = tok.decode(g.tokens)
          return { id: p.id, singleTool: p.singleTool, text, ...paperRubric(text, p.prompt) }
        })
      })
    ).pipe(Effect.provide(Layer.merge(TensorBackend.layerFor("wasm"), NodeServices.layer)))
  )
  const rate = (xs: ReadonlyArray<{ toolCorrectness: boolean }>) =>
    xs.length === 0 ? 0 : xs.filter((r) => r.toolCorrectness).length / xs.length
  return {
    results,
    toolCorrectness: rate(results),
    formatAccuracy: results.filter((r) => r.formatAccuracy).length / Math.max(1, results.length),
    single: rate(results.filter((r) => r.singleTool)),
    multi: rate(results.filter((r) => !r.singleTool))
  }
}

const stageCheck = async () => {
  const { evalSet } = promptSets()
  for (const [name, dir] of [
    ["A (tooluse)", TOOLUSE_DIR],
    ["B (base)", BASE_DIR]
  ] as const) {
    const t0 = Date.now()
    const r = await evaluateDir(dir, evalSet)
    log(
      `check ${name}: tool correctness ${(100 * r.toolCorrectness).toFixed(1)}%, format ${(100 * r.formatAccuracy).toFixed(1)}% (single-tool prompts ${(100 * r.single).toFixed(0)}%, others ${(100 * r.multi).toFixed(0)}%) in ${((Date.now() - t0) / 1000).toFixed(0)} s`
    )
    for (const x of r.results.slice(0, 3))
      log(`  ${x.id} ${x.singleTool ? "1" : "-"} ${JSON.stringify(x.text.slice(0, 160))}`)
  }
}

const STAGES = {
  tokenizer: stageTokenizer,
  base: stageBase,
  tooluse: stageTooluse,
  data: stageData,
  check: stageCheck
} as const

const main = async () => {
  const args = process.argv.slice(2)
  const stages = (args.length === 0 ? Object.keys(STAGES) : args) as Array<keyof typeof STAGES>
  for (const s of stages) {
    const f = STAGES[s]
    if (f === undefined) throw new Error(`unknown stage ${s}; stages: ${Object.keys(STAGES).join(", ")}`)
    const t0 = Date.now()
    await f()
    log(`stage ${s} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
