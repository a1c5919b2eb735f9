// Everything that can be checked before a byte is written: both checkpoints' structure, the
// pairing, the output locations, and the plan. Any problem here is a UsageError (exit 2).
import { constants } from "node:fs";
import { access, realpath, stat } from "node:fs/promises";
import { basename, dirname, join, resolve, sep } from "node:path";
import { UsageError } from "../checkpoint/errors.js";
import { loadCheckpoint } from "../checkpoint/loadCheckpoint.js";
import { pairTensors } from "../checkpoint/pairTensors.js";
import { type Checkpoint, INDEX_FILE, SINGLE_FILE } from "../checkpoint/types.js";
import { openStorage } from "../storage/openStorage.js";
import type { Storage, StorageLimits } from "../storage/types.js";
import type { JobSpec } from "./jobSpec.js";
import type { JobPlan } from "./plan.js";
import { planJob } from "./planJob.js";

export interface PreparedJob {
  spec: JobSpec;
  aligned: Checkpoint;
  base: Checkpoint;
  outputs: Storage[];
  plan: JobPlan;
}

export async function prepareJob(
  spec: JobSpec,
  options: { forWriting: boolean } = { forWriting: true },
): Promise<PreparedJob> {
  const base = await loadCheckpoint(openStorage(spec.base), "base");
  const aligned = await loadCheckpoint(openStorage(spec.aligned), "aligned");
  const pairs = pairTensors(aligned, base);
  const outputs = spec.outs.map((o) => openStorage(o));
  await checkOutputs(spec, outputs, [base.storage, aligned.storage], options.forWriting);
  const limits = outputs.reduce<StorageLimits>(
    (l, o) => ({
      minPartSize: Math.max(l.minPartSize, o.limits.minPartSize),
      maxPartSize: Math.min(l.maxPartSize, o.limits.maxPartSize),
      maxParts: Math.min(l.maxParts, o.limits.maxParts),
    }),
    { minPartSize: 0, maxPartSize: Number.MAX_SAFE_INTEGER, maxParts: Number.MAX_SAFE_INTEGER },
  );
  const plan = planJob({ spec, aligned, base, pairs, limits });
  return { spec, aligned, base, outputs, plan };
}

async function checkOutputs(spec: JobSpec, outputs: Storage[], inputs: Storage[], forWriting: boolean): Promise<void> {
  if (spec.outs.length !== spec.alphas.length) {
    throw new UsageError(
      `${spec.alphas.length} alpha value(s) but ${spec.outs.length} output location(s): give one --out per --alpha`,
    );
  }
  const real = await Promise.all(outputs.map((o) => realLocation(o.location)));
  const realInputs = await Promise.all(inputs.map((i) => realLocation(i.location)));
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
  if (!forWriting) return;
  for (const [k, o] of outputs.entries()) {
    if (!o.location.startsWith("s3://")) await checkLocalWritable(spec.outs[k] as string, o.location);
    if (!(await o.exists())) continue;
    const committed = (await o.stat(INDEX_FILE)) ?? (await o.stat(SINGLE_FILE));
    if (committed && !spec.overwrite) {
      throw new UsageError(`${spec.outs[k]}: already holds a checkpoint (use --overwrite to replace it)`);
    }
  }
}

/** A local output's folder, or the nearest existing folder above it, must be a writable folder. */
async function checkLocalWritable(given: string, location: string): Promise<void> {
  let dir = location;
  for (;;) {
    try {
      const s = await stat(dir);
      if (!s.isDirectory()) throw new UsageError(`${given}: ${dir} is not a folder`);
      await access(dir, constants.W_OK);
      return;
    } catch (e) {
      if (e instanceof UsageError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw new UsageError(`${given}: ${dir} is not writable (${code})`);
      if (dirname(dir) === dir) return;
      dir = dirname(dir);
    }
  }
}

/** The real path of a local location, resolving symlinks of the longest existing prefix. */
async function realLocation(location: string): Promise<string> {
  let head = resolve(location);
  const tail: string[] = [];
  for (;;) {
    try {
      return join(await realpath(head), ...tail);
    } catch {
      const parent = dirname(head);
      if (parent === head) return resolve(location);
      tail.unshift(basename(head));
      head = parent;
    }
  }
}
