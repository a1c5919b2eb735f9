// sweep.svg: score against α, the baseline (α = 0, the aligned model) as a dashed line and a point, the chosen
// α ringed, failed evaluations listed under the plot.
import type { SweepReport } from "../core/sweep.js";
import { renderLineChart } from "../plot/renderLineChart.js";

export function renderSweepSvg(report: SweepReport): string {
  const points = [
    ...(report.baseline.score === null ? [] : [{ x: 0, y: report.baseline.score }]),
    ...report.results.map((r) => ({ x: r.alpha, y: r.score })),
  ].sort((a, b) => a.x - b.x);
  const baseline = report.baseline.score;
  const best = report.best;
  return renderLineChart({
    title: "ExPO α sweep: evaluator score against α",
    xLabel: "α   (θ2 = θ1 + α·(θ1 − θ0); α = 0 is the aligned model θ1, −1 < α < 0 interpolates towards θ0)",
    yLabel: "score (higher is better)",
    series: [{ name: "score", color: "#1f77b4", points }],
    rules: baseline === null ? [] : [{ y: baseline, label: `baseline α = 0: ${short(baseline)}`, color: "#7f7f7f" }],
    marks: [
      ...(baseline === null || best?.alpha === 0 ? [] : [{ x: 0, y: baseline, label: "aligned θ1", color: "#7f7f7f" }]),
      ...(best
        ? [
            {
              x: best.alpha,
              y: best.score,
              label: best.alpha === 0 ? "best: aligned θ1 (α = 0)" : `best α = ${best.alpha}`,
              color: "#d62728",
            },
          ]
        : []),
    ],
    caption: [report.conclusion, ...report.failed.map((f) => `failed: α = ${f.alpha} (${f.error})`)],
  });
}

function short(x: number): string {
  return String(Number(x.toPrecision(5)));
}
