// expo-report.json: parameters, provenance, per-part checksums and norm statistics of one output.
// Statistics are summed in unit order, so the report is the same bits whatever order units finished in.
import type { Checkpoint } from "../checkpoint/types.js";
import type { SegmentStats } from "../kernel/types.js";
import type { JobSpec } from "./jobSpec.js";
import type { UnitReport } from "./leaseService.js";
import type { JobPlan } from "./plan.js";
import { TOOL } from "./planJob.js";

export interface TensorStatistics {
  dtype: string;
  shape: number[];
  alpha: number;
  normBase: number;
  normAligned: number;
  normDelta: number;
  normOutput: number;
  relativeShift: number;
  maxAbsDiff: number;
  nonfiniteInputs: number;
  nonfiniteOutputs: number;
}

interface Sums {
  a2: number;
  b2: number;
  d2: number;
  out2: number[];
  maxAbsDiff: number;
  nonfiniteInputs: number;
  nonfiniteOutputs: number;
}

/** Per-tensor and whole-model norms of output k, summed in unit order (reproducible bits). */
export function aggregateStatistics(
  plan: JobPlan,
  segmentsOf: (unitId: number) => ReadonlyArray<{ tensor: string; stats: SegmentStats }>,
  k: number,
  aligned: Checkpoint,
) {
  const perTensor = new Map<string, Sums>();
  const total: Sums = { a2: 0, b2: 0, d2: 0, out2: [0], maxAbsDiff: 0, nonfiniteInputs: 0, nonfiniteOutputs: 0 };
  const alphaOf = new Map<string, number>();
  for (const unit of plan.units) {
    for (const s of unit.segments) if (!alphaOf.has(s.tensor)) alphaOf.set(s.tensor, s.alphas[k] ?? 0);
    for (const { tensor, stats } of segmentsOf(unit.id)) {
      let sums = perTensor.get(tensor);
      if (!sums) {
        sums = { a2: 0, b2: 0, d2: 0, out2: [0], maxAbsDiff: 0, nonfiniteInputs: 0, nonfiniteOutputs: 0 };
        perTensor.set(tensor, sums);
      }
      add(sums, stats, k);
    }
  }
  const tensors: Record<string, TensorStatistics> = {};
  for (const [name, sums] of perTensor) {
    add(total, toStats(sums), 0);
    const ref = aligned.tensors.get(name);
    tensors[name] = {
      dtype: ref?.tensor.dtype ?? "",
      shape: ref?.tensor.shape ?? [],
      alpha: alphaOf.get(name) ?? 0,
      ...norms(sums),
    };
  }
  return {
    model: { tensorsExtrapolated: plan.tensors.extrapolated, tensorsCopied: plan.tensors.copied, ...norms(total) },
    tensors,
  };
}

export function buildReport(
  k: number,
  spec: JobSpec,
  plan: JobPlan,
  reports: ReadonlyMap<number, UnitReport>,
  aligned: Checkpoint,
  base: Checkpoint,
) {
  const output = plan.outputs[k];
  if (!output) throw new Error(`no output ${k}`);
  const statistics = aggregateStatistics(
    plan,
    (id) => {
      const report = reports.get(id);
      if (!report) throw new Error(`unit ${id} has no report`);
      return report.segments;
    },
    k,
    aligned,
  );
  const shards = plan.shards.map((s) => {
    const outShard = output.shards.find((o) => o.file === s.file);
    return {
      file: s.file,
      size: outShard?.size ?? 0,
      parts: s.unitIds.map((id) => {
        const part = reports.get(id)?.parts.find((p) => p.output === k);
        return { partNumber: part?.partNumber, offset: part?.offset, size: part?.size, sha256: part?.sha256 };
      }),
    };
  });
  return {
    format: "llm-expo-report/1",
    tool: TOOL,
    createdAt: new Date().toISOString(),
    parameters: {
      alpha: output.alpha,
      arith: spec.arith,
      unitSize: plan.unitSize,
      include: spec.include,
      exclude: spec.exclude,
      alphaRules: spec.alphaRules,
      onNonfinite: spec.onNonfinite,
    },
    inputs: { base: provenance(base), aligned: provenance(aligned) },
    output: { location: output.location, shards },
    statistics,
  };
}

export type ExpoReport = ReturnType<typeof buildReport>;

function add(sums: Sums, s: SegmentStats, k: number): void {
  sums.a2 += s.sumA2;
  sums.b2 += s.sumB2;
  sums.d2 += s.sumD2;
  sums.out2[0] = (sums.out2[0] as number) + (s.sumOut2[k] as number);
  sums.maxAbsDiff = Math.max(sums.maxAbsDiff, s.maxAbsDiff);
  sums.nonfiniteInputs += s.nonfiniteInputs;
  sums.nonfiniteOutputs += s.nonfiniteOutputs;
}

function toStats(s: Sums): SegmentStats {
  return {
    sumA2: s.a2,
    sumB2: s.b2,
    sumD2: s.d2,
    sumOut2: s.out2,
    maxAbsDiff: s.maxAbsDiff,
    nonfiniteInputs: s.nonfiniteInputs,
    nonfiniteOutputs: s.nonfiniteOutputs,
  };
}

function norms(s: Sums) {
  const normBase = Math.sqrt(s.b2);
  const normDelta = Math.sqrt(s.d2);
  return {
    normBase,
    normAligned: Math.sqrt(s.a2),
    normDelta,
    normOutput: Math.sqrt(s.out2[0] as number),
    relativeShift: normBase > 0 ? normDelta / normBase : 0,
    maxAbsDiff: s.maxAbsDiff,
    nonfiniteInputs: s.nonfiniteInputs,
    nonfiniteOutputs: s.nonfiniteOutputs,
  };
}

function provenance(c: Checkpoint) {
  return {
    location: c.storage.location,
    files: c.shards.map((s) => ({
      name: s.file,
      size: s.size,
      etag: s.etag,
      mtime: new Date(s.mtimeMs).toISOString(),
    })),
  };
}
