// The replay side of bench/journalReplay.ts, as a fresh process of its own (what a restarted coordinator does
// before it serves): `node dist/bench/replayJournalChild.js LAYOUT JOURNAL_LOCATION` plans the job, reads the
// journal (a folder, or an s3:// prefix with the endpoint in AWS_ENDPOINT_URL), checks and unpacks it, and starts
// a Coordinator from it. Prints one JSON line: the time of each step and the process's peak RSS (VmHWM).
import { readFileSync } from "node:fs";
import { collectGarbage, limitHeapGrowth } from "../cli/v8Heap.js";
import { Coordinator } from "../coordinator/coordinator.js";
import { jobIdentity } from "../coordinator/jobIdentity.js";
import { JOURNAL_NAME, Journal } from "../coordinator/journal.js";
import { replayJournal } from "../coordinator/replayJournal.js";
import { openStorage } from "../storage/openStorage.js";
import { StorageRetry } from "../storage/storageRetry.js";
import { memoryOutput } from "./memoryOutput.js";
import { type ScaleLayout, scaleJob } from "./scaleJob.js";

export interface ReplayResult {
  units: number;
  unitsDone: number;
  planSeconds: number;
  /** Reading and parsing the journal. */
  readSeconds: number;
  /** Checking it against the job and unpacking the reports. */
  replaySeconds: number;
  /** Coordinator.start(resume): the lease table and the totals. */
  startSeconds: number;
  peakRssBytes: number;
}

const [layout, location] = process.argv.slice(2);
if (!layout || !location) {
  console.error("usage: node dist/bench/replayJournalChild.js LAYOUT JOURNAL_LOCATION");
  process.exit(2);
}
// As `llm-expo coordinator` runs: V8's heap growth as the CLI sets it; once planned, only the plan and the inputs'
// files kept (withoutTensors) and planning's garbage collected before the journal is read.
limitHeapGrowth();
const { spec, plan, planSeconds } = scaleJob(layout as ScaleLayout, 8 * 1024 * 1024);
collectGarbage();
const endpoint = process.env.AWS_ENDPOINT_URL;
const storage = openStorage(location, {
  s3: {
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: true,
    region: "us-east-1",
    maxSockets: 64,
    partChecksums: true,
  },
  retry: new StorageRetry({ timeoutMs: 30_000 }),
});
const t0 = performance.now();
const journal = new Journal(storage.appendLog(JOURNAL_NAME));
const contents = await journal.read();
const t1 = performance.now();
if (!contents) throw new Error(`no journal at ${location}`);
const resume = replayJournal(journal.where, contents, plan, jobIdentity(spec, plan.inputVersions));
const t2 = performance.now();
const coordinator = new Coordinator(spec, plan, [memoryOutput("s3://bench/out")], {
  jobId: "bench",
  leaseTtlMs: 60_000,
  maxAttempts: 3,
});
await coordinator.start(resume);
const t3 = performance.now();
coordinator.close();
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
const result: ReplayResult = {
  units: plan.units.length,
  unitsDone: coordinator.progress().unitsDone,
  planSeconds: planSeconds,
  readSeconds: (t1 - t0) / 1000,
  replaySeconds: (t2 - t1) / 1000,
  startSeconds: (t3 - t2) / 1000,
  peakRssBytes: Number(hwm?.[1] ?? 0) * 1024,
};
console.log(JSON.stringify(result));
