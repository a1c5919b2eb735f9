// Everything that can be checked before a byte is written: both checkpoints' structure, the
// pairing, the output locations, and the plan. Any problem here is a UsageError (exit 2).
import { sep } from "node:path";
import { loadCheckpoint } from "../checkpoint/loadCheckpoint.js";
import { pairTensors } from "../checkpoint/pairTensors.js";
import { type Checkpoint, type CheckpointFiles, INDEX_FILE, SINGLE_FILE } from "../checkpoint/types.js";
import { UsageError } from "../core/errors.js";
import type { JobSpec } from "../core/jobSpec.js";
import type { JobPlan } from "../core/plan.js";
import { openStorage } from "../storage/openStorage.js";
import type { StorageSettings } from "../storage/s3Settings.js";
import type { Storage, StorageLimits } from "../storage/types.js";
import { planJob } from "./planJob.js";

/** A job as a coordinator serves it: the plan, the outputs and the inputs' files. */
export interface PlannedJob {
  spec: JobSpec;
  aligned: CheckpointFiles;
  base: CheckpointFiles;
  outputs: Storage[];
  plan: JobPlan;
  /**
   * Per output: it holds a committed checkpoint. Refused unless --overwrite, by the coordinator once it has read
   * its journal: a journal of this job over a committed output means the commit was made and only the
   * journal's removal was cut short, which the coordinator finishes.
   */
  committed: boolean[];
}

/** A planned job with both checkpoints whole (tensors, shapes, offsets): what planning, stats and verify use. */
export interface PreparedJob extends PlannedJob {
  aligned: Checkpoint;
  base: Checkpoint;
}

/**
 * prepareJob for a coordinator: the job without the checkpoints' tensors. Its own function, so that the whole
 * prepared job is referenced by nothing once it returns (a caller awaiting prepareJob itself keeps it in a slot of
 * its suspended frame, out of reach of a collection, for as long as that frame lives).
 */
export async function prepareToServe(spec: JobSpec, options: PrepareOptions): Promise<PlannedJob> {
  return withoutTensors(await prepareJob(spec, options));
}

/**
 * The job without the checkpoints' tensors, which only planning needed: a coordinator holds its job for as
 * long as it runs, and DeepSeek-V3's two 92k-tensor indexes are ~60 MiB of its heap.
 */
export function withoutTensors({ aligned, base, ...job }: PreparedJob): PlannedJob {
  const files = (c: Checkpoint): CheckpointFiles => ({
    storage: c.storage,
    shards: c.shards.map(({ file, size, etag, mtimeMs }) => ({ file, size, etag, mtimeMs })),
    otherFiles: c.otherFiles,
  });
  return { ...job, aligned: files(aligned), base: files(base) };
}

export interface PrepareOptions {
  storage: StorageSettings;
  /** false: the outputs are only read (verify); no writability or existing-checkpoint checks. */
  forWriting: boolean;
}

export async function prepareJob(spec: JobSpec, options: PrepareOptions): Promise<PreparedJob> {
  // Refused jobs close what they opened: a local storage keeps a file handle per shard whose header it read.
  const opened: Storage[] = [];
  const open = (location: string) => {
    const storage = openStorage(location, options.storage);
    opened.push(storage);
    return storage;
  };
  try {
    const base = await loadCheckpoint(open(spec.base), "base");
    const aligned = await loadCheckpoint(open(spec.aligned), "aligned");
    const pairing = pairTensors(aligned, base);
    const outputs = spec.outs.map(open);
    const committed = await checkOutputs(spec, outputs, [base.storage, aligned.storage], options.forWriting);
    const limits = outputs.reduce<StorageLimits>(
      (l, o) => ({
        minPartSize: Math.max(l.minPartSize, o.limits.minPartSize),
        maxPartSize: Math.min(l.maxPartSize, o.limits.maxPartSize),
        maxParts: Math.min(l.maxParts, o.limits.maxParts),
      }),
      { minPartSize: 0, maxPartSize: Number.MAX_SAFE_INTEGER, maxParts: Number.MAX_SAFE_INTEGER },
    );
    const plan = planJob({ spec, aligned, base, pairing, limits });
    return { spec, aligned, base, outputs, plan, committed };
  } catch (e) {
    await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
    throw e;
  }
}

/** Closes the job's storages (inputs and outputs). */
export async function closeJob(job: Pick<PlannedJob, "base" | "aligned" | "outputs">): Promise<void> {
  await Promise.all([job.base.storage.close(), job.aligned.storage.close(), ...job.outputs.map((o) => o.close())]);
}

/** Refuses outputs that overlap inputs or each other; returns which outputs hold a committed checkpoint. */
async function checkOutputs(
  spec: JobSpec,
  outputs: Storage[],
  inputs: Storage[],
  forWriting: boolean,
): Promise<boolean[]> {
  if (spec.outs.length !== spec.alphas.length) {
    throw new UsageError(
      `${spec.alphas.length} alpha value(s) but ${spec.outs.length} output location(s): give one --out per --alpha`,
    );
  }
  const real = await Promise.all(outputs.map((o) => o.realLocation()));
  const realInputs = await Promise.all(inputs.map((i) => i.realLocation()));
  for (const [k, out] of real.entries()) {
    for (const input of realInputs) {
      if (out === input || out.startsWith(input + sep)) {
        throw new UsageError(
          `${spec.outs[k]}: output is ${out === input ? "the same folder as" : "inside"} input ${input}`,
        );
      }
    }
    if (real.indexOf(out) !== k) throw new UsageError(`${spec.outs[k]}: the same output location is given twice`);
  }
  const committed = outputs.map(() => false);
  if (!forWriting) return committed;
  for (const [k, o] of outputs.entries()) {
    await o.checkWritable();
    if (!(await o.exists())) continue;
    committed[k] = ((await o.stat(INDEX_FILE)) ?? (await o.stat(SINGLE_FILE))) !== undefined;
  }
  return committed;
}
