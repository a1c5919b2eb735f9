// Chaos: a job as a cluster runs it, on a 512 MiB pair in a real MinIO, while seeded random faults hit it for
// 30–40 s: workers killed (-9) and replaced, the coordinator killed (-9) and restarted on the same port, workers
// paused (SIGSTOP) past their lease and resumed, MinIO killed (-9) and restarted on the same data folder and port
// after 1–3 s, and connection resets, cut bodies and 503 SlowDown answers from a fault proxy in front of MinIO
// for half the workers. Then the output must be the local single-process run's, bit for bit (statistics included),
// no multipart upload may be left open, and the output prefix must hold the checkpoint and its report, nothing
// else. A failure prints the seed (CHAOS_SEED=… reruns the same fault schedule) and the fault log.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { S3Client } from "@aws-sdk/client-s3";
import { getObject, testClient } from "../../harness/s3Objects.js";
import { type MinioServer, startMinio } from "../../harness/s3Servers.js";
import { type FaultProxy, startFaultProxy } from "../support/faultProxy.js";
import { type CliProcess, startCoordinator, startWorker } from "../support/processes.js";
import { assertOnlyCheckpoint, assertSameAsLocal, openOutputUploads } from "../support/s3Output.js";
import { s3Reference } from "../support/s3Reference.js";

const UNIT = ["--unit-size", "5MiB"];
const LEASE_TTL_S = 3;
const WORKERS = 4;

/** mulberry32: a small seeded generator, so a seed replays the same schedule of faults. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe("chaos: processes, coordinator and storage killed while a job runs", () => {
  let minio: MinioServer | undefined;
  let client: S3Client;
  let local: string;
  const processes: CliProcess[] = [];
  let proxy: FaultProxy | undefined;

  let setupSeconds = 0;
  before(async () => {
    const started = Date.now();
    minio = await startMinio(["models", "outputs"]);
    if (!minio) return;
    client = testClient(minio.env);
    local = await s3Reference(minio.env, { s3Prefix: "s3://models/chaos", size: "256MiB", seed: 21, jobArgs: UNIT });
    setupSeconds = (Date.now() - started) / 1000;
  });

  after(async () => {
    for (const p of processes) {
      p.kill("SIGCONT");
      p.kill("SIGKILL");
    }
    await proxy?.close();
    client?.destroy();
    await minio?.stop();
  });

  it(
    "the output is the single-process run's, bit for bit; no upload open; nothing but the checkpoint",
    {
      timeout: 20 * 60_000,
    },
    async (t: TestContext) => {
      if (!minio) {
        if (process.env.LLM_EXPO_REQUIRE_TOOLS) assert.fail("MinIO not installed but LLM_EXPO_REQUIRE_TOOLS is set");
        return t.skip("MinIO not installed (.ci/run builds it with go install)");
      }
      const server = minio;
      const seed = Number(process.env.CHAOS_SEED ?? randomBytes(4).readUInt32LE(0));
      const random = seeded(seed);
      const between = (lo: number, hi: number) => lo + random() * (hi - lo);
      const t0 = Date.now();
      const faults: string[] = [];
      const note = (what: string) => faults.push(`${((Date.now() - t0) / 1000).toFixed(1)} s  ${what}`);
      const token = randomBytes(16).toString("hex");
      const direct = { ...server.env, LLM_EXPO_TOKEN: token };
      proxy = await startFaultProxy({ target: server.endpoint, budget: 1_000_000, rate: 0.08, seed });
      const proxied = { ...direct, AWS_ENDPOINT_URL: proxy.endpoint };
      const job = [
        "--base",
        "s3://models/chaos/sft",
        "--aligned",
        "s3://models/chaos/dpo",
        "--alpha",
        "0.3",
        "--out",
        "s3://outputs/chaos",
        ...UNIT,
      ];
      // Attempts are spent by kills and pauses (expired leases), legitimately: plenty of them. The journal compacts
      // every 8 records, so kills also land while it does. The coordinator lingers until the test ends it.
      const coordinatorArgs = [
        "--lease-ttl",
        String(LEASE_TTL_S),
        "--max-attempts",
        "1000",
        "--linger",
        "600",
        "--journal-compact-after",
        "8",
      ];
      let port = 0;
      let coordinator: CliProcess | undefined;
      /** Set once a coordinator reached the commit, or a restart found the output committed. */
      let committed = false;
      const startCoordinatorProcess = async () => {
        for (let attempt = 0; ; attempt++) {
          try {
            const c = await startCoordinator(job, { env: direct, port, extra: coordinatorArgs, readyMs: 180_000 });
            processes.push(c.proc);
            port = c.grpcPort;
            coordinator = c.proc;
            return;
          } catch (e) {
            const message = (e as Error).message;
            // Restarted after the commit and the journal's removal: the output is complete, which is checked below.
            // Or found it so after waiting out the lease of a coordinator killed while lingering.
            if (
              /already holds a checkpoint|was completed by the coordinator that held the output lease/.test(message)
            ) {
              note("restarted coordinator: the output is committed already");
              committed = true;
              coordinator = undefined;
              return;
            }
            // The port of the coordinator just killed, taken in between by another process: try again.
            if (attempt < 20 && /cannot listen on/.test(message)) {
              await sleep(500);
              continue;
            }
            throw e;
          }
        }
      };
      const workers: Array<CliProcess | undefined> = [];
      const paused = new Set<CliProcess>();
      /** Workers slowed (1.5 s per unit) so that the job lasts through the faults; `fast` ones finish it after. */
      const startWorkerProcess = (i: number, fast = false) => {
        const w = startWorker(
          port,
          [
            "--concurrency",
            fast ? "2" : "1",
            "--worker-id",
            `chaos-${i}-${Date.now()}`,
            "--coordinator-timeout",
            "600",
            ...(fast ? [] : ["--inject-faults", "delay-ms=1500"]),
          ],
          i % 2 === 0 ? proxied : direct,
        );
        processes.push(w);
        workers[i] = w;
      };
      const reachedCommit = () =>
        committed ||
        processes.some((p) =>
          p.lines.some((l) => l.msg === "job phase" && (l.to === "finalizing" || l.to === "lingering")),
        );

      try {
        await startCoordinatorProcess();
        for (let i = 0; i < WORKERS; i++) startWorkerProcess(i);
        await coordinator?.waitFor((l) => l.msg === "unit done", 120_000, "a first unit done");
        const window = between(30_000, 40_000);
        note(`setup took ${setupSeconds.toFixed(0)} s; seed ${seed}; faults for ${(window / 1000).toFixed(0)} s`);
        const end = Date.now() + window;
        // A kill of the coordinator once it commits would only test a rerun of a finished job.
        while (Date.now() < end && !reachedCommit()) {
          await sleep(between(1000, 3000));
          if (reachedCommit()) break;
          const fault = Math.floor(random() * 4);
          const i = Math.floor(random() * WORKERS);
          const w = workers[i];
          if (fault === 0 && w && !paused.has(w)) {
            note(`kill -9 worker ${i} (pid ${w.child.pid}), start a new one`);
            w.kill("SIGKILL");
            startWorkerProcess(i);
          } else if (fault === 1 && coordinator) {
            const down = between(200, 2000);
            note(`kill -9 coordinator (pid ${coordinator.child.pid}), restart after ${down.toFixed(0)} ms`);
            coordinator.kill("SIGKILL");
            await coordinator.exited;
            await sleep(down);
            await startCoordinatorProcess();
          } else if (fault === 2 && w && !paused.has(w)) {
            const pause = (LEASE_TTL_S + between(1, 3)) * 1000;
            note(`SIGSTOP worker ${i} (pid ${w.child.pid}) for ${(pause / 1000).toFixed(1)} s`);
            w.kill("SIGSTOP");
            paused.add(w);
            setTimeout(() => {
              w.kill("SIGCONT");
              paused.delete(w);
            }, pause).unref();
          } else {
            const down = between(1000, 3000);
            note(`kill -9 MinIO, restart after ${down.toFixed(0)} ms`);
            await server.kill();
            await sleep(down);
            await server.restart();
            note("MinIO back");
          }
        }
        proxy.setRate(0);
        note(`faults over (proxy: ${JSON.stringify(proxy.faults)} in ${proxy.requests} requests)`);
        for (const w of paused) w.kill("SIGCONT");
        paused.clear();
        if (!committed) {
          // Two more workers, not slowed, finish what is left.
          for (const i of [WORKERS, WORKERS + 1]) startWorkerProcess(i, true);
          if (!coordinator) await startCoordinatorProcess();
          if (coordinator)
            await coordinator.waitFor(
              (l) => l.msg === "job phase" && l.to === "lingering",
              10 * 60_000,
              "the commit after the faults",
            );
        }
        // Workers learn that the job is done from the lingering coordinator; then the linger is ended.
        note("committed");
        const live = workers.filter((w): w is CliProcess => w !== undefined);
        const exits = await Promise.race([
          Promise.all(live.map((w) => w.exited)),
          sleep(120_000, undefined, { ref: false }),
        ]);
        if (!exits) note("workers still running 120 s after the commit: stopped");
        if (coordinator) {
          coordinator.kill("SIGTERM");
          assert.equal((await coordinator.exited).code, 0, coordinator.stderr);
        }
        if (exits) {
          for (const [k, e] of exits.entries()) assert.equal(e.code, 0, live[k]?.stderr);
        }

        await assertSameAsLocal(client, local, "outputs", "chaos");
        await assertOnlyCheckpoint(client, local, "outputs", "chaos");
        const report = JSON.parse((await getObject(client, "outputs", "chaos/expo-report.json")).toString("utf8"));
        const reference = JSON.parse(readFileSync(join(local, "expo-report.json"), "utf8"));
        assert.deepEqual(report.statistics, reference.statistics, "the same statistics, bit for bit");
        assert.deepEqual(
          await openOutputUploads(client, local, "outputs", "chaos"),
          [],
          "no multipart upload left open",
        );
        note("checked");
        t.diagnostic(`CHAOS_SEED=${seed}`);
        for (const f of faults) t.diagnostic(f);
      } catch (e) {
        const tails = processes
          .filter((p) => p.child.exitCode !== 0)
          .map(
            (p) =>
              `--- ${p.child.spawnargs.slice(2, 3).join(" ")} pid ${p.child.pid}:\n${p.stderr.split("\n").slice(-15).join("\n")}`,
          );
        throw new Error(
          `${(e as Error).message}\nCHAOS_SEED=${seed}\nfault log:\n${faults.join("\n")}\n${tails.join("\n")}`,
        );
      }
    },
  );
});
