// deploy/evaluate, the reference evaluator (vLLM generations scored by a reward model, as the paper searched α):
// it cannot run here (no GPU, no model hub), so CI checks what it can without torch: the script compiles, its
// command line parses with only the standard library, its answer follows the sweep's contract (the JSON in
// $EXPO_RESULT and as the last stdout line, with a finite score the sweep accepts), and the image runs it.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseEvaluatorResult } from "../../../sweep/parseEvaluatorResult.js";
import { REPO } from "../../support/helmChart.js";
import { tempDir } from "../../support/tempDir.js";

const SCRIPT = join(REPO, "deploy", "evaluate", "evaluate.py");
const PYTHON = process.env.PYTHON ?? "python3";
/** No __pycache__ left in the source tree. */
const ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: "1" };

describe("deploy/evaluate: the reference evaluator", () => {
  it("compiles, and its command line parses without vllm, torch or transformers", async () => {
    const out = join(await tempDir(), "evaluate.pyc");
    execFileSync(PYTHON, [
      "-c",
      `import py_compile; py_compile.compile(${JSON.stringify(SCRIPT)}, cfile=${JSON.stringify(out)}, doraise=True)`,
    ]);
    const help = execFileSync(PYTHON, [SCRIPT, "--help"], { encoding: "utf8", env: ENV });
    for (const flag of ["--prompts", "--max-prompts", "--reward-model", "--temperature", "--top-p", "--max-tokens"])
      assert.ok(help.includes(flag), flag);
    const run = spawnSync(PYTHON, [SCRIPT], {
      encoding: "utf8",
      env: { PATH: process.env.PATH, PYTHONDONTWRITEBYTECODE: "1" },
    });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /EXPO_MODEL is not set/);
  });

  it("uses the paper's sampling and reward model by default", () => {
    const defaults = execFileSync(
      PYTHON,
      [
        "-c",
        `import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("evaluate", sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
a = m.parse_args([])
print(json.dumps({k: getattr(a, k) for k in ["prompts", "reward_model", "temperature", "top_p", "top_k", "max_tokens", "seed"]}))`,
        SCRIPT,
      ],
      { encoding: "utf8", env: ENV },
    );
    assert.deepEqual(JSON.parse(defaults), {
      prompts: "ultrafeedback",
      reward_model: "weqweasdas/RM-Mistral-7B",
      temperature: 0.7,
      top_p: 0.9,
      top_k: 50,
      max_tokens: 2048,
      seed: 42,
    });
  });

  it("answers with the sweep's contract: the mean reward as score, in $EXPO_RESULT and on the last stdout line", async () => {
    const result = join(await tempDir(), "results", "alpha-0.3.json");
    const stdout = execFileSync(
      PYTHON,
      [
        "-c",
        `import importlib.util, sys
spec = importlib.util.spec_from_file_location("evaluate", sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
gens = [{"prompt": "p", "output": "o", "tokens": t, "finish_reason": r} for t, r in [(10, "stop"), (30, "length"), (20, "stop"), (40, "stop")]]
m.answer(m.summary([1.5, -0.5, 2.0, float("nan")], gens, 12.5), sys.argv[2])`,
        SCRIPT,
        result,
      ],
      { encoding: "utf8", env: ENV },
    );
    const printed = stdout.trim().split("\n").at(-1) as string;
    assert.equal(readFileSync(result, "utf8"), printed);
    const parsed = parseEvaluatorResult(printed, "$EXPO_RESULT");
    assert.ok(parsed.ok, JSON.stringify(parsed));
    assert.equal(parsed.evaluation.score, 1, "the mean of the finite rewards");
    assert.deepEqual(parsed.evaluation.metrics, {
      reward_median: 1.5,
      reward_std: Math.sqrt((0.5 ** 2 + 1.5 ** 2 + 1 ** 2) / 3),
      prompts: 4,
      mean_tokens: 25,
      truncated: 0.25,
      seconds: 12.5,
    });
  });

  it("is what the evaluation image runs", () => {
    const dockerfile = readFileSync(join(REPO, "deploy", "evaluate", "Dockerfile"), "utf8");
    assert.match(dockerfile, /^FROM vllm\/vllm-openai:\$\{VLLM_VERSION\}$/m);
    assert.match(dockerfile, /^COPY evaluate\.py \/opt\/evaluate\/evaluate\.py$/m);
    assert.match(dockerfile, /^CMD \["python3", "\/opt\/evaluate\/evaluate\.py"\]$/m);
    assert.doesNotMatch(dockerfile, /pip install[^\n]*torch/, "torch comes with the vLLM image");
  });
});
