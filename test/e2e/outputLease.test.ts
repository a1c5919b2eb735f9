// One writer per output, through the real CLI: two identical `llm-expo run` on one output (a folder, and an S3
// prefix on MinIO): one takes the output lease and writes, the other waits (saying who holds it) and then finds
// the job complete, exit 0 and nothing redone, or with --no-wait exits 2 naming the holder. A coordinator
// SIGSTOPped past its lease is taken over; woken up, it stops at its next write with one line and changes
// nothing. A coordinator killed with -9 is resumed once its lease expired. Ordering comes from log lines and
// SIGSTOP, never from sleeps.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import type { S3Client } from "@aws-sdk/client-s3";
import { testClient } from "../../harness/s3Objects.js";
import { type MinioServer, startMinio } from "../../harness/s3Servers.js";
import { CliProcess, type LogLine } from "../support/processes.js";
import { jobArgs, runCli } from "../support/runCli.js";
import { assertOnlyCheckpoint, assertSameAsLocal, openOutputUploads } from "../support/s3Output.js";
import { s3Reference } from "../support/s3Reference.js";
import { tempDir } from "../support/tempDir.js";

/** Many small units, one at a time: the job runs long enough to be paused and taken over mid-way. */
const SLOW = ["--unit-size", "4KiB", "--concurrency", "1"];

const took = (l: LogLine) => l.msg.startsWith("took the output lease");
const waiting = (l: LogLine) => l.msg.startsWith("waiting: the output lease");
const unitDone = (l: LogLine) => l.msg === "unit done";

/** Every file under `dir` (recursively) with its SHA-256: what the output is, byte for byte. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path, `${rel}${name}/`);
      else out[`${rel}${name}`] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  walk(dir, "");
  return out;
}

/** The output equals the reference run's, except the report (it names locations and times). */
function assertSameOutput(out: string, reference: string) {
  const { "expo-report.json": _a, ...got } = snapshot(out);
  const { "expo-report.json": _b, ...want } = snapshot(reference);
  assert.deepEqual(got, want, "same files, same bytes as a single run, nothing else left");
  assert.ok(existsSync(join(out, "expo-report.json")));
}

const lastLine = (p: CliProcess) => p.stderr.trim().split("\n").pop() ?? "";

describe("one writer per output (folders)", () => {
  let root: string;
  let reference: string;
  const running: CliProcess[] = [];
  const job = (out: string, ...extra: string[]) => [
    ...jobArgs("run", join(root, "sft"), join(root, "dpo"), out),
    ...SLOW,
    ...extra,
  ];
  const start = (args: string[]) => {
    const p = new CliProcess(args);
    running.push(p);
    return p;
  };

  before(async () => {
    root = await tempDir();
    const r = await runCli(["make-example", root, "--size", "2MiB", "--seed", "11"]);
    assert.equal(r.code, 0, r.stderr);
    reference = join(root, "reference");
    const ref = await runCli(job(reference));
    assert.equal(ref.code, 0, ref.stderr);
  });

  after(() => {
    for (const p of running) {
      p.kill("SIGCONT");
      p.kill("SIGKILL");
    }
  });

  it("two identical runs: one writes, the other waits and finds the job complete (exit 0); --no-wait exits 2 naming the holder", async () => {
    const out = join(root, "twice");
    const first = start(job(out));
    await first.waitFor(took, 60_000, "the first run's lease");
    // Held still while the others start: the second must find the lease taken, whatever the machine's load.
    first.kill("SIGSTOP");
    const refused = await runCli(job(out, "--no-wait"));
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr.trim().split("\n").pop() ?? "",
      new RegExp(
        `^llm-expo: the output lease on .*held by .* pid ${first.child.pid}, since .* \\(epoch 1\\).*--no-wait`,
      ),
    );
    const second = start(job(out));
    const said = await second.waitFor(waiting, 60_000, "the second run waiting");
    assert.match(said.msg, new RegExp(`held by .* pid ${first.child.pid}, since `));
    first.kill("SIGCONT");
    assert.equal((await first.exited).code, 0, first.stderr);
    assert.equal((await second.exited).code, 0, second.stderr);
    assert.ok(
      second.lines.some((l) => /^job \w+ was completed by the coordinator that held the output lease/.test(l.msg)),
    );
    assert.equal(second.count(unitDone), 0, "the second run redid nothing");
    assert.equal(
      second.count((l) => l.msg.startsWith("resuming job")),
      0,
    );
    assertSameOutput(out, reference);
  });

  it("a coordinator paused past its lease is taken over; woken, it stops at its next write and changes nothing", async () => {
    const out = join(root, "paused");
    const ttl = ["--output-lease-ttl", "2"];
    const first = start(job(out, ...ttl));
    await first.waitFor(unitDone, 60_000, "a unit done by the first run");
    first.kill("SIGSTOP");
    const second = start(job(out, ...ttl));
    await second.waitFor(waiting, 60_000, "the second run waiting");
    assert.equal((await second.exited).code, 0, second.stderr);
    const resumed = second.lines.find((l) => l.msg.startsWith("resuming job"));
    assert.ok(resumed && (resumed.unitsDone as number) > 0, "the second run resumed the first one's journal");
    assert.match(second.lines.find(took)?.msg ?? "", /\(epoch 2\)/);
    const left = snapshot(out);
    first.kill("SIGCONT");
    const { code } = await first.exited;
    assert.equal(code, 1, first.stderr);
    assert.match(
      lastLine(first),
      /^llm-expo: the output lease on .* (passed to|was released by a later owner).*this coordinator stops without touching the output$/,
    );
    assert.deepEqual(snapshot(out), left, "the output is exactly as the second run left it");
    assertSameOutput(out, reference);
  });

  it("a coordinator killed with -9 is resumed once its lease expired", async () => {
    const out = join(root, "killed");
    const ttl = ["--output-lease-ttl", "2"];
    const first = start(job(out, ...ttl));
    await first.waitFor(unitDone, 60_000, "a unit done by the first run");
    first.kill("SIGKILL");
    await first.exited;
    const second = start(job(out, ...ttl));
    assert.equal((await second.exited).code, 0, second.stderr);
    assert.ok(second.lines.some(waiting), "the dead coordinator's lease was waited out");
    const resumed = second.lines.find((l) => l.msg.startsWith("resuming job"));
    assert.ok(resumed && (resumed.unitsDone as number) > 0, "resumed from the journal");
    assertSameOutput(out, reference);
  });
});

describe("one writer per output (S3 on MinIO)", () => {
  let minio: MinioServer | undefined;
  let client: S3Client;
  let reference: string;
  const running: CliProcess[] = [];
  const UNIT = ["--unit-size", "5MiB", "--concurrency", "1"];
  const skip = (t: TestContext) => {
    if (!minio && process.env.LLM_EXPO_REQUIRE_TOOLS)
      assert.fail("MinIO not installed but LLM_EXPO_REQUIRE_TOOLS is set");
    if (!minio) t.skip("MinIO not installed (.ci/run builds it with go install)");
    return !minio;
  };
  const job = (out: string, ...extra: string[]) => [
    ...jobArgs("run", "s3://models/pair/sft", "s3://models/pair/dpo", `s3://outputs/${out}`),
    ...UNIT,
    ...extra,
  ];

  before(async () => {
    minio = await startMinio(["models", "outputs"]);
    if (!minio) return;
    client = testClient(minio.env);
    reference = await s3Reference(minio.env, { s3Prefix: "s3://models/pair", size: "24MiB", seed: 5, jobArgs: UNIT });
  });

  after(async () => {
    for (const p of running) {
      p.kill("SIGCONT");
      p.kill("SIGKILL");
    }
    client?.destroy();
    await minio?.stop();
  });

  it("two identical S3 → S3 runs: one writes, the other waits and finds the job complete; --no-wait exits 2", async (t) => {
    if (skip(t) || !minio) return;
    const first = new CliProcess(job("twice"), minio.env);
    running.push(first);
    await first.waitFor(took, 60_000, "the first run's lease");
    first.kill("SIGSTOP");
    const refused = await runCli(job("twice", "--no-wait"), minio.env);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, new RegExp(`held by .* pid ${first.child.pid}, since .* \\(epoch 1\\).*--no-wait`));
    const second = new CliProcess(job("twice"), minio.env);
    running.push(second);
    await second.waitFor(waiting, 60_000, "the second run waiting");
    first.kill("SIGCONT");
    assert.equal((await first.exited).code, 0, first.stderr);
    assert.equal((await second.exited).code, 0, second.stderr);
    assert.ok(second.lines.some((l) => /was completed by the coordinator that held the output lease/.test(l.msg)));
    assert.equal(second.count(unitDone), 0, "the second run redid nothing");
    // MinIO honours If-None-Match: no warning that the lease cannot keep writers apart.
    for (const p of [first, second])
      assert.equal(
        p.count((l) => /ignores If-None-Match/.test(l.msg)),
        0,
      );
    await assertSameAsLocal(client, reference, "outputs", "twice");
    await assertOnlyCheckpoint(client, reference, "outputs", "twice");
    assert.deepEqual(await openOutputUploads(client, reference, "outputs", "twice"), []);
  });
});
