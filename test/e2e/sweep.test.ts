// `llm-expo sweep` end to end on a tiny Llama pair, with an evaluator that does real work (the mean
// log-likelihood of a fixed sequence under a forward pass of the candidate): the candidates are the oracle's
// bits, every score equals the one this test computes on its own from the oracle's tensors, and the chosen α
// is their argmax. Then: Ctrl-C and kill -9 in the middle of the evaluations (the rerun evaluates only what has
// no score and does not rewrite what is committed), an evaluator failing for one α (retried once, reported
// with its stderr, the others still reported, exit 1, nothing deleted by --keep best), --keep best.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CliProcess } from "../support/processes.js";
import { readAllTensors } from "../support/readTensor.js";
import { runCli } from "../support/runCli.js";
import {
  argmax,
  EVALUATE,
  evaluatorCalls,
  independentScores,
  isAlive,
  oracleCandidate,
  readPid,
  svgData,
} from "../support/sweepSupport.js";
import { tempDir } from "../support/tempDir.js";
import { writeTinyPair } from "../support/tinyLlama.js";
import { folderDigest } from "../support/writeCheckpoint.js";

const GRID = [0.25, 0.5, 0.75, 1];

/** The sweep's command line: candidates by the grid unless given, the tiny Llama evaluator unless given. */
function sweepArgs(
  dir: string,
  sft: string,
  dpo: string,
  extra: string[] = [],
  candidates = ["--alpha-grid", "0.25:1:0.25"],
  evaluate = EVALUATE,
): string[] {
  return [
    "sweep",
    "--base",
    sft,
    "--aligned",
    dpo,
    ...candidates,
    "--out-template",
    join(dir, "expo-{alpha}"),
    "--evaluate",
    evaluate,
    "--report",
    join(dir, "report"),
    "--unit-size",
    "4KiB",
    ...extra,
  ];
}

/** Identity of every file of a candidate: rewriting it changes the inode or the mtime. */
function fileIdentities(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir).map((f) => {
      const s = statSync(join(dir, f));
      return [f, `${s.ino}-${s.mtimeMs}`];
    }),
  );
}

describe("llm-expo sweep end to end", () => {
  let root: string;
  let sft: string;
  let dpo: string;
  let scores: Map<number, number>;

  before(async () => {
    root = await tempDir("llm-expo-sweep-");
    ({ sft, dpo } = await writeTinyPair(join(root, "pair")));
    scores = independentScores(sft, dpo, GRID);
  });

  it("a grid of 4 α and the baseline: candidates bit for bit, scores as computed independently, the argmax chosen", async () => {
    const dir = join(root, "grid");
    const inputs = [await folderDigest(sft), await folderDigest(dpo)];
    const r = await runCli([...sweepArgs(dir, sft, dpo), "--json"], { TINY_EVAL_CALLS: join(dir, "calls") });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([await folderDigest(sft), await folderDigest(dpo)], inputs, "inputs untouched");
    for (const alpha of GRID) {
      const got = readAllTensors(join(dir, `expo-${alpha}`));
      for (const [name, want] of oracleCandidate(sft, dpo, alpha))
        assert.ok(got.get(name)?.data.equals(want.data), `expo-${alpha} ${name} equals the oracle`);
    }
    const report = JSON.parse(readFileSync(join(dir, "report", "sweep.json"), "utf8"));
    const { reportLocation, deleted, ...printed } = JSON.parse(r.stdout);
    assert.deepEqual(printed, report, "--json prints the report");
    assert.deepEqual([reportLocation, deleted], [join(dir, "report"), []]);
    assert.deepEqual(Object.keys(report), ["baseline", "results", "best", "failed", "conclusion"]);
    assert.deepEqual(report.baseline, { alpha: 0, model: dpo, score: scores.get(0) });
    assert.deepEqual(
      report.results.map((x: { alpha: number; model: string; score: number }) => [x.alpha, x.model, x.score]),
      GRID.map((a) => [a, join(dir, `expo-${a}`), scores.get(a)]),
    );
    for (const x of report.results) {
      assert.deepEqual(Object.keys(x), ["alpha", "model", "score", "metrics", "seconds"]);
      assert.equal(x.metrics.tokens, 23);
      assert.ok(Math.abs(x.metrics.perplexity - Math.exp(-x.score)) < 1e-9 * x.metrics.perplexity);
      assert.ok(x.seconds > 0);
    }
    const best = argmax(scores);
    assert.notEqual(best, 0, "on this pair extrapolation helps");
    assert.notEqual(best, GRID.at(-1), "and too much of it hurts: the best α is inside the grid");
    assert.deepEqual(report.best, {
      alpha: best,
      model: join(dir, `expo-${best}`),
      score: scores.get(best),
    });
    assert.deepEqual(report.failed, []);
    assert.match(report.conclusion, new RegExp(`^α = ${best} scored best: .* over the aligned model`));
    assert.deepEqual(evaluatorCalls(join(dir, "calls")), { "0": 1, "0.25": 1, "0.5": 1, "0.75": 1, "1": 1 });
    assert.ok(!existsSync(join(dir, "report", "sweep-journal.jsonl")), "the journal is removed once all is scored");
    // The picture: one point per model at its score (higher score, higher on the page), the baseline as a
    // dashed line, the chosen α ringed.
    const svg = svgData(readFileSync(join(dir, "report", "sweep.svg"), "utf8"));
    assert.deepEqual(
      svg.points.map((p) => [p.x, p.y]),
      [0, ...GRID].map((a) => [a, scores.get(a)]),
    );
    const byScore = [...svg.points].sort((a, b) => b.y - a.y);
    assert.deepEqual(
      byScore.map((p) => p.cy),
      [...byScore.map((p) => p.cy)].sort((a, b) => a - b),
    );
    assert.deepEqual(svg.rules, [scores.get(0)]);
    assert.deepEqual(svg.marks, [
      { x: 0, y: scores.get(0) },
      { x: best, y: scores.get(best) },
    ]);
  });

  it("the answer may come as the last line of stdout instead of $EXPO_RESULT", async () => {
    const dir = join(root, "stdout");
    const r = await runCli(sweepArgs(dir, sft, dpo, ["--json"], ["--alpha", "0.5"], `${EVALUATE} --stdout`));
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual([report.baseline.score, report.results[0].score], [scores.get(0), scores.get(0.5)]);
  });

  it("interpolation in a sweep: a grid of negative α (γ = 1 + α), scored like any candidate", async () => {
    const dir = join(root, "interpolate");
    const r = await runCli(sweepArgs(dir, sft, dpo, ["--json"], ["--alpha-grid", "-0.75:-0.25:0.5"]));
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    const interpolated = independentScores(sft, dpo, [-0.75, -0.25]);
    assert.deepEqual(
      report.results.map((x: { alpha: number; model: string; score: number }) => [x.alpha, x.model, x.score]),
      [-0.75, -0.25].map((a) => [a, join(dir, `expo-${a}`), interpolated.get(a)]),
    );
    assert.equal(report.best.alpha, argmax(interpolated));
  });

  it("Ctrl-C, then kill -9, in the middle of the evaluations: each rerun resumes, committed candidates stay as they are", async () => {
    const dir = join(root, "resume");
    const pids = join(dir, "pids");
    const env = { TINY_EVAL_CALLS: join(dir, "calls"), TINY_EVAL_PID_DIR: pids };
    // 1. Held at α = 0.5, then Ctrl-C: the held evaluator is ended, the two scores so far stay journaled.
    const first = new CliProcess(sweepArgs(dir, sft, dpo), {
      ...env,
      TINY_EVAL_HOLD_ALPHA: "0.5",
      TINY_EVAL_RELEASE: join(dir, "never"),
    });
    await first.waitFor((l) => l.msg.startsWith("evaluating α = 0.5"), 60_000, "the evaluation of α = 0.5");
    const heldPid = await readPid(join(pids, "0.5"));
    const candidates = Object.fromEntries(GRID.map((a) => [a, fileIdentities(join(dir, `expo-${a}`))]));
    first.kill("SIGINT");
    const firstExit = await first.exited;
    assert.equal(firstExit.code, 1, first.stderr);
    assert.match(
      first.stderr.trim().split("\n").at(-1) as string,
      /^llm-expo: interrupted by SIGINT: 2 of 5 model\(s\) scored and journaled in .*sweep-journal.jsonl; run the same command again to resume$/,
    );
    for (let i = 0; i < 250 && isAlive(heldPid); i++) await sleep(20);
    assert.ok(!isAlive(heldPid), "the evaluator in flight was ended with the sweep");
    assert.ok(existsSync(join(dir, "report", "sweep-journal.jsonl")));
    assert.ok(!existsSync(join(dir, "report", "sweep.json")));

    // 2. Held at α = 0.75 this time, then kill -9 (a crash): the evaluator it leaves behind is ended by hand.
    const second = new CliProcess(sweepArgs(dir, sft, dpo), {
      ...env,
      TINY_EVAL_HOLD_ALPHA: "0.75",
      TINY_EVAL_RELEASE: join(dir, "never"),
    });
    await second.waitFor((l) => l.msg.startsWith("evaluating α = 0.75"), 60_000, "the evaluation of α = 0.75");
    assert.equal(
      second.count((l) => l.msg.startsWith("writing ")),
      0,
      "no candidate written again",
    );
    assert.equal(
      second.count((l) => l.msg.startsWith("candidate α = ") && l.msg.includes("written already")),
      4,
    );
    const secondHeld = await readPid(join(pids, "0.75"));
    second.kill("SIGKILL");
    await second.exited;
    process.kill(secondHeld, "SIGKILL");

    // 3. To the end.
    const r = await runCli([...sweepArgs(dir, sft, dpo), "--json"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(evaluatorCalls(join(dir, "calls")), { "0": 1, "0.25": 1, "0.5": 2, "0.75": 2, "1": 1 });
    for (const a of GRID)
      assert.deepEqual(fileIdentities(join(dir, `expo-${a}`)), candidates[a], `expo-${a} untouched`);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(
      [report.baseline.score, ...report.results.map((x: { score: number }) => x.score)],
      [0, ...GRID].map((a) => scores.get(a)),
    );
    assert.equal(report.best.alpha, argmax(scores));
    assert.ok(!existsSync(join(dir, "report", "sweep-journal.jsonl")));
  });

  describe("an evaluator failing for one α, then --keep best", () => {
    let dir: string;
    before(() => {
      dir = join(root, "fail");
    });

    it("is retried once, then reported with its α and stderr; the others are reported; exit 1; nothing deleted", async () => {
      const r = await runCli([...sweepArgs(dir, sft, dpo), "--keep", "best", "--json"], {
        TINY_EVAL_CALLS: join(dir, "calls"),
        TINY_EVAL_FAIL_ALPHA: "0.5",
      });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(
        r.stderr.trim().split("\n").at(-1),
        "llm-expo: 1 evaluation(s) failed: α = 0.5 (exit status 3); the report covers the others",
      );
      assert.deepEqual(evaluatorCalls(join(dir, "calls")), { "0": 1, "0.25": 1, "0.5": 2, "0.75": 1, "1": 1 });
      const report = JSON.parse(readFileSync(join(dir, "report", "sweep.json"), "utf8"));
      assert.deepEqual(report.failed, [
        {
          alpha: 0.5,
          model: join(dir, "expo-0.5"),
          error: "exit status 3",
          stderr: [`loading ${join(dir, "expo-0.5")}`, "boom: injected failure for alpha 0.5"],
        },
      ]);
      assert.deepEqual(
        report.results.map((x: { alpha: number }) => x.alpha),
        [0.25, 0.75, 1],
      );
      const others = new Map([...scores].filter(([a]) => a !== 0.5));
      assert.equal(report.best.alpha, argmax(others));
      assert.match(report.conclusion, /1 evaluation\(s\) failed: α = 0\.5\.$/);
      for (const a of GRID)
        assert.ok(existsSync(join(dir, `expo-${a}`, "model.safetensors.index.json")), `expo-${a} kept`);
      assert.ok(existsSync(join(dir, "report", "sweep-journal.jsonl")), "journal kept for the rerun");
      assert.match(readFileSync(join(dir, "report", "sweep.svg"), "utf8"), /failed: α = 0\.5 \(exit status 3\)/);
    });

    it("rerun: only the failed α is evaluated; --keep best then deletes every other candidate, never the inputs", async () => {
      const inputs = [await folderDigest(sft), await folderDigest(dpo)];
      const r = await runCli([...sweepArgs(dir, sft, dpo), "--keep", "best", "--json"], {
        TINY_EVAL_CALLS: join(dir, "calls"),
      });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(evaluatorCalls(join(dir, "calls")), { "0": 1, "0.25": 1, "0.5": 3, "0.75": 1, "1": 1 });
      const report = JSON.parse(readFileSync(join(dir, "report", "sweep.json"), "utf8"));
      const best = argmax(scores);
      assert.equal(report.best.alpha, best);
      assert.equal(report.results.length, 4, "the report lists every candidate, deleted ones too");
      assert.deepEqual(
        JSON.parse(r.stdout).deleted,
        GRID.filter((a) => a !== best).map((a) => join(dir, `expo-${a}`)),
      );
      for (const a of GRID) assert.equal(existsSync(join(dir, `expo-${a}`)), a === best, `expo-${a}`);
      assert.deepEqual([await folderDigest(sft), await folderDigest(dpo)], inputs, "inputs untouched");
      assert.ok(!existsSync(join(dir, "report", "sweep-journal.jsonl")));
    });
  });

  it("--keep best when the aligned model scores best: every candidate goes, the report says extrapolation did not help", async () => {
    const dir = join(root, "worse");
    // Far past the optimum: every candidate is worse than the aligned model.
    const alphas = [6, 8];
    const r = await runCli(
      sweepArgs(
        dir,
        sft,
        dpo,
        ["--keep", "best", "--json"],
        alphas.flatMap((a) => ["--alpha", String(a)]),
      ),
    );
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    const far = independentScores(sft, dpo, alphas);
    assert.equal(argmax(far), 0);
    assert.deepEqual(report.best, { alpha: 0, model: dpo, score: far.get(0) });
    assert.match(report.conclusion, /^The aligned model itself \(α = 0\) scored best .*extrapolation did not help/);
    for (const a of alphas) assert.ok(!existsSync(join(dir, `expo-${a}`)));
    assert.ok(existsSync(join(dpo, "model.safetensors.index.json")), "the baseline is an input: kept");
  });
});
