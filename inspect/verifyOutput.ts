// `llm-expo verify`: recompute all (or a sample of) an output's units from its inputs and compare
// bits; check the index, shard sizes and headers, the copied files and the report's checksums.

import { loadCheckpoint } from "../checkpoint/loadCheckpoint.js";
import { type Checkpoint, INDEX_FILE } from "../checkpoint/types.js";
import type { KernelDevice } from "../core/device.js";
import { ITEMSIZE } from "../core/dtypes.js";
import { UsageError } from "../core/errors.js";
import type { JobSpec } from "../core/jobSpec.js";
import type { JobPlan, WorkUnit } from "../core/plan.js";
import { type ExpoReport, REPORT_FILE } from "../core/report.js";
import type { WorkUnits } from "../core/workUnits.js";
import { computeUnits } from "../engine/computeUnits.js";
import { sha256 } from "../kernel/sha256.js";
import { prepareJob } from "../plan/prepareJob.js";
import { openStorage } from "../storage/openStorage.js";
import type { StorageSettings } from "../storage/s3Settings.js";
import type { Storage } from "../storage/types.js";

export interface VerifyOptions {
  base: string;
  aligned: string;
  out: string;
  /** Fraction of units to recompute (1 = all). */
  sample: number;
  seed: number;
  concurrency: number;
  device: KernelDevice;
  storage: StorageSettings;
}

export interface VerifyResult {
  ok: boolean;
  unitsChecked: number;
  unitsTotal: number;
  bytesCompared: number;
  problems: string[];
}

const MAX_PROBLEMS = 50;

export async function verifyOutput(options: VerifyOptions): Promise<VerifyResult> {
  const outStorage = openStorage(options.out, options.storage);
  const report = await readReport(outStorage);
  const p = report.parameters;
  const spec: JobSpec = {
    base: options.base,
    aligned: options.aligned,
    alphas: [p.alpha],
    outs: [options.out],
    arith: p.arith,
    unitSize: p.unitSize,
    include: p.include,
    exclude: p.exclude,
    drop: p.drop ?? [],
    outDtype: (p.outDtype ?? null) as JobSpec["outDtype"],
    alphaRules: p.alphaRules,
    onNonfinite: "warn",
    overwrite: false,
  };
  const job = await prepareJob(spec, { storage: options.storage, forWriting: false });
  const problems: string[] = [];
  const problem = (text: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(text);
  };
  let output: Checkpoint | undefined;
  try {
    output = await loadCheckpoint(outStorage, "output");
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    problem(e.message);
  }
  let unitsChecked = 0;
  let bytesCompared = 0;
  try {
    if (output) await checkStructure(job.aligned, job.plan, output, report, p, problem);
    if (!output || problems.length > 0) {
      return { ok: false, unitsChecked, unitsTotal: job.plan.units.length, bytesCompared, problems };
    }
    const outShards = new Map(output.shards.map((s) => [s.file, s]));
    const partsOf = new Map(report.output.shards.map((s) => [s.file, s.parts]));
    const units = sampleUnits(job.plan.units, options.sample, options.seed);
    const actual = Buffer.allocUnsafeSlow(job.plan.maxUnitBytes + Math.max(...output.shards.map((s) => s.dataStart)));
    await computeUnits(
      {
        units,
        aligned: job.aligned.storage,
        base: job.base.storage,
        how: { arith: spec.arith, device: options.device },
        buffers: { ...job.plan, outputs: 1 },
        concurrency: 1,
      },
      async (unit, outs) => {
        const shard = outShards.get(unit.shard);
        if (!shard) return;
        const where = `${outStorage.location}/${unit.shard}`;
        const length = unit.dataEnd - unit.dataStart;
        const headerBytes = unit.partNumber === 1 ? shard.dataStart : 0;
        const offset = unit.partNumber === 1 ? 0 : shard.dataStart + unit.dataStart;
        await outStorage.readRange(unit.shard, offset, headerBytes + length, actual, 0);
        const part = partsOf.get(unit.shard)?.[unit.partNumber - 1];
        const sha = (await sha256([actual.subarray(0, headerBytes + length)])).toString("hex");
        if (!part || part.sha256 !== sha) {
          problem(
            `${where}: part ${unit.partNumber}: SHA-256 ${sha} differs from ${part?.sha256 ?? "(missing)"} in ${REPORT_FILE}`,
          );
        }
        const expected = (outs[0] as Buffer).subarray(0, length);
        const got = actual.subarray(headerBytes, headerBytes + length);
        if (!expected.equals(got)) problem(describeMismatch(where, unit, expected, got));
        unitsChecked++;
        bytesCompared += length;
      },
    );
    return { ok: problems.length === 0, unitsChecked, unitsTotal: job.plan.units.length, bytesCompared, problems };
  } finally {
    await Promise.all([outStorage.close(), job.aligned.storage.close(), job.base.storage.close()]);
  }
}

async function readReport(storage: Storage): Promise<ExpoReport> {
  if (!(await storage.exists())) throw new UsageError(`${storage.location}: output not found`);
  if (!(await storage.stat(REPORT_FILE)))
    throw new UsageError(`${storage.location}: no ${REPORT_FILE} (not an llm-expo output)`);
  try {
    return JSON.parse((await storage.readSmall(REPORT_FILE)).toString("utf8")) as ExpoReport;
  } catch (e) {
    throw new UsageError(`${storage.location}/${REPORT_FILE}: not valid JSON (${(e as Error).message})`);
  }
}

async function checkStructure(
  aligned: Checkpoint,
  plan: JobPlan,
  output: Checkpoint,
  report: ExpoReport,
  p: ExpoReport["parameters"],
  problem: (text: string) => void,
): Promise<void> {
  const at = output.storage.location;
  const { layout } = plan;
  if (layout.indexed !== output.indexed) problem(`${at}: ${layout.indexed ? "missing" : "unexpected"} ${INDEX_FILE}`);
  if (layout.indexed && output.indexed) {
    const sorted = (m: Record<string, string> | undefined) => JSON.stringify(Object.entries(m ?? {}).sort());
    if (sorted(output.index?.weight_map) !== sorted(layout.weightMap))
      problem(`${at}/${INDEX_FILE}: weight_map differs from the planned layout`);
  }
  const outShards = new Map(output.shards.map((s) => [s.file, s]));
  for (const want of plan.shards) {
    const got = outShards.get(want.file);
    if (!got) {
      problem(`${at}/${want.file}: shard missing`);
      continue;
    }
    // The header names the input locations, so only the data section and the tensor layout are compared.
    if (got.size - got.dataStart !== want.dataLength) {
      problem(`${at}/${want.file}: data section is ${got.size - got.dataStart} bytes, expected ${want.dataLength}`);
    }
    const tensors = (ts: ReadonlyArray<{ name: string; dtype: string; shape: number[]; begin: number; end: number }>) =>
      JSON.stringify(ts.map((t) => [t.name, t.dtype, t.shape, t.begin, t.end]));
    if (tensors(got.tensors) !== tensors(want.tensors))
      problem(`${at}/${want.file}: tensor layout differs from the plan's`);
    if (got.metadata["expo.alpha"] !== String(p.alpha) || got.metadata["expo.arith"] !== p.arith) {
      problem(`${at}/${want.file}: header metadata expo.alpha/expo.arith do not match ${REPORT_FILE}`);
    }
    const parts = report.output.shards.find((s) => s.file === want.file)?.parts ?? [];
    if (parts.length === 0) problem(`${at}/${REPORT_FILE}: no part checksums for ${want.file}`);
  }
  for (const file of aligned.otherFiles) {
    const got = await output.storage.stat(file);
    if (!got) {
      problem(`${at}/${file}: missing (present in the aligned checkpoint)`);
    } else if (!(await output.storage.readSmall(file)).equals(await aligned.storage.readSmall(file))) {
      problem(`${at}/${file}: differs from the aligned checkpoint's copy`);
    }
  }
}

/** A deterministic sample (seeded shuffle) of ceil(fraction × N) units, in plan order. */
function sampleUnits(units: WorkUnits, fraction: number, seed: number): WorkUnit[] {
  if (fraction >= 1) return [...units];
  const n = Math.max(1, Math.ceil(units.length * fraction));
  const order = Array.from({ length: units.length }, (_, id) => id);
  let state = seed >>> 0 || 1;
  for (let i = order.length - 1; i > 0; i--) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const j = (state >>> 0) % (i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order
    .slice(0, n)
    .sort((x, y) => x - y)
    .map((id) => units.get(id) as WorkUnit);
}

function describeMismatch(where: string, unit: WorkUnit, expected: Buffer, got: Buffer): string {
  let i = 0;
  while (expected[i] === got[i]) i++;
  const seg = [...unit.segments].reverse().find((s) => s.offset <= i);
  if (!seg) return `${where}: part ${unit.partNumber}: byte ${unit.dataStart + i} differs`;
  const item = ITEMSIZE[seg.outDtype] as number;
  const elem = Math.floor((i - seg.offset) / item);
  const at = seg.offset + elem * item;
  const hex = (b: Buffer) =>
    Buffer.from(b.subarray(at, at + item))
      .reverse()
      .toString("hex");
  return `${where}: tensor ${seg.tensor}: element ${seg.elemStart + elem} is 0x${hex(got)}, expected 0x${hex(expected)}`;
}
