// The coordinator at the scale of 70B, 405B and DeepSeek-V3 jobs (issues 4 and 12), without checkpoint bytes:
// - planning: pairTensors + planJob for Llama-3-70B (30 aligned shards vs 29 base shards), Llama-3.1-405B
//   (191 vs 190, ~97k units at 8 MiB) and DeepSeek-V3 (163 shards, ~92k tensors) shaped pairs (headers only,
//   bench/scaleJob.ts), S3 part limits. Target <= 2 s.
// - lease round trips: a real Coordinator over the 8 MiB plan of 70B (~16,800 units) and of 405B (~97k
//   units) with a real Journal (group-committed, fdatasync, compacting) in a temp folder, served by serveGrpc
//   on loopback with a token in this process; a child process (leaseClients.js) runs 1,000 simulated workers
//   over 10 gRPC connections, each looping Lease -> Complete. Target >= 5,000 leases/s.
// Outputs are an in-memory Storage that only opens multipart uploads (Coordinator.start() is all
// that touches them here): no output files.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Coordinator } from "../coordinator/coordinator.js";
import { JOURNAL_NAME, Journal } from "../coordinator/journal.js";
import { serveGrpc } from "../coordinator/serveGrpc.js";
import { FileAppendLog } from "../storage/fileAppendLog.js";
import type { LeaseClientsResult } from "./leaseClients.js";
import { memoryOutput } from "./memoryOutput.js";
import { runJsonChild } from "./runJsonChild.js";
import { type ScaleJob, type ScaleLayout, scaleJob } from "./scaleJob.js";

const MiB = 1024 * 1024;

export interface PlanTiming {
  layout: ScaleLayout;
  unitSize: number;
  units: number;
  /** pairTensors + planJob, each round. */
  seconds: number[];
  best: number;
  job: ScaleJob;
}

/** Times pairTensors + planJob (the checkpoints' headers are built each round, outside the timing). */
export function benchPlan(unitSize: number, rounds = 3, layout: ScaleLayout = "llama-70b"): PlanTiming {
  const seconds: number[] = [];
  let job: ScaleJob | undefined;
  for (let i = 0; i < rounds; i++) {
    job = scaleJob(layout, unitSize);
    seconds.push(job.planSeconds);
  }
  const j = job as ScaleJob;
  return { layout, unitSize, units: j.plan.units.length, seconds, best: Math.min(...seconds), job: j };
}

export interface LeaseBench extends LeaseClientsResult {
  units: number;
  leasesPerSecond: number;
  completesPerSecond: number;
  journalBytes: number;
  /** CPU seconds of the coordinator process (user + system) over the run. */
  coordinatorCpuSeconds: number;
}

export async function benchLeases(job: ScaleJob, workers = 1000, channels = 10): Promise<LeaseBench> {
  const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), "llm-expo-lease-"));
  const token = randomBytes(32).toString("hex");
  const { plan, spec: s } = job;
  const journal = new Journal(new FileAppendLog(join(dir, ".expo", JOURNAL_NAME)));
  const coordinator = new Coordinator(s, plan, [memoryOutput(s.outs[0] as string)], {
    jobId: "bench-lease-throughput",
    leaseTtlMs: 60_000,
    maxAttempts: 3,
    journal,
  });
  const server = await serveGrpc(coordinator, { listen: "127.0.0.1:0", token });
  try {
    await coordinator.start();
    const cpu0 = process.cpuUsage();
    const result = await runClients(`127.0.0.1:${server.port}`, token, workers, channels);
    const cpu = process.cpuUsage(cpu0);
    const failure = await coordinator.finished;
    if (failure) throw new Error(`the job failed: ${failure}`);
    if (result.completes !== plan.units.length)
      throw new Error(`${result.completes} completes for ${plan.units.length} units`);
    // After the last compaction: a snapshot and its tail.
    const journalBytes = (await stat(join(dir, ".expo", "journal.jsonl"))).size;
    return {
      ...result,
      units: plan.units.length,
      leasesPerSecond: result.unitLeases / result.seconds,
      completesPerSecond: result.completes / result.seconds,
      journalBytes,
      coordinatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  } finally {
    coordinator.close();
    await journal.close();
    await server.shutdown();
    await rm(dir, { recursive: true, force: true });
  }
}

function runClients(address: string, token: string, workers: number, channels: number): Promise<LeaseClientsResult> {
  return runJsonChild<LeaseClientsResult>("leaseClients.js", [address, String(workers), String(channels)], {
    LLM_EXPO_TOKEN: token,
  });
}

/** Planning of the 70B, 405B and DeepSeek-V3 jobs; lease round trips at 70B (8 MiB units) and 405B (100k units). */
export async function benchLeaseThroughput(): Promise<void> {
  for (const [layout, unitSize] of [
    ["llama-70b", 64 * MiB],
    ["llama-70b", 8 * MiB],
    ["llama-405b", 8 * MiB],
    ["deepseek-v3", 8 * MiB],
  ] as const) {
    const t = benchPlan(unitSize, 3, layout);
    const shards = `${t.job.aligned.shards.length} vs ${t.job.base.shards.length} shards, ${t.job.aligned.tensors.size} tensors`;
    console.log(
      `plan ${layout} (${shards}), ${unitSize / MiB} MiB units: ${t.units} units, best ${t.best.toFixed(3)} s (target <= 2 s)  [${t.seconds.map((x) => x.toFixed(3))}]`,
    );
  }
  for (const layout of ["llama-70b", "llama-405b"] as const)
    printLeases(await benchLeases(scaleJob(layout, 8 * MiB)), layout);
}

function printLeases(r: LeaseBench, layout: string): void {
  console.log(
    `lease round trips, ${layout}: ${r.units} units, ${r.workers} workers over ${r.channels} connections, journal ${(r.journalBytes / MiB).toFixed(1)} MiB`,
  );
  console.log(
    `  ${r.leasesPerSecond.toFixed(0)} leases/s (target >= 5,000), ${r.completesPerSecond.toFixed(0)} completes/s, ${r.seconds.toFixed(2)} s; Lease p50 ${r.leaseP50Ms.toFixed(1)} ms, p99 ${r.leaseP99Ms.toFixed(1)} ms; Complete p50 ${r.completeP50Ms.toFixed(1)} ms, p99 ${r.completeP99Ms.toFixed(1)} ms; coordinator CPU ${r.coordinatorCpuSeconds.toFixed(2)} s = ${((r.coordinatorCpuSeconds / r.units) * 1e6).toFixed(0)} µs per Lease+Complete (one core's ceiling ≈ ${(r.units / r.coordinatorCpuSeconds).toFixed(0)}/s); ${r.leaseCalls} Lease calls, ${r.rejected} rejected`,
  );
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop() as string)) {
  // `node dist/bench/leaseThroughput.js llama-405b`: the lease round trips of that job only.
  const only = process.argv.slice(2) as ScaleLayout[];
  if (only.length === 0) await benchLeaseThroughput();
  else for (const layout of only) printLeases(await benchLeases(scaleJob(layout, 8 * MiB)), layout);
}
