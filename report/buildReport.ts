// expo-report.json of output k: parameters, provenance, per-part checksums and norm statistics.
import type { Checkpoint, CheckpointFiles } from "../checkpoint/types.js";
import type { JobSpec } from "../core/jobSpec.js";
import type { UnitReport } from "../core/leaseService.js";
import type { JobPlan } from "../core/plan.js";
import { type ExpoReport, type FileProvenance, REPORT_FORMAT } from "../core/report.js";
import { TOOL } from "../core/tool.js";
import { aggregateStatistics, type TensorShapes } from "./aggregateStatistics.js";

export function buildReport(
  k: number,
  spec: JobSpec,
  plan: JobPlan,
  reports: ReadonlyMap<number, UnitReport>,
  aligned: CheckpointFiles,
  base: CheckpointFiles,
): ExpoReport {
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
    outputShapes(plan),
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
    format: REPORT_FORMAT,
    tool: TOOL,
    createdAt: new Date().toISOString(),
    parameters: {
      alpha: output.alpha,
      arith: spec.arith,
      unitSize: plan.unitSize,
      include: spec.include,
      exclude: spec.exclude,
      drop: spec.drop,
      outDtype: spec.outDtype,
      alphaRules: spec.alphaRules,
      onNonfinite: spec.onNonfinite,
    },
    inputs: { base: provenance(base), aligned: provenance(aligned) },
    output: { location: output.location, shards },
    compatibility: plan.compatibility,
    statistics,
  };
}

/** Dtype and shape of the aligned checkpoint's tensors (the output's shapes), for the per-tensor statistics. */
export function tensorShapes(aligned: Checkpoint): TensorShapes {
  return (name: string) => aligned.tensors.get(name)?.tensor;
}

/** Output dtype and shape of the plan's tensors. */
export function outputShapes(plan: JobPlan): TensorShapes {
  const shapes = new Map(plan.shards.flatMap((s) => s.tensors.map((t) => [t.name, t] as const)));
  return (name) => shapes.get(name);
}

function provenance(c: CheckpointFiles): { location: string; files: FileProvenance[] } {
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
