// Per-tensor and whole-model norms of one output, summed in unit order: the same bits whatever order the
// units finished in. The report, the coordinator's norm gauges and `stats` all call this one function.
import type { JobPlan } from "../core/plan.js";
import type { Norms, Statistics, TensorStatistics } from "../core/report.js";
import type { SegmentStats } from "../core/statistics.js";

interface Sums {
  a2: number;
  b2: number;
  d2: number;
  out2: number;
  maxAbsDiff: number;
  nonfiniteInputs: number;
  nonfiniteOutputs: number;
}

/** Dtype and shape of a tensor by name (the aligned checkpoint's). */
export type TensorShapes = (name: string) => { dtype: string; shape: number[] } | undefined;

export function aggregateStatistics(
  plan: JobPlan,
  segmentsOf: (unitId: number) => ReadonlyArray<{ tensor: string; stats: SegmentStats }>,
  k: number,
  shapes: TensorShapes,
): Statistics {
  const perTensor = new Map<string, Sums>();
  const total = zero();
  const alphaOf = new Map<string, number>();
  for (const unit of plan.units) {
    for (const s of unit.segments) if (!alphaOf.has(s.tensor)) alphaOf.set(s.tensor, s.alphas[k] ?? 0);
    for (const { tensor, stats } of segmentsOf(unit.id)) {
      let sums = perTensor.get(tensor);
      if (!sums) {
        sums = zero();
        perTensor.set(tensor, sums);
      }
      add(sums, stats.sumA2, stats.sumB2, stats.sumD2, stats.sumOut2[k] as number, stats);
    }
  }
  const tensors: Record<string, TensorStatistics> = {};
  for (const [name, sums] of perTensor) {
    add(total, sums.a2, sums.b2, sums.d2, sums.out2, sums);
    const shape = shapes(name);
    tensors[name] = {
      dtype: shape?.dtype ?? "",
      shape: shape?.shape ?? [],
      alpha: alphaOf.get(name) ?? 0,
      ...norms(sums),
    };
  }
  return {
    model: { tensorsExtrapolated: plan.tensors.extrapolated, tensorsCopied: plan.tensors.copied, ...norms(total) },
    tensors,
  };
}

function zero(): Sums {
  return { a2: 0, b2: 0, d2: 0, out2: 0, maxAbsDiff: 0, nonfiniteInputs: 0, nonfiniteOutputs: 0 };
}

function add(
  sums: Sums,
  a2: number,
  b2: number,
  d2: number,
  out2: number,
  more: Pick<Sums, "maxAbsDiff" | "nonfiniteInputs" | "nonfiniteOutputs">,
): void {
  sums.a2 += a2;
  sums.b2 += b2;
  sums.d2 += d2;
  sums.out2 += out2;
  sums.maxAbsDiff = Math.max(sums.maxAbsDiff, more.maxAbsDiff);
  sums.nonfiniteInputs += more.nonfiniteInputs;
  sums.nonfiniteOutputs += more.nonfiniteOutputs;
}

function norms(s: Sums): Norms {
  const normBase = Math.sqrt(s.b2);
  const normDelta = Math.sqrt(s.d2);
  return {
    normBase,
    normAligned: Math.sqrt(s.a2),
    normDelta,
    normOutput: Math.sqrt(s.out2),
    relativeShift: normBase > 0 ? normDelta / normBase : 0,
    maxAbsDiff: s.maxAbsDiff,
    nonfiniteInputs: s.nonfiniteInputs,
    nonfiniteOutputs: s.nonfiniteOutputs,
  };
}
