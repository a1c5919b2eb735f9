// Storage outages as a cluster meets them: a coordinator with its journal on S3 and worker processes over a real
// MinIO on 127.0.0.1, which the test kills (-9) mid-job. An outage shorter than --storage-timeout is waited out
// by everyone: the job finishes bit for bit, with --max-attempts 1 (so no unit spent an attempt on it), one warning
// when the coordinator's outage started and one when it ended, and the retries counted. An outage longer than the
// coordinator's --storage-timeout stops it with exit 1 and the cause, its journal and uploads kept; started again
// once storage is back, it resumes and finishes the job. Either way: no upload left open, nothing under the
// output prefix but the checkpoint and its report.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it, type TestContext } from "node:test";
import type { S3Client } from "@aws-sdk/client-s3";
import { listKeys, testClient } from "../../harness/s3Objects.js";
import { type MinioServer, startMinio } from "../../harness/s3Servers.js";
import { type CliProcess, startCoordinator, startWorker } from "../support/processes.js";
import { assertOnlyCheckpoint, assertSameAsLocal, openOutputUploads } from "../support/s3Output.js";
import { s3Reference } from "../support/s3Reference.js";
import { waitUntil } from "../support/waitUntil.js";

const UNIT = ["--unit-size", "5MiB"];

describe("storage outages (MinIO killed mid-job)", () => {
  let minio: MinioServer | undefined;
  let client: S3Client;
  let local: string;
  let env: NodeJS.ProcessEnv;
  const running: CliProcess[] = [];
  const skip = (t: TestContext) => {
    if (!minio && process.env.LLM_EXPO_REQUIRE_TOOLS)
      assert.fail("MinIO not installed but LLM_EXPO_REQUIRE_TOOLS is set");
    if (!minio) t.skip("MinIO not installed (.ci/run builds it with go install)");
    return !minio;
  };
  const job = (out: string) => [
    "--base",
    "s3://models/pair/sft",
    "--aligned",
    "s3://models/pair/dpo",
    "--alpha",
    "0.3",
    "--out",
    `s3://outputs/${out}`,
    ...UNIT,
  ];
  /**
   * Workers that hold each unit 2 s between its reads and its part (so that a unit is in flight when MinIO is
   * killed), and give up on storage after 2 s and hand their unit back: the coordinator then writes a record.
   */
  const workers = (port: number, n: number) =>
    Array.from({ length: n }, () => {
      const w = startWorker(
        port,
        [
          "--concurrency",
          "1",
          "--coordinator-timeout",
          "120",
          "--storage-timeout",
          "2",
          "--inject-faults",
          "delay-ms=2000",
        ],
        env,
      );
      running.push(w);
      return w;
    });
  /** A worker holds a unit: more started than finished (done, done but re-leased, failed). */
  const inFlight = (w: CliProcess) =>
    w.count((l) => l.msg === "unit started") >
    w.count((l) => l.msg.startsWith("unit done") || /^unit \d+ failed/.test(l.msg));
  const outages = (p: CliProcess) => ({
    started: p.count((l) => l.msg.startsWith("storage unreachable")),
    ended: p.count((l) => l.msg.startsWith("storage reachable again") || l.msg.startsWith("storage outage: gave up")),
  });

  before(async () => {
    minio = await startMinio(["models", "outputs"]);
    if (!minio) return;
    env = { ...minio.env, LLM_EXPO_TOKEN: randomBytes(16).toString("hex") };
    client = testClient(minio.env);
    local = await s3Reference(minio.env, { s3Prefix: "s3://models/pair", size: "48MiB", seed: 12, jobArgs: UNIT });
  });

  after(async () => {
    for (const p of running) p.kill("SIGKILL");
    client?.destroy();
    await minio?.stop();
  });

  it("an outage shorter than --storage-timeout is waited out: same bytes, no attempt spent, one warning each way", async (t) => {
    if (skip(t) || !minio) return;
    const c = await startCoordinator(job("short"), {
      env,
      metrics: true,
      extra: ["--max-attempts", "1", "--linger", "120"],
    });
    running.push(c.proc);
    const ws = workers(c.grpcPort, 2);
    await c.proc.waitFor((l) => l.msg === "unit done", 60_000, "a unit done");
    await waitUntil(() => ws.some(inFlight), "a unit in flight");
    await minio.kill();
    try {
      // The unit in flight meets the outage; its worker gives up after its 2 s and hands it back, and journaling
      // that finds storage out for the coordinator too (if a Complete's record did not already).
      await c.proc.waitFor(
        (l) => /^unit \d+ handed back, no attempt spent \(storage unreachable\)/.test(l.msg),
        60_000,
        "a unit handed back",
      );
      await c.proc.waitFor((l) => l.msg.startsWith("storage unreachable"), 60_000, "the coordinator's outage");
      // The write that met the kill may have had its connection refused or cut: either names the journal object.
      assert.match(
        c.proc.lines.find((l) => l.msg.startsWith("storage unreachable"))?.msg ?? "",
        // Or the output lease's check that precedes each journal write.
        /^storage unreachable, retrying for up to 300 s: s3:\/\/outputs\/short\/\.expo(\/journal-\d{8}\.jsonl: PutObject |: ListObjectsV2 |\/lease-\d{10}\.json: (GetObject|PutObject) )/,
      );
    } finally {
      await minio.restart();
    }
    await c.proc.waitFor((l) => l.msg === "job phase" && l.to === "lingering", 120_000, "the commit");
    const metrics = await (await fetch(`http://127.0.0.1:${c.metricsPort}/metrics`)).text();
    // The journal's writes, or the output lease's check before each of them (a listing, a read) or its renewal.
    assert.match(
      metrics,
      /^expo_storage_retries_total\{operation="(journal_append|list|read_small|write_small)",role="coordinator"\} [1-9]/m,
    );
    const outageSeconds = Number(/^expo_storage_outage_seconds_total\{role="coordinator"\} (\S+)$/m.exec(metrics)?.[1]);
    assert.ok(outageSeconds > 0, `outage seconds counted: ${outageSeconds}`);
    assert.match(metrics, /^expo_storage_outage\{role="coordinator"\} 0$/m);
    // Workers learn that the job is done from the lingering coordinator; then the linger is ended.
    for (const w of ws) assert.equal((await w.exited).code, 0, w.stderr);
    c.proc.kill("SIGTERM");
    assert.equal((await c.proc.exited).code, 0, c.proc.stderr);
    assert.deepEqual(
      outages(c.proc),
      { started: 1, ended: 1 },
      "one warning when the outage started, one when it ended",
    );
    for (const w of ws) {
      const o = outages(w);
      assert.equal(o.started, o.ended, w.stderr);
    }
    await assertSameAsLocal(client, local, "outputs", "short");
    await assertOnlyCheckpoint(client, local, "outputs", "short");
    assert.deepEqual(await openOutputUploads(client, local, "outputs", "short"), []);
  });

  it("longer than --storage-timeout: exit 1 with the cause, journal and uploads kept; started again, it resumes", async (t) => {
    if (skip(t) || !minio) return;
    const first = await startCoordinator(job("long"), { env, extra: ["--storage-timeout", "3", "--linger", "2"] });
    running.push(first.proc);
    const ws = workers(first.grpcPort, 2);
    await first.proc.waitFor((l) => l.msg === "unit done", 60_000, "a unit done");
    await waitUntil(() => ws.some(inFlight), "a unit in flight");
    await minio.kill();
    try {
      const { code } = await first.proc.exited;
      assert.equal(code, 1, first.proc.stderr);
      const last = first.proc.stderr.trim().split("\n").at(-1) ?? "";
      assert.match(
        last,
        /^llm-expo: journal s3:\/\/outputs\/long\/\.expo\/journal-\*\.jsonl: storage unreachable for \d+ s \(--storage-timeout 3 s\): s3:\/\/outputs\/long\/\.expo(\/journal-\d{8}\.jsonl: PutObject|: ListObjectsV2|\/lease-\d{10}\.json: (GetObject|PutObject)) .+; the journal and the uploads are kept: start the job again to resume it$/,
      );
      assert.ok(!/\n\s+at /.test(first.proc.stderr), "no stack trace");
    } finally {
      await minio.restart();
    }
    assert.ok((await listKeys(client, "outputs", "long/.expo/")).length > 0, "journal kept");
    assert.ok((await openOutputUploads(client, local, "outputs", "long")).length > 0, "uploads kept");
    assert.deepEqual(
      (await listKeys(client, "outputs", "long/")).filter((k) => !k.startsWith("long/.expo/")),
      [],
      "nothing committed",
    );
    // The same job on the same port: the workers, still waiting for their coordinator, carry on with it.
    const second = await startCoordinator(job("long"), { env, port: first.grpcPort, extra: ["--linger", "120"] });
    running.push(second.proc);
    const resumed = await second.proc.waitFor((l) => l.msg.startsWith("resuming job"));
    assert.ok((resumed.unitsDone as number) >= 1);
    for (const w of ws) assert.equal((await w.exited).code, 0, w.stderr);
    // SIGTERM ends the linger, not a commit in progress: wait for the linger.
    await second.proc.waitFor((l) => l.msg === "job phase" && l.to === "lingering", 120_000, "the commit");
    second.proc.kill("SIGTERM");
    assert.equal((await second.proc.exited).code, 0, second.proc.stderr);
    await assertSameAsLocal(client, local, "outputs", "long");
    await assertOnlyCheckpoint(client, local, "outputs", "long");
    assert.deepEqual(await openOutputUploads(client, local, "outputs", "long"), []);
  });
});
