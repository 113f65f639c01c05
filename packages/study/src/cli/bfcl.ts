/**
 * `crosscode bfcl --model DIR [--tokenizer DIR] [--data DIR] [--categories a,b] [--n N] [--seed S]
 *   [--style qwen|python] [--max-new-tokens M] [--max-prompt-tokens P] [--batch-size B] [--out DIR]
 *   [--backend NAME]`: a local model on BFCL v4 non-live with BFCL's AST checker (see
 * ../bfcl/run.ts and docs/cli.md).
 */
import * as path from "node:path"
import { TensorBackend } from "@crosscode/core"
import { BfclCategories } from "@crosscode/eval"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { BFCL_STYLES, prepareBfcl, runBfcl } from "../bfcl/run.js"
import { BACKENDS } from "./backends.js"

const opt = <A>(o: Option.Option<A>) => Option.getOrUndefined(o)

export const bfclCommand = Command.make(
  "bfcl",
  {
    model: Flag.String("model").pipe(
      Flag.withDescription("Model directory (Hugging Face layout; Qwen2, Llama or Gemma 2, see docs/models.md)")
    ),
    tokenizer: Flag.String("tokenizer").pipe(
      Flag.withDescription("Tokenizer directory (default: the model directory)"),
      Flag.optional
    ),
    data: Flag.String("data").pipe(
      Flag.withDescription(
        "BFCL data directory: BFCL_v4_<category>.json + possible_answer/ (default: ../shared/data/bfcl next to the checkout, or $CROSSCODE_SHARED/data/bfcl)"
      ),
      Flag.optional
    ),
    categories: Flag.String("categories").pipe(
      Flag.withDescription(`Comma-separated categories (${BfclCategories.join(", ")}) or "all"`),
      Flag.withDefault("all")
    ),
    n: Flag.Int("n").pipe(
      Flag.withDescription("Items per category: a seeded sample (default: every item)"),
      Flag.optional
    ),
    seed: Flag.Int("seed").pipe(
      Flag.withDescription("Sampling seed (CPython random.seed + random.sample)"),
      Flag.withDefault(42)
    ),
    style: Flag.Literals("style", BFCL_STYLES).pipe(
      Flag.withDescription(
        "qwen: Qwen2.5 native tool prompt, <tool_call> answers (BFCL's Qwen FC handler); python: BFCL's prompting prompt, [f(a=1)] answers"
      ),
      Flag.withDefault("qwen" as const)
    ),
    maxNewTokens: Flag.Int("max-new-tokens").pipe(
      Flag.withDescription("New tokens per item (greedy; stops at EOS)"),
      Flag.withDefault(512)
    ),
    maxPromptTokens: Flag.Int("max-prompt-tokens").pipe(
      Flag.withDescription(
        "Longer prompts keep their last tokens (default: the model's max_position_embeddings minus --max-new-tokens)"
      ),
      Flag.optional
    ),
    batchSize: Flag.Int("batch-size").pipe(
      Flag.withDescription("Prompts per generate call (default 1 on wasm/cpu, 8 elsewhere)"),
      Flag.optional
    ),
    out: Flag.String("out").pipe(
      Flag.withDescription(
        "Output directory: <category>.jsonl records and summary.json (default runs/bfcl/<model>-<style>)"
      ),
      Flag.optional
    ),
    backend: Flag.Literals("backend", BACKENDS).pipe(
      Flag.withDescription("TensorFlow.js backend (default: CROSSCODE_BACKEND, else auto)"),
      Flag.optional
    )
  },
  (i) =>
    Effect.gen(function* () {
      const backend = opt(i.backend)
      const out = opt(i.out) ?? path.join("runs", "bfcl", `${path.basename(path.resolve(i.model))}-${i.style}`)
      const plan = yield* prepareBfcl({
        model: i.model,
        ...(Option.isSome(i.tokenizer) ? { tokenizer: i.tokenizer.value } : {}),
        ...(Option.isSome(i.data) ? { data: i.data.value } : {}),
        categories: [i.categories],
        ...(Option.isSome(i.n) ? { n: i.n.value } : {}),
        seed: i.seed,
        style: i.style,
        maxNewTokens: i.maxNewTokens,
        ...(Option.isSome(i.maxPromptTokens) ? { maxPromptTokens: i.maxPromptTokens.value } : {}),
        ...(Option.isSome(i.batchSize) ? { batchSize: i.batchSize.value } : {}),
        out
      })
      const { summary, table } = yield* runBfcl(plan).pipe(
        Effect.scoped,
        Effect.provide(backend !== undefined ? TensorBackend.layerFor(backend) : TensorBackend.layer)
      )
      yield* Console.log(
        [
          `BFCL v4 non-live (AST) — model ${summary.model.name}, style ${summary.style}, ${summary.items} items (${summary.generated} generated, ${summary.resumed} resumed)`,
          "",
          table,
          "",
          `records: ${path.resolve(out)}/<category>.jsonl; summary: ${path.resolve(out, "summary.json")}`
        ].join("\n")
      )
    })
).pipe(
  Command.withDescription(
    "Evaluate a local model on BFCL v4 non-live categories with BFCL's AST checker, in BFCL's Qwen tool-call or Python prompting style (resumable)"
  ),
  Command.withExamples([
    {
      command: "crosscode bfcl --model models/Qwen2.5-3B-Instruct --style python --n 50",
      description: "50 items per category, BFCL's prompting prompt"
    },
    {
      command:
        "crosscode bfcl --model examples/models/embedded-tooluse --categories simple_python,irrelevance --n 4 --backend wasm",
      description: "A quick check on the shipped tiny model"
    }
  ])
)
