// Sweeps with S3 on MinIO: the report and the journal in an s3:// prefix (a failure keeps the journal's objects,
// the rerun resumes from them and removes them), and the Kubernetes side of a sweep over S3: `sweep-wait` holding
// an evaluation pod until its candidate is committed and writing its environment, `sweep-report` reading the
// evaluators' answers from <report>/results/ and applying --keep best to candidates in S3.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import type { S3Client } from "@aws-sdk/client-s3";
import { getObject, listKeys, putObject, testClient } from "../../../harness/s3Objects.js";
import { type S3Server, startMinio } from "../../../harness/s3Servers.js";
import { CliProcess } from "../../support/processes.js";
import { runCli } from "../../support/runCli.js";
import { argmax, EVALUATE, evaluatorCalls, independentScores } from "../../support/sweepSupport.js";
import { tempDir } from "../../support/tempDir.js";
import { writeTinyPair } from "../../support/tinyLlama.js";

/** The variables of an env file written by sweep-wait, as the evaluation container's shell would read them. */
function sourced(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of readFileSync(file, "utf8").matchAll(/^export ([A-Z_]+)='([^']*)'$/gm))
    out[m[1] as string] = m[2] as string;
  return out;
}

describe("sweeps over S3 (MinIO)", () => {
  let server: S3Server | undefined;
  let client: S3Client;
  let root: string;
  let sft: string;
  let dpo: string;
  const skip = (t: TestContext) => {
    if (!server && process.env.LLM_EXPO_REQUIRE_TOOLS)
      assert.fail("MinIO not installed but LLM_EXPO_REQUIRE_TOOLS is set");
    if (!server) t.skip("MinIO not installed (.ci/run builds it with go install)");
    return !server;
  };

  before(async () => {
    server = await startMinio(["sweeps", "models"]);
    if (!server) return;
    client = testClient(server.env);
    root = await tempDir("llm-expo-s3-sweep-");
    ({ sft, dpo } = await writeTinyPair(join(root, "pair")));
  });
  after(async () => {
    await server?.stop();
  });

  it("report and journal in an s3:// prefix: a failure keeps the journal's objects, the rerun resumes and removes them", async (t) => {
    if (skip(t) || !server) return;
    const grid = [0.25, 0.5, 0.75];
    const scores = independentScores(sft, dpo, grid);
    const args = [
      "sweep",
      "--base",
      sft,
      "--aligned",
      dpo,
      "--alpha-grid",
      "0.25:0.75:0.25",
      "--out-template",
      join(root, "a", "expo-{alpha}"),
      "--evaluate",
      EVALUATE,
      "--report",
      "s3://sweeps/a",
    ];
    const env = { ...server.env, TINY_EVAL_CALLS: join(root, "a-calls") };
    const failed = await runCli(args, { ...env, TINY_EVAL_FAIL_ALPHA: "0.75" });
    assert.equal(failed.code, 1, failed.stderr);
    const keys = await listKeys(client, "sweeps", "a/");
    assert.deepEqual(
      keys.filter((k) => !k.startsWith("a/sweep-journal-")),
      ["a/sweep.json", "a/sweep.svg"],
    );
    assert.ok(
      keys.some((k) => /^a\/sweep-journal-\d{8}\.jsonl$/.test(k)),
      keys.join(" "),
    );
    const first = JSON.parse((await getObject(client, "sweeps", "a/sweep.json")).toString());
    assert.deepEqual(
      first.failed.map((f: { alpha: number; error: string }) => [f.alpha, f.error]),
      [[0.75, "exit status 3"]],
    );
    assert.deepEqual(
      first.results.map((r: { alpha: number; score: number }) => [r.alpha, r.score]),
      [0.25, 0.5].map((a) => [a, scores.get(a)]),
    );

    const done = await runCli([...args, "--json"], env);
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual(evaluatorCalls(join(root, "a-calls")), { "0": 1, "0.25": 1, "0.5": 1, "0.75": 3 });
    assert.deepEqual(await listKeys(client, "sweeps", "a/"), ["a/sweep.json", "a/sweep.svg"]);
    const report = JSON.parse((await getObject(client, "sweeps", "a/sweep.json")).toString());
    assert.deepEqual(report.best.alpha, argmax(scores));
    assert.equal(report.best.score, scores.get(argmax(scores)));
    assert.match((await getObject(client, "sweeps", "a/sweep.svg")).toString(), /^<svg /);
  });

  it("Kubernetes over S3: sweep-wait holds a pod until its candidate is committed; sweep-report reads results/, keeps the best", async (t) => {
    if (skip(t) || !server) return;
    const env = server.env;
    const alphas = [0.25, 0.5];
    const job = [
      "--base",
      sft,
      "--aligned",
      dpo,
      ...alphas.flatMap((a) => ["--alpha", String(a)]),
      "--out-template",
      "s3://models/k8s/expo-{alpha}",
    ];
    const envFile = (i: number) => join(root, "k8s", `candidate-${i}.env`);
    const wait = (i: number) =>
      new CliProcess(
        [
          "sweep-wait",
          ...job,
          "--report",
          "s3://sweeps/k8s",
          "--index",
          String(i),
          "--env-out",
          envFile(i),
          "--poll",
          "0.2",
        ],
        env,
      );
    // The init container of index 2 starts before the coordinator has written anything.
    const early = wait(2);
    await early.waitFor((l) =>
      /^waiting for candidate α = 0\.5 at s3:\/\/models\/k8s\/expo-0\.5: not committed yet$/.test(l.msg),
    );
    assert.ok(!existsSync(envFile(2)));
    const run = await runCli(["run", ...job, "--unit-size", "5MiB"], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await early.exited).code, 0, early.stderr);
    assert.deepEqual(sourced(envFile(2)), {
      EXPO_INDEX: "2",
      EXPO_ALPHA: "0.5",
      EXPO_MODEL: "s3://models/k8s/expo-0.5",
      EXPO_RESULT: "s3://sweeps/k8s/results/alpha-0.5.json",
    });
    for (const i of [0, 1]) assert.equal((await wait(i).exited).code, 0);
    assert.equal(sourced(envFile(0)).EXPO_MODEL, dpo, "index 0 is the aligned model, ready at once");
    assert.equal(sourced(envFile(1)).EXPO_RESULT, "s3://sweeps/k8s/results/alpha-0.25.json");

    // The evaluation pods answer at $EXPO_RESULT (here with the scores this test computes itself); one is late.
    const scores = independentScores(sft, dpo, alphas);
    const answer = async (i: number) => {
      const e = sourced(envFile(i));
      const key = (e.EXPO_RESULT as string).replace("s3://sweeps/", "");
      const score = scores.get(Number(e.EXPO_ALPHA)) as number;
      await putObject(client, "sweeps", key, Buffer.from(JSON.stringify({ score, seconds: 10 + i, prompts: 805 })));
    };
    await answer(0);
    await answer(1);
    const report = ["sweep-report", ...job, "--report", "s3://sweeps/k8s", "--keep", "best", "--json"];
    const partial = await runCli(report, env);
    assert.equal(partial.code, 1, partial.stderr);
    assert.match(
      partial.stderr.trim().split("\n").at(-1) as string,
      /^llm-expo: 1 evaluation\(s\) failed: α = 0\.5 \(no result at s3:\/\/sweeps\/k8s\/results\/alpha-0\.5\.json \(the evaluation of index 2 failed or has not finished/,
    );
    assert.ok(
      (await listKeys(client, "models", "k8s/expo-0.25/")).length > 0,
      "nothing deleted while a result is missing",
    );

    await answer(2);
    const full = await runCli(report, env);
    assert.equal(full.code, 0, full.stderr);
    const written = JSON.parse((await getObject(client, "sweeps", "k8s/sweep.json")).toString());
    const best = argmax(scores);
    assert.deepEqual(written.baseline, { alpha: 0, model: dpo, score: scores.get(0) });
    assert.deepEqual(
      written.results.map((r: { alpha: number; score: number; seconds: number; metrics: object }) => [
        r.alpha,
        r.score,
        r.seconds,
        r.metrics,
      ]),
      [
        [0.25, scores.get(0.25), 11, { prompts: 805 }],
        [0.5, scores.get(0.5), 12, { prompts: 805 }],
      ],
    );
    assert.equal(written.best.alpha, best);
    for (const a of alphas) {
      const left = await listKeys(client, "models", `k8s/expo-${a}/`);
      if (a === best) assert.ok(left.includes(`k8s/expo-${a}/model.safetensors.index.json`));
      else assert.deepEqual(left, [], `expo-${a} deleted from S3`);
    }
  });
});
