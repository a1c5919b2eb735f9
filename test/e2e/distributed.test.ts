// The distributed engine as a cluster runs it: one `llm-expo coordinator` and `llm-expo worker`
// processes on 127.0.0.1 over gRPC, killed, paused and restarted by the test. Every finished job
// must be bit-identical to a single-process run. Workers are slowed with the test-only fault hook
// (--inject-faults delay-ms=N) so that a kill lands while a unit is in flight. Tests wait on log lines and
// exits, never on sleeps, and assert outcomes, never which worker took which unit: they hold on a busy machine.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { COORDINATOR_SERVICE, healthDefinition } from "../../proto/serviceDefinitions.js";
import { CoordinatorClient } from "../../worker/coordinatorClient.js";
import { CliProcess, startCoordinator, startWorker } from "../support/processes.js";
import { runCli } from "../support/runCli.js";
import { tempDir } from "../support/tempDir.js";
import { waitUntil } from "../support/waitUntil.js";
import { folderDigest } from "../support/writeCheckpoint.js";

const TOKEN = randomBytes(16).toString("hex");

/** Unit ids a local journal holds (unit records and snapshots), read as a restarted coordinator would. */
function journaledUnits(file: string): Set<number> {
  const ids = new Set<number>();
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line === "") continue;
    const r = JSON.parse(line) as { type: string; unit?: [number]; units?: Array<[number]> };
    if (r.type === "unit" && r.unit) ids.add(r.unit[0]);
    if (r.type === "units") for (const u of r.units ?? []) ids.add(u[0]);
  }
  return ids;
}

const AUTH = { LLM_EXPO_TOKEN: TOKEN };
const SLOW = "delay-ms=150";

describe("coordinator and workers as separate processes", () => {
  let root: string;
  let sft: string;
  let dpo: string;
  let reference: Record<string, string>;
  let referenceReport: { statistics: unknown };
  let outCount = 0;
  const running: CliProcess[] = [];

  const job = (out: string) => [
    "--base",
    sft,
    "--aligned",
    dpo,
    "--alpha",
    "0.3",
    "--out",
    out,
    "--unit-size",
    "256KiB",
  ];
  const newOut = () => join(root, `out-${++outCount}`);
  const track = <T extends CliProcess>(p: T): T => {
    running.push(p);
    return p;
  };
  const coordinator = async (out: string, options: Parameters<typeof startCoordinator>[1] = {}) => {
    const c = await startCoordinator(job(out), { env: AUTH, ...options });
    track(c.proc);
    return c;
  };
  /** A worker process; slowed by `faults` (default SLOW, none when undefined). */
  const worker = (
    port: number,
    extra: string[] = [],
    { env = AUTH, faults = SLOW }: { env?: NodeJS.ProcessEnv; faults?: string | undefined } = {},
  ) =>
    track(
      startWorker(
        port,
        [
          ...(extra.includes("--coordinator-timeout") ? extra : ["--coordinator-timeout", "20", ...extra]),
          ...(faults === undefined ? [] : ["--inject-faults", faults]),
        ],
        env,
      ),
    );

  /** The output equals the single-process run's, byte for byte, and its report's statistics too. */
  const assertSameAsReference = async (out: string) => {
    const digest = await folderDigest(out);
    delete digest["expo-report.json"];
    assert.deepEqual(digest, reference);
    const report = JSON.parse(readFileSync(join(out, "expo-report.json"), "utf8")) as { statistics: unknown };
    assert.deepEqual(report.statistics, referenceReport.statistics);
  };

  before(async () => {
    root = await tempDir();
    const made = await runCli(["make-example", root, "--size", "6MiB", "--seed", "11"]);
    assert.equal(made.code, 0, made.stderr);
    sft = join(root, "sft");
    dpo = join(root, "dpo");
    const ref = join(root, "reference");
    const r = await runCli(["run", ...job(ref), "--workers", "1"]);
    assert.equal(r.code, 0, r.stderr);
    reference = await folderDigest(ref);
    delete reference["expo-report.json"];
    referenceReport = JSON.parse(readFileSync(join(ref, "expo-report.json"), "utf8"));
  });

  after(() => {
    for (const p of running) p.kill("SIGKILL");
  });

  it("1 coordinator + 3 workers write the single-process run's bytes; workers exit 0 when the job is done", async () => {
    const out = newOut();
    const c = await coordinator(out, { extra: ["--linger", "2"] });
    const workers = [0, 1, 2].map(() => worker(c.grpcPort, [], { faults: undefined }));
    const exits = await Promise.all(workers.map((w) => w.exited));
    assert.deepEqual(
      exits.map((e) => e.code),
      [0, 0, 0],
      workers.map((w) => w.stderr).join("\n"),
    );
    assert.equal((await c.proc.exited).code, 0, c.proc.stderr);
    await assertSameAsReference(out);
    // Which worker did how many units is the scheduler's business, not an outcome.
    const done = new Set(workers.flatMap((w) => w.lines.filter((l) => l.msg === "unit done").map((l) => l.unitId)));
    const report = JSON.parse(readFileSync(join(out, "expo-report.json"), "utf8"));
    const units = report.output.shards.reduce((n: number, s: { parts: unknown[] }) => n + s.parts.length, 0);
    assert.equal(done.size, units, "every unit was done by some worker");
    // Each worker ends with what it cost: CPU seconds for the bytes it moved (read + written).
    const ends = workers.map((w) => {
      const end = w.lines.find((l) => l.msg === "job done");
      return {
        bytesMoved: Number(end?.bytesMoved),
        cpuSeconds: Number(end?.cpuSeconds),
        perGiB: Number(end?.cpuSecondsPerGiB),
      };
    });
    const written = readdirSync(out)
      .filter((f) => f.endsWith(".safetensors"))
      .reduce((n, f) => n + statSync(join(out, f)).size, 0);
    assert.ok(ends.reduce((n, e) => n + e.bytesMoved, 0) > written, JSON.stringify(ends));
    for (const e of ends) if (e.bytesMoved > 0) assert.ok(e.cpuSeconds > 0 && e.perGiB > 0, JSON.stringify(e));
    assert.ok(!existsSync(join(out, ".expo")), "journal and temp files are gone");
    assert.ok(!c.proc.stderr.includes(TOKEN) && !workers.some((w) => w.stderr.includes(TOKEN)), "token never logged");
  });

  it("mixed dtypes over gRPC: an fp32 SFT + bf16 DPO pair into f32 outputs (units not in place, two alphas) as run writes them", async () => {
    const fx = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "test", "fixtures", "hf", "fp32-bf16");
    const args = (out: string[]) => [
      "--base",
      join(fx, "sft"),
      "--aligned",
      join(fx, "dpo"),
      ...["0.3", "0.5"].flatMap((a, k) => ["--alpha", a, "--out", out[k] as string]),
      "--out-dtype",
      "f32",
      "--exclude",
      "lm_head.*",
      "--unit-size",
      "1KiB",
    ];
    const ref = [newOut(), newOut()];
    const r = await runCli(["run", ...args(ref)]);
    assert.equal(r.code, 0, r.stderr);
    const out = [newOut(), newOut()];
    const c = await startCoordinator(args(out), { env: AUTH, extra: ["--linger", "1"] });
    track(c.proc);
    const workers = [0, 1].map(() => worker(c.grpcPort, [], { faults: undefined }));
    assert.deepEqual(
      (await Promise.all(workers.map((w) => w.exited))).map((e) => e.code),
      [0, 0],
    );
    assert.equal((await c.proc.exited).code, 0, c.proc.stderr);
    for (const k of [0, 1]) {
      const [want, got] = [await folderDigest(ref[k] as string), await folderDigest(out[k] as string)];
      delete want["expo-report.json"];
      delete got["expo-report.json"];
      assert.deepEqual(got, want);
    }
  });

  it("kill -9 of a worker mid-unit: the unit is leased again, the retry is journaled and counted, same output", async () => {
    const out = newOut();
    // A long linger: the metrics are read after the job, and SIGTERM ends the linger.
    const c = await coordinator(out, { metrics: true, extra: ["--lease-ttl", "1", "--linger", "120"] });
    const victim = worker(c.grpcPort, ["--concurrency", "1"]);
    const started = await victim.waitFor((l) => l.msg === "unit started", 30_000, "a unit started");
    victim.kill("SIGKILL");
    // No other worker yet: the job cannot move on until the expired lease has been recorded.
    await c.proc.waitFor(
      (l) => l.msg.startsWith(`unit ${started.unitId} attempt 1 failed: lease expired`),
      60_000,
      "the lease expiry",
    );
    const journal = join(out, ".expo", "journal.jsonl");
    const retried = () =>
      readFileSync(journal, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { type: string; unitId: number; error: string })
        .find((r) => r.type === "retry");
    // Journaled right after it is logged; the job is stalled meanwhile, so this waits on nothing but the write.
    const retry = await waitUntil(retried, "the retry record in the journal");
    assert.equal(retry.unitId, started.unitId);
    assert.match(retry.error, /lease expired/);
    const survivor = worker(c.grpcPort);
    assert.equal((await survivor.exited).code, 0, survivor.stderr);
    await c.proc.waitFor((l) => l.msg === "job phase" && l.to === "lingering", 60_000, "the commit");
    const metrics = await (await fetch(`http://127.0.0.1:${c.metricsPort}/metrics`)).text();
    assert.match(metrics, /^expo_unit_retries_total\{role="coordinator"\} [1-9]/m);
    c.proc.kill("SIGTERM");
    assert.equal((await c.proc.exited).code, 0, c.proc.stderr);
    await assertSameAsReference(out);
  });

  it("kill -9 of the coordinator: restarted with the same spec, it resumes from the journal without redoing finished units", async () => {
    const out = newOut();
    const first = await coordinator(out);
    const workers = [worker(first.grpcPort), worker(first.grpcPort)];
    await first.proc.waitFor((l) => l.msg === "unit done" && first.proc.count((m) => m.msg === "unit done") >= 4);
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    const journaled = journaledUnits(join(out, ".expo", "journal.jsonl"));
    assert.ok(journaled.size >= 4);
    const second = await coordinator(out, { port: first.grpcPort, extra: ["--linger", "2"] });
    const resumed = await second.proc.waitFor((l) => l.msg.startsWith("resuming job"));
    assert.equal(resumed.unitsDone, journaled.size);
    const exits = await Promise.all(workers.map((w) => w.exited));
    assert.deepEqual(
      exits.map((e) => e.code),
      [0, 0],
      workers.map((w) => w.stderr).join("\n"),
    );
    assert.equal((await second.proc.exited).code, 0, second.proc.stderr);
    const redone = second.proc.lines.filter((l) => l.msg === "unit done").map((l) => l.unitId as number);
    assert.equal(redone.filter((id) => journaled.has(id)).length, 0, "no journaled unit is done again");
    const total = JSON.parse(readFileSync(join(out, "expo-report.json"), "utf8")).output.shards.reduce(
      (n: number, s: { parts: unknown[] }) => n + s.parts.length,
      0,
    );
    assert.equal(redone.length, total - journaled.size, "the restarted coordinator did exactly the rest");
    assert.ok(
      workers.some((w) => w.count((l) => /unreachable/.test(l.msg)) > 0),
      "workers rode out the outage",
    );
    await assertSameAsReference(out);
  });

  it("SIGTERM to the coordinator (pod eviction) keeps journal and uploads: started again, it finishes the job", async () => {
    const out = newOut();
    const first = await coordinator(out);
    const w = worker(first.grpcPort);
    await first.proc.waitFor((l) => l.msg === "unit done");
    first.proc.kill("SIGTERM");
    const { code } = await first.proc.exited;
    assert.equal(code, 1);
    assert.match(first.proc.stderr, /stopped by SIGTERM \(the job resumes when it is started again\)/);
    // Exactly the journal and the uploads: nothing of the output is committed, nothing else is left.
    assert.deepEqual(readdirSync(out), [".expo"]);
    const kept = readdirSync(join(out, ".expo"));
    assert.ok(kept.includes("journal.jsonl"), "journal kept");
    assert.ok(
      kept.some((f) => f.startsWith("upload-")),
      "uploads kept",
    );
    assert.deepEqual(
      kept.filter((f) => f !== "journal.jsonl" && !f.startsWith("upload-")),
      [],
      "nothing but the journal and the uploads",
    );
    const second = await coordinator(out, { port: first.grpcPort, extra: ["--linger", "2"] });
    await second.proc.waitFor((l) => l.msg.startsWith("resuming job"));
    assert.equal((await w.exited).code, 0, w.stderr);
    assert.equal((await second.proc.exited).code, 0, second.proc.stderr);
    await assertSameAsReference(out);
  });

  it("a coordinator gone for good: the worker gives up after --coordinator-timeout with one line (exit 1)", async () => {
    const out = newOut();
    const c = await coordinator(out);
    const w = worker(c.grpcPort, ["--coordinator-timeout", "2", "--concurrency", "1"]);
    await w.waitFor((l) => l.msg === "unit started");
    c.proc.kill("SIGKILL");
    const { code } = await w.exited;
    assert.equal(code, 1, w.stderr);
    const last = w.stderr.trim().split("\n").at(-1) ?? "";
    // Gave up only after the timeout (how much later depends on how busy the machine is).
    const waited = /^llm-expo: coordinator at 127\.0\.0\.1:\d+ unreachable for (\d+) s/.exec(last);
    assert.ok(waited && Number(waited[1]) >= 2, last);
    assert.ok(!/\n\s+at /.test(w.stderr), "no stack trace");
  });

  it("a restarted coordinator refuses inputs that changed since its journal was started (exit 2, nothing touched)", async () => {
    const out = newOut();
    const first = await coordinator(out);
    const w = worker(first.grpcPort);
    await first.proc.waitFor((l) => l.msg === "unit done");
    first.proc.kill("SIGKILL");
    w.kill("SIGKILL");
    await Promise.all([first.proc.exited, w.exited]);
    const shard = readdirSync(sft).find((f) => f.endsWith(".safetensors")) as string;
    const now = new Date();
    utimesSync(join(sft, shard), now, now);
    const second = track(new CliProcess(["coordinator", ...job(out), "--listen", "127.0.0.1:0"], AUTH));
    const { code } = await second.exited;
    assert.equal(code, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`base input ${shard} changed since the journal was started`));
    assert.ok(existsSync(join(out, ".expo", "journal.jsonl")), "the journal is kept");
  });

  it("a worker paused past its lease (SIGSTOP/SIGCONT): its late report after the re-lease is ignored, the output is intact", async () => {
    const out = newOut();
    // The coordinator lingers after the commit (SIGTERM ends it), so the paused worker's late report reaches
    // it whenever the worker gets to send it, and is ignored: its lease is long gone.
    const c = await coordinator(out, { extra: ["--lease-ttl", "1", "--linger", "120"] });
    const paused = worker(c.grpcPort, ["--concurrency", "1", "--worker-id", "paused"]);
    const started = await paused.waitFor((l) => l.msg === "unit started");
    paused.kill("SIGSTOP");
    await c.proc.waitFor(
      (l) => l.msg.startsWith(`unit ${started.unitId} attempt 1 failed: lease expired`),
      60_000,
      "the paused worker's lease expired",
    );
    const other = worker(c.grpcPort, ["--concurrency", "1"]);
    assert.equal((await other.exited).code, 0, other.stderr);
    await c.proc.waitFor((l) => l.msg === "job phase" && l.to === "lingering", 60_000, "the commit");
    await assertSameAsReference(out);
    paused.kill("SIGCONT");
    // Its unit's part went to an upload that is committed now: the late write fails or lands the same bytes,
    // and its report (Complete or Fail) is ignored either way.
    await c.proc.waitFor(
      (l) => l.msg.startsWith("report for a lease no longer current") && l.workerId === "paused",
      60_000,
      "the late report ignored",
    );
    await paused.exited;
    c.proc.kill("SIGTERM");
    assert.equal((await c.proc.exited).code, 0, c.proc.stderr);
    await assertSameAsReference(out);
  });

  it("a unit failing every attempt fails the job after --max-attempts: its error, no index, uploads aborted, workers exit", async () => {
    const out = newOut();
    const c = await coordinator(out, { extra: ["--max-attempts", "2"] });
    const faulty = { faults: "fail-unit=3" };
    const workers = [worker(c.grpcPort, [], faulty), worker(c.grpcPort, [], faulty)];
    const { code } = await c.proc.exited;
    assert.equal(code, 1, c.proc.stderr);
    assert.match(c.proc.stderr, /unit 3 \(.*\) failed after 2 attempt\(s\): unit 3: injected fault/);
    const exits = await Promise.all(workers.map((w) => w.exited));
    for (const [i, e] of exits.entries()) {
      assert.equal(e.code, 1, workers[i]?.stderr);
      assert.match(workers[i]?.stderr ?? "", /the job failed: unit 3/);
    }
    assert.deepEqual(existsSync(out) ? readdirSync(out) : [], [], "nothing left at the output");
  });

  it("SIGTERM: a worker stops leasing, finishes the unit in hand and exits 143; the job completes", async () => {
    const out = newOut();
    const c = await coordinator(out, { extra: ["--linger", "2"] });
    const leaving = worker(c.grpcPort, ["--concurrency", "1"]);
    const started = await leaving.waitFor((l) => l.msg === "unit started");
    leaving.kill("SIGTERM");
    const { code } = await leaving.exited;
    assert.equal(code, 143, leaving.stderr);
    assert.ok(
      leaving.lines.some((l) => l.msg === "unit done" && l.unitId === started.unitId),
      "finished its unit",
    );
    assert.equal(
      leaving.count((l) => l.msg === "unit started"),
      1,
      "leased nothing after SIGTERM",
    );
    const stayer = worker(c.grpcPort, [], { faults: undefined });
    assert.equal((await stayer.exited).code, 0, stayer.stderr);
    assert.equal((await c.proc.exited).code, 0, c.proc.stderr);
    await assertSameAsReference(out);
  });

  it("refuses a worker with a wrong token (exit 2, clear message) and a coordinator without one", async () => {
    const out = newOut();
    const c = await coordinator(out, { extra: ["--linger", "0"] });
    const intruder = worker(c.grpcPort, [], { env: { LLM_EXPO_TOKEN: "wrong-token" }, faults: undefined });
    const { code } = await intruder.exited;
    assert.equal(code, 2, intruder.stderr);
    assert.match(intruder.stderr, /refused this worker: missing or wrong token/);
    assert.ok(!intruder.stderr.includes("wrong-token") && !c.proc.stderr.includes("wrong-token"));
    c.proc.kill("SIGINT");
    await c.proc.exited;
    const open = track(
      new CliProcess(["coordinator", ...job(newOut()), "--listen", "127.0.0.1:0"], { LLM_EXPO_TOKEN: "" }),
    );
    assert.equal((await open.exited).code, 2);
    assert.match(open.stderr, /no token: give --token-file or set LLM_EXPO_TOKEN/);
  });

  it("a worker whose memory budget cannot hold one unit is refused (exit 2)", async () => {
    const out = newOut();
    const c = await coordinator(out, { extra: ["--linger", "0"] });
    const w = worker(c.grpcPort, ["--memory-budget", "64KiB"], { faults: undefined });
    assert.equal((await w.exited).code, 2, w.stderr);
    assert.match(w.stderr, /--memory-budget 65536 bytes: one unit of this job needs \d+ bytes/);
    c.proc.kill("SIGINT");
    await c.proc.exited;
  });

  it("TLS: a worker trusting the coordinator's CA completes the job; a plaintext worker cannot connect", async () => {
    const dir = await tempDir();
    const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    ssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=llm-expo test CA");
    ssl("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=coordinator");
    writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    ssl(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "1",
      "-extfile",
      "san.ext",
    );
    const out = newOut();
    const c = await coordinator(out, {
      extra: ["--tls-cert", join(dir, "server.pem"), "--tls-key", join(dir, "server.key"), "--linger", "2"],
    });
    const plain = worker(c.grpcPort, ["--coordinator-timeout", "2"], { faults: undefined });
    const secure = worker(c.grpcPort, ["--tls-ca", join(dir, "ca.pem")], { faults: undefined });
    assert.equal((await secure.exited).code, 0, secure.stderr);
    assert.equal((await c.proc.exited).code, 0, c.proc.stderr);
    await assertSameAsReference(out);
    const { code } = await plain.exited;
    assert.equal(code, 1, plain.stderr);
    assert.match(plain.stderr, /coordinator at 127\.0\.0\.1:\d+ unreachable for \d+ s/);
  });

  it("serves the standard gRPC health service without a token (for probes)", async () => {
    const out = newOut();
    const c = await coordinator(out, { extra: ["--linger", "0"] });
    const client = new grpc.Client(`127.0.0.1:${c.grpcPort}`, grpc.credentials.createInsecure());
    const check = (service: string) =>
      new Promise<{ status: number }>((resolve, reject) => {
        const m = healthDefinition.Check;
        if (!m) throw new Error("no Check");
        client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, { service }, (e, v) =>
          e ? reject(e) : resolve(v as { status: number }),
        );
      });
    try {
      assert.equal((await check("")).status, 1, "SERVING");
      assert.equal((await check(COORDINATOR_SERVICE)).status, 1, "SERVING");
      await assert.rejects(check("no.such.Service"), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
      // Status (with the token): a job that no worker has joined yet.
      const status = await new CoordinatorClient({
        address: `127.0.0.1:${c.grpcPort}`,
        token: TOKEN,
        timeoutMs: 5000,
      }).status();
      assert.equal(status.state, "running");
      assert.ok(status.units.total > 1);
      assert.deepEqual(status.units, {
        pending: status.units.total,
        leased: 0,
        done: 0,
        failed: 0,
        total: status.units.total,
      });
      assert.equal(status.workers, 0);
    } finally {
      client.close();
      c.proc.kill("SIGINT");
      await c.proc.exited;
    }
  });
});
