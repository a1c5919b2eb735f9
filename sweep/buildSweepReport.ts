// sweep.json from the scores: the baseline (α = 0), the candidates by α, the best of all (ties go to the
// baseline, then to the smallest |α|: no more extrapolation than the score asks for), the failures, and one
// sentence saying what was chosen and by how much it beat the aligned model, or that extrapolation did not help.
import type { SweepFailure, SweepReport, SweepResult } from "../core/sweep.js";
import type { Candidate } from "./sweepCandidates.js";

export function buildSweepReport(
  candidates: readonly Candidate[],
  results: readonly SweepResult[],
  failures: readonly SweepFailure[],
): SweepReport {
  const baselineModel = candidates.find((c) => c.alpha === 0)?.model ?? "";
  const baseline = results.find((r) => r.alpha === 0);
  const scored = [...results].sort(
    (a, b) => b.score - a.score || Math.abs(a.alpha) - Math.abs(b.alpha) || a.alpha - b.alpha,
  );
  const top = scored[0];
  const best = top ? { alpha: top.alpha, model: top.model, score: top.score } : null;
  const failedNote =
    failures.length > 0
      ? ` ${failures.length} evaluation(s) failed: α = ${failures.map((f) => f.alpha).join(", ")}.`
      : "";
  let conclusion: string;
  if (!top) conclusion = "No evaluation produced a score.";
  else if (top.alpha === 0)
    conclusion = `The aligned model itself (α = 0) scored best (${short(top.score)}): extrapolation did not help at the α evaluated.`;
  else if (!baseline)
    conclusion = `α = ${top.alpha} scored best (${short(top.score)}); the baseline's evaluation failed, so whether extrapolation helped is unknown.`;
  else
    conclusion = `α = ${top.alpha} scored best: ${short(top.score)}, ${signed(top.score - baseline.score)} over the aligned model (α = 0: ${short(baseline.score)}).`;
  return {
    baseline: { alpha: 0, model: baselineModel, score: baseline?.score ?? null },
    results: results
      .filter((r) => r.alpha !== 0)
      .sort((a, b) => a.alpha - b.alpha)
      .map((r) => ({ alpha: r.alpha, model: r.model, score: r.score, metrics: r.metrics, seconds: r.seconds })),
    best,
    failed: [...failures].sort((a, b) => a.alpha - b.alpha),
    conclusion: conclusion + failedNote,
  };
}

function signed(x: number): string {
  return `${x >= 0 ? "+" : "−"}${short(Math.abs(x))}`;
}

function short(x: number): string {
  return String(Number(x.toPrecision(6)));
}
