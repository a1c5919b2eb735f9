// shift.svg (`llm-expo stats --plot`): the relative shift per layer, one line per kind of tensor, the tensors
// outside the layers (embeddings, lm_head, the final norm) as points left of layer 0, and the model-level
// figure as a dashed line, with its exact definition under the plot.
import { RELATIVE_SHIFT_DEFINITION } from "../core/report.js";
import { type ChartSeries, renderLineChart } from "../plot/renderLineChart.js";
import type { ShiftGroup, TensorKind } from "./shiftByLayer.js";

const COLORS: Record<TensorKind, string> = {
  attention: "#1f77b4",
  mlp: "#ff7f0e",
  embeddings: "#2ca02c",
  norms: "#9467bd",
  other: "#8c564b",
};

export function renderShiftSvg(
  groups: readonly ShiftGroup[],
  model: { relativeShift: number; tensors: number },
  title: string,
): string {
  const kinds = [...new Set(groups.map((g) => g.kind))];
  const series: ChartSeries[] = [];
  for (const kind of kinds) {
    const layered = groups.filter((g) => g.kind === kind && g.layer !== null);
    if (layered.length > 0)
      series.push({
        name: kind,
        color: COLORS[kind],
        points: layered.map((g) => ({ x: g.layer as number, y: g.relativeShift })),
      });
    const outside = groups.filter((g) => g.kind === kind && g.layer === null);
    if (outside.length > 0)
      series.push({
        name: layered.length > 0 ? `${kind}, outside` : kind,
        color: COLORS[kind],
        line: false,
        points: outside.map((g) => ({ x: -1, y: g.relativeShift })),
      });
  }
  const layers = groups.flatMap((g) => (g.layer === null ? [] : [g.layer]));
  const last = layers.length > 0 ? Math.max(...layers) : 0;
  const every = Math.max(1, Math.ceil((last + 1) / 12));
  const ticks = [
    ...(groups.some((g) => g.layer === null) ? [{ value: -1, label: "outside" }] : []),
    ...Array.from({ length: Math.floor(last / every) + 1 }, (_, i) => ({ value: i * every, label: String(i * every) })),
  ];
  const ys = groups.map((g) => g.relativeShift).filter((y) => y > 0);
  const log = ys.length > 0 && Math.max(...ys) / Math.min(...ys) > 20;
  return renderLineChart({
    title,
    xLabel: "layer",
    yLabel: "relative shift |θ1 − θ0| / |θ0|",
    series,
    rules: [{ y: model.relativeShift, label: `model: ${model.relativeShift.toExponential(3)}`, color: "#d62728" }],
    xTicks: ticks,
    yScale: log ? "log" : "linear",
    caption: [
      `Model-level relative shift ${model.relativeShift.toExponential(4)} over ${model.tensors} floating-point tensors:`,
      `  ${RELATIVE_SHIFT_DEFINITION}.`,
      "A point: the same ratio over the tensors of one kind in one layer (sums of squares over their elements).",
    ],
  });
}
