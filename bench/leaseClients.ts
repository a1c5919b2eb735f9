// The workers' side of bench/leaseThroughput.ts, as a process of its own: `node dist/bench/leaseClients.js
// ADDRESS WORKERS CHANNELS` (token in LLM_EXPO_TOKEN). WORKERS simulated workers share CHANNELS
// CoordinatorClients, each on a connection of its own; every worker loops Lease -> Complete (with a
// small, realistic UnitReport: the unit's segments with plausible statistics, one part) until Lease
// says the job is done. Prints one JSON line: counts, seconds, lease latencies.
import { setTimeout as sleep } from "node:timers/promises";
import type { LeaseReply } from "../core/leaseService.js";
import { CoordinatorClient } from "../worker/coordinatorClient.js";
import { syntheticReport } from "./syntheticReport.js";

export interface LeaseClientsResult {
  workers: number;
  channels: number;
  /** Lease calls that returned a unit, and all Lease calls (wait and done replies included). */
  unitLeases: number;
  leaseCalls: number;
  completes: number;
  rejected: number;
  /** From the first Lease to the last accepted Complete. */
  seconds: number;
  /** Lease round-trip latency in milliseconds, over every Lease call. */
  leaseP50Ms: number;
  leaseP99Ms: number;
  completeP50Ms: number;
  completeP99Ms: number;
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);
}

export async function leaseClients(
  address: string,
  token: string,
  workers: number,
  channels: number,
): Promise<LeaseClientsResult> {
  const clients = Array.from(
    { length: channels },
    () =>
      new CoordinatorClient({
        address,
        token,
        timeoutMs: 30_000,
        // A subchannel pool per client: each opens its own connection (the global pool would share one).
        channelOptions: { "grpc.use_local_subchannel_pool": 1 },
      }),
  );
  // Each client (channel) learns the job id first, as a real worker does once.
  await Promise.all(clients.map((c, i) => c.describeJob(`bench-describe-${i}`)));
  const leaseMs: number[] = [];
  const completeMs: number[] = [];
  let unitLeases = 0;
  let completes = 0;
  let rejected = 0;
  let lastComplete = 0;
  const started = performance.now();
  const worker = async (i: number) => {
    const client = clients[i % channels] as CoordinatorClient;
    const id = `bench-worker-${i}`;
    let next: LeaseReply | undefined;
    for (;;) {
      const t0 = performance.now();
      // The first lease, and after a wait, by Lease; afterwards each Complete carries the next one.
      const reply = next ?? (await client.lease(id));
      if (!next) leaseMs.push(performance.now() - t0);
      next = undefined;
      if (reply.kind === "done") return;
      if (reply.kind === "failed") throw new Error(`job failed: ${reply.error}`);
      if (reply.kind === "wait") {
        await sleep(reply.retryMs);
        continue;
      }
      unitLeases++;
      const t1 = performance.now();
      const result = await client.complete({
        workerId: id,
        leaseId: reply.leaseId,
        report: syntheticReport(reply.unit, 1),
        leaseNext: true,
      });
      const accepted = result.accepted;
      next = result.next;
      const t2 = performance.now();
      completeMs.push(t2 - t1);
      if (accepted) {
        completes++;
        lastComplete = t2;
      } else rejected++;
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, i) => worker(i)));
  for (const c of clients) c.close();
  const leases = Float64Array.from(leaseMs).sort();
  const comp = Float64Array.from(completeMs).sort();
  return {
    workers,
    channels,
    unitLeases,
    leaseCalls: leaseMs.length,
    completes,
    rejected,
    seconds: (lastComplete - started) / 1000,
    leaseP50Ms: percentile(leases, 0.5),
    leaseP99Ms: percentile(leases, 0.99),
    completeP50Ms: percentile(comp, 0.5),
    completeP99Ms: percentile(comp, 0.99),
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop() as string)) {
  const [address, workers, channels] = process.argv.slice(2);
  if (!address || !workers || !channels) {
    console.error("usage: node dist/bench/leaseClients.js ADDRESS WORKERS CHANNELS (token in LLM_EXPO_TOKEN)");
    process.exit(2);
  }
  // A load generator: grpc-js captures a stack trace (new Error()) for every call, for error
  // messages only; skipping the capture saves client CPU that shares this machine with the coordinator.
  Error.stackTraceLimit = 0;
  const result = await leaseClients(address, process.env.LLM_EXPO_TOKEN ?? "", Number(workers), Number(channels));
  console.log(JSON.stringify(result));
}
