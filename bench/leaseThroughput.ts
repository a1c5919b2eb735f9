// The coordinator at the scale of a 70B job (issue 4), without any checkpoint bytes:
// - planning: pairTensors + planJob for a Llama-3-70B-shaped pair (30 aligned shards vs 29 base
//   shards, headers only), S3 part limits, 64 MiB and 8 MiB units. Target <= 2 s.
// - lease round trips: a real Coordinator over the 8 MiB plan (~16,800 units) with a real Journal
//   (group-committed, fdatasync) in a temp folder, served by serveGrpc on loopback with a token in
//   this process; a child process (leaseClients.js) runs 1,000 simulated workers over 10 gRPC
//   connections, each looping Lease -> Complete. Target >= 5,000 leases/s.
// Outputs are an in-memory Storage that only opens multipart uploads (Coordinator.start() is all
// that touches them here): no output files.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { pairTensors } from "../checkpoint/pairTensors.js";
import { Coordinator } from "../coordinator/coordinator.js";
import { JOURNAL_NAME, Journal } from "../coordinator/journal.js";
import { serveGrpc } from "../coordinator/serveGrpc.js";
import type { JobSpec } from "../core/jobSpec.js";
import type { JobPlan } from "../core/plan.js";
import { layoutCheckpoint, llama70bTensors, shardEvenly } from "../harness/layoutCheckpoint.js";
import { planJob } from "../plan/planJob.js";
import { FileAppendLog } from "../storage/fileAppendLog.js";
import type { Storage, StorageLimits } from "../storage/types.js";
import type { LeaseClientsResult } from "./leaseClients.js";

const MiB = 1024 * 1024;
const S3_LIMITS: StorageLimits = { minPartSize: 5 * MiB, maxPartSize: 5 * 1024 * MiB, maxParts: 10_000 };

function spec(unitSize: number): JobSpec {
  return {
    base: "s3://bench/base",
    aligned: "s3://bench/aligned",
    alphas: [0.3],
    outs: ["s3://bench/out"],
    arith: "fp32",
    unitSize,
    include: [],
    exclude: [],
    alphaRules: [],
    onNonfinite: "error",
    overwrite: false,
  };
}

function pair() {
  const tensors = llama70bTensors();
  return {
    aligned: layoutCheckpoint("s3://bench/aligned", shardEvenly(tensors, 30)),
    base: layoutCheckpoint("s3://bench/base", shardEvenly(tensors, 29)),
  };
}

export interface PlanTiming {
  unitSize: number;
  units: number;
  /** pairTensors + planJob, each round. */
  seconds: number[];
  best: number;
  plan: JobPlan;
}

/** Times pairTensors + planJob (the checkpoints' headers are built once, outside the timing). */
export function benchPlan(unitSize: number, rounds = 3): PlanTiming {
  const { aligned, base } = pair();
  const seconds: number[] = [];
  let plan: JobPlan | undefined;
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    plan = planJob({ spec: spec(unitSize), aligned, base, pairs: pairTensors(aligned, base), limits: S3_LIMITS });
    seconds.push((performance.now() - t0) / 1000);
  }
  const p = plan as JobPlan;
  return { unitSize, units: p.units.length, seconds, best: Math.min(...seconds), plan: p };
}

/** An output location that only opens multipart uploads: all Coordinator.start() asks of it. */
function memoryOutput(location: string): Storage {
  let next = 0;
  const unused = () => Promise.reject(new Error("not used by the lease benchmark"));
  return {
    location,
    limits: S3_LIMITS,
    wantsPartSha256: false,
    exists: async () => true,
    list: async () => [],
    stat: async () => undefined,
    pin: () => undefined,
    readRange: unused,
    readSmall: unused,
    writeSmall: unused,
    createMultipart: async (name: string) => `upload-${name}-${++next}`,
    writePart: unused,
    completeMultipart: unused,
    abortMultipart: async () => undefined,
    listUploads: async () => [],
    delete: async () => undefined,
    appendLog: () => {
      throw new Error("not used by the lease benchmark");
    },
    checkWritable: async () => undefined,
    realLocation: async () => location,
    close: async () => undefined,
  };
}

export interface LeaseBench extends LeaseClientsResult {
  units: number;
  leasesPerSecond: number;
  completesPerSecond: number;
  journalBytes: number;
  /** CPU seconds of the coordinator process (user + system) over the run. */
  coordinatorCpuSeconds: number;
}

export async function benchLeases(plan: JobPlan, workers = 1000, channels = 10): Promise<LeaseBench> {
  const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), "llm-expo-lease-"));
  const token = randomBytes(32).toString("hex");
  const s = spec(plan.unitSize);
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
    await server.shutdown();
    await rm(dir, { recursive: true, force: true });
  }
}

function runClients(address: string, token: string, workers: number, channels: number): Promise<LeaseClientsResult> {
  const program = join(dirname(fileURLToPath(import.meta.url)), "leaseClients.js");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, program, address, String(workers), String(channels)], {
      env: { ...process.env, LLM_EXPO_TOKEN: token },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`leaseClients exited ${code}: ${stderr.trim().split("\n").pop()}`));
      else resolve(JSON.parse(stdout.trim().split("\n").pop() as string) as LeaseClientsResult);
    });
  });
}

export async function benchLeaseThroughput(): Promise<void> {
  for (const unitSize of [64 * MiB, 8 * MiB]) {
    const t = benchPlan(unitSize);
    console.log(
      `plan 70B pair (30 vs 29 shards), ${unitSize / MiB} MiB units: ${t.units} units, best ${t.best.toFixed(3)} s (target <= 2 s)  [${t.seconds.map((x) => x.toFixed(3))}]`,
    );
  }
  const { plan } = benchPlan(8 * MiB, 1);
  const r = await benchLeases(plan);
  console.log(
    `lease round trips: ${r.units} units, ${r.workers} workers over ${r.channels} connections, journal ${(r.journalBytes / MiB).toFixed(1)} MiB`,
  );
  console.log(
    `  ${r.leasesPerSecond.toFixed(0)} leases/s (target >= 5,000), ${r.completesPerSecond.toFixed(0)} completes/s, ${r.seconds.toFixed(2)} s; Lease p50 ${r.leaseP50Ms.toFixed(1)} ms, p99 ${r.leaseP99Ms.toFixed(1)} ms; Complete p50 ${r.completeP50Ms.toFixed(1)} ms, p99 ${r.completeP99Ms.toFixed(1)} ms; coordinator CPU ${r.coordinatorCpuSeconds.toFixed(2)} s = ${((r.coordinatorCpuSeconds / r.units) * 1e6).toFixed(0)} µs per Lease+Complete (one core's ceiling ≈ ${(r.units / r.coordinatorCpuSeconds).toFixed(0)}/s); ${r.leaseCalls} Lease calls, ${r.rejected} rejected`,
  );
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop() as string)) {
  await benchLeaseThroughput();
}
