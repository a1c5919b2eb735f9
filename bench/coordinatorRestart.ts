// A real `llm-expo coordinator` restarted over a 100k-unit job (issue 12), the whole path a restarted pod takes:
// the CLI, both checkpoints loaded by reading and parsing every shard's header, planning, the journal read and
// replayed, the lease table started, gRPC served. The checkpoints are DeepSeek-V3- or Llama-3.1-405B-shaped
// safetensors files whose data sections are holes (sparse files: headers only on disk), so nothing but the
// headers is ever read; the journal is written beforehand (by this process, with the job's real plan and
// identity) with every unit finished but the last 1 %, so the coordinator serves and waits for workers. Measured:
// the coordinator's peak RSS (VmHWM) once it listens, and the seconds from its start to that line.
//
//   node dist/bench/coordinatorRestart.js [deepseek-v3|llama-405b …]
import { spawn } from "node:child_process";
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { serializeHeader } from "../checkpoint/serializeHeader.js";
import { INDEX_FILE } from "../checkpoint/types.js";
import { JOURNAL_NAME, Journal, type JournalRecord } from "../coordinator/journal.js";
import { packReport } from "../coordinator/packReport.js";
import { ITEMSIZE } from "../core/dtypes.js";
import { jobSpecWith } from "../core/jobSpec.js";
import { deepseekV3Tensors, type LayoutTensor, llama405bTensors, shardEvenly } from "../harness/layoutCheckpoint.js";
import { prepareJob } from "../plan/prepareJob.js";
import { openStorage } from "../storage/openStorage.js";
import type { StorageSettings } from "../storage/s3Settings.js";
import { StorageRetry } from "../storage/storageRetry.js";
import { seededRandom, syntheticStart } from "./syntheticJournal.js";
import { syntheticReport } from "./syntheticReport.js";

const MiB = 1024 * 1024;
const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "cli", "main.js");
const LAYOUTS = {
  "deepseek-v3": { tensors: deepseekV3Tensors, aligned: 163, base: 163 },
  "llama-405b": { tensors: llama405bTensors, aligned: 191, base: 190 },
} as const;
type Layout = keyof typeof LAYOUTS;

/** A checkpoint folder of safetensors shards whose data sections are holes, with its index. */
function writeSparseCheckpoint(dir: string, shards: Array<{ file: string; tensors: LayoutTensor[] }>): void {
  mkdirSync(dir, { recursive: true });
  const weightMap: Record<string, string> = {};
  for (const { file, tensors } of shards) {
    let offset = 0;
    const infos = tensors.map((t) => {
      const bytes = t.shape.reduce((a, b) => a * b, 1) * (ITEMSIZE[t.dtype] as number);
      const info = { name: t.name, dtype: t.dtype, shape: t.shape, begin: offset, end: offset + bytes };
      offset += bytes;
      weightMap[t.name] = file;
      return info;
    });
    const header = serializeHeader(infos, { format: "pt" });
    const fd = openSync(join(dir, file), "w");
    writeSync(fd, header);
    ftruncateSync(fd, header.length + offset);
    closeSync(fd);
  }
  writeFileSync(join(dir, INDEX_FILE), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  writeFileSync(join(dir, "config.json"), "{}\n");
}

/** The journal a coordinator killed after all but the last 1 % of the units would have left. */
async function writeJournal(job: Awaited<ReturnType<typeof prepareJob>>, settings: StorageSettings): Promise<number> {
  const out = job.spec.outs[0] as string;
  const journal = new Journal(openStorage(join(out, ".expo"), settings).appendLog(JOURNAL_NAME));
  await journal.append(syntheticStart(job.spec, job.plan));
  const random = seededRandom();
  const done = Math.floor(job.plan.units.length * 0.99);
  let batch: JournalRecord[] = [];
  for (const unit of job.plan.units) {
    if (unit.id >= done) break;
    batch.push({ type: "unit", unit: packReport(syntheticReport(unit, job.plan.outputs.length, random)) });
    if (batch.length === 32) {
      await journal.append(...batch);
      batch = [];
    }
  }
  await journal.append(...batch);
  await journal.close();
  return done;
}

interface Restart {
  units: number;
  unitsDone: number;
  secondsToServe: number;
  peakRssBytes: number;
}

/** Starts the coordinator on the job, waits for it to listen, reads its VmHWM, then stops it (SIGTERM: suspended). */
function restartCoordinator(base: string, aligned: string, out: string): Promise<Restart> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(
      process.execPath,
      [
        CLI,
        "coordinator",
        ...["--base", base, "--aligned", aligned, "--out", out, "--alpha", "0.3", "--unit-size", String(8 * MiB)],
        ...["--listen", "127.0.0.1:0", "--allow-unauthenticated", "--linger", "0", "--json"],
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    let all = "";
    const result: Partial<Restart> = {};
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      all += d;
      for (const line of stderr.split("\n").slice(0, -1)) {
        let l: { msg?: string; units?: number; unitsDone?: number };
        try {
          l = JSON.parse(line);
        } catch {
          continue;
        }
        if (l.msg?.startsWith("planned ")) result.units = l.units;
        if (l.msg?.startsWith("resuming job")) result.unitsDone = l.unitsDone;
        if (l.msg === "coordinator listening" && result.secondsToServe === undefined) {
          result.secondsToServe = (performance.now() - started) / 1000;
          const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
          result.peakRssBytes = Number(hwm?.[1] ?? 0) * 1024;
          child.kill("SIGTERM");
        }
      }
      stderr = stderr.slice(stderr.lastIndexOf("\n") + 1);
    });
    child.on("close", () => {
      if (result.peakRssBytes === undefined || result.unitsDone === undefined)
        reject(new Error(`the coordinator did not resume and serve: ${all.trim().split("\n").slice(-3).join(" | ")}`));
      else resolve(result as Restart);
    });
  });
}

export async function benchCoordinatorRestart(layouts: Layout[] = ["deepseek-v3", "llama-405b"]): Promise<void> {
  const settings: StorageSettings = {
    s3: { forcePathStyle: false, region: "us-east-1", maxSockets: 64, partChecksums: true },
    retry: new StorageRetry({ timeoutMs: 60_000 }),
  };
  for (const layout of layouts) {
    const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), "llm-expo-restart-"));
    try {
      const shape = LAYOUTS[layout];
      const tensors = shape.tensors();
      const [base, aligned, out] = ["base", "aligned", "out"].map((d) => join(root, d)) as [string, string, string];
      writeSparseCheckpoint(base, shardEvenly(tensors, shape.base));
      writeSparseCheckpoint(aligned, shardEvenly(tensors, shape.aligned));
      const spec = jobSpecWith({ base, aligned, alphas: [0.3], outs: [out], unitSize: 8 * MiB });
      const job = await prepareJob(spec, { storage: settings, forWriting: true });
      const done = await writeJournal(job, settings);
      await Promise.all([job.aligned.storage, job.base.storage, ...job.outputs].map((s) => s.close()));
      for (let round = 1; round <= 3; round++) {
        const r = await restartCoordinator(base, aligned, out);
        console.log(
          `${layout} (${tensors.length} tensors), round ${round}: ${r.units} units, ${r.unitsDone} done in the journal (${done} written); serving after ${r.secondsToServe.toFixed(2)} s (read headers, plan, replay); peak RSS ${(r.peakRssBytes / MiB).toFixed(0)} MiB (target <= 300 MiB)`,
        );
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop() as string)) {
  const only = process.argv.slice(2) as Layout[];
  await benchCoordinatorRestart(only.length > 0 ? only : undefined);
}
