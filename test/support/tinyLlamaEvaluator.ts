// The sweep's test evaluator, run as `node tinyLlamaEvaluator.js [--stdout]` by `llm-expo sweep --evaluate`:
// scores the model at $EXPO_MODEL (a tiny Llama, test/support/tinyLlama.ts) by the mean log-likelihood of a
// fixed sequence and answers {"score": …, "perplexity": …, "tokens": …} in $EXPO_RESULT (with --stdout: as
// the last line of stdout). Variables make it misbehave on purpose, without changing the sweep's command
// (which is part of the sweep's identity):
//   TINY_EVAL_CALLS=FILE        append "<α>\n" to FILE at every start (what was evaluated, how often)
//   TINY_EVAL_FAIL_ALPHA=A      for α = A: two lines on stderr, exit 3
//   TINY_EVAL_HOLD_ALPHA=A, TINY_EVAL_RELEASE=FILE   for α = A: wait until FILE exists before answering
//   TINY_EVAL_PID_DIR=DIR       write the process id to DIR/<α> (to find a held evaluator)
// `node --test` runs every file under dist/test: without the contract's environment this one does nothing.
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { scoreCheckpoint, TOKENS } from "./tinyLlama.js";

const model = process.env.EXPO_MODEL;
if (model !== undefined) await main(model, process.env);

async function main(modelDir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const alpha = env.EXPO_ALPHA ?? "";
  if (env.TINY_EVAL_CALLS) appendFileSync(env.TINY_EVAL_CALLS, `${alpha}\n`);
  if (env.TINY_EVAL_PID_DIR) {
    mkdirSync(env.TINY_EVAL_PID_DIR, { recursive: true });
    writeFileSync(join(env.TINY_EVAL_PID_DIR, alpha), String(process.pid));
  }
  if (env.TINY_EVAL_FAIL_ALPHA === alpha) {
    process.stderr.write(`loading ${modelDir}\nboom: injected failure for alpha ${alpha}\n`);
    process.exit(3);
  }
  const release = env.TINY_EVAL_RELEASE;
  if (env.TINY_EVAL_HOLD_ALPHA === alpha && release) {
    process.stderr.write(`holding alpha ${alpha} until ${release} exists\n`);
    while (!existsSync(release)) await sleep(20);
  }
  const score = scoreCheckpoint(modelDir);
  const answer = JSON.stringify({ score, perplexity: Math.exp(-score), tokens: TOKENS.length - 1 });
  if (process.argv.includes("--stdout")) {
    process.stdout.write(`scored ${modelDir}\n${answer}\n`);
  } else {
    if (!env.EXPO_RESULT) throw new Error("EXPO_RESULT is not set");
    // On Kubernetes EXPO_RESULT is <report>/results/alpha-<α>.json: the folder may not exist yet.
    mkdirSync(dirname(env.EXPO_RESULT), { recursive: true });
    writeFileSync(env.EXPO_RESULT, answer);
  }
}
