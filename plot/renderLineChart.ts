// A small SVG line chart, written by hand (no plotting dependency in the product): series of points on
// linear or logarithmic axes, horizontal reference rules, labelled marks, a caption. Every data point
// carries data-x/data-y attributes, so a reader (or a test) can recover the plotted values exactly.

export interface ChartSeries {
  name: string;
  color: string;
  points: ReadonlyArray<{ x: number; y: number }>;
  /** Join the points with a line (default true); false draws markers only. */
  line?: boolean;
}

/** A point drawn over the series, with a label: e.g. the chosen α. */
export interface ChartMark {
  x: number;
  y: number;
  label: string;
  color: string;
}

/** A horizontal dashed line across the plot: e.g. the baseline's score. */
export interface ChartRule {
  y: number;
  label: string;
  color: string;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  marks?: readonly ChartMark[];
  rules?: readonly ChartRule[];
  /** Ticks of the x axis (e.g. categories); default: round numbers over the data. */
  xTicks?: ReadonlyArray<{ value: number; label: string }>;
  yScale?: "linear" | "log";
  /** Lines of small text under the plot: definitions, notes. */
  caption?: readonly string[];
}

const WIDTH = 760;
const PLOT = { left: 86, right: 190, top: 52, height: 300 };
const FONT = 'font-family="sans-serif"';
/** Characters of 11 px text that fit across the chart. */
const CAPTION_CHARS = 118;

export function renderLineChart(chart: LineChart): string {
  const log = chart.yScale === "log";
  const xs = [
    ...chart.series.flatMap((s) => s.points.map((p) => p.x)),
    ...(chart.marks ?? []).map((m) => m.x),
    ...(chart.xTicks ?? []).map((t) => t.value),
  ];
  const ys = [
    ...chart.series.flatMap((s) => s.points.map((p) => p.y)),
    ...(chart.marks ?? []).map((m) => m.y),
    ...(chart.rules ?? []).map((r) => r.y),
  ].filter((y) => Number.isFinite(y) && (!log || y > 0));
  const xRange = padded(extent(xs), 0.04);
  const yRange = log ? logRange(extent(ys)) : padded(extent(ys), 0.08);
  const plotWidth = WIDTH - PLOT.left - PLOT.right;
  const bottom = PLOT.top + PLOT.height;
  const px = (x: number) => PLOT.left + ((x - xRange[0]) / (xRange[1] - xRange[0])) * plotWidth;
  const yUnit = (y: number) =>
    log
      ? (Math.log10(y) - Math.log10(yRange[0])) / (Math.log10(yRange[1]) - Math.log10(yRange[0]))
      : (y - yRange[0]) / (yRange[1] - yRange[0]);
  const py = (y: number) => bottom - yUnit(y) * PLOT.height;
  const caption = (chart.caption ?? []).flatMap((line) => wrap(line, CAPTION_CHARS));
  const height = bottom + 56 + caption.length * 16;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="28" text-anchor="middle" ${FONT} font-size="16" font-weight="bold">${esc(chart.title)}</text>`,
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${plotWidth}" height="${PLOT.height}" fill="none" stroke="#444"/>`,
  ];
  const yTicks = log ? logTicks(yRange) : linearTicks(yRange, 6);
  const yLabels = tickLabels(yTicks);
  yTicks.forEach((t, i) => {
    const y = fmt(py(t));
    out.push(
      `<line x1="${PLOT.left}" x2="${PLOT.left + plotWidth}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`,
      `<text x="${PLOT.left - 6}" y="${y}" dy="4" text-anchor="end" ${FONT} font-size="11">${esc(yLabels[i] as string)}</text>`,
    );
  });
  const xDefault = linearTicks(xRange, 8);
  const xLabels = tickLabels(xDefault);
  const xTicks = chart.xTicks ?? xDefault.map((value, i) => ({ value, label: xLabels[i] as string }));
  for (const t of xTicks) {
    const x = fmt(px(t.value));
    out.push(
      `<line x1="${x}" x2="${x}" y1="${bottom}" y2="${bottom + 5}" stroke="#444"/>`,
      `<text x="${x}" y="${bottom + 18}" text-anchor="middle" ${FONT} font-size="11">${esc(t.label)}</text>`,
    );
  }
  out.push(
    `<text x="${PLOT.left + plotWidth / 2}" y="${bottom + 38}" text-anchor="middle" ${FONT} font-size="12">${esc(chart.xLabel)}</text>`,
    `<text transform="translate(20 ${PLOT.top + PLOT.height / 2}) rotate(-90)" text-anchor="middle" ${FONT} font-size="12">${esc(chart.yLabel)}</text>`,
  );
  for (const r of chart.rules ?? []) {
    const y = fmt(py(r.y));
    out.push(
      `<line class="rule" data-y="${r.y}" x1="${PLOT.left}" x2="${PLOT.left + plotWidth}" y1="${y}" y2="${y}" stroke="${r.color}" stroke-dasharray="6 4"/>`,
      `<text x="${PLOT.left + plotWidth + 6}" y="${y}" dy="4" ${FONT} font-size="11" fill="${r.color}">${esc(r.label)}</text>`,
    );
  }
  for (const s of chart.series) {
    const points = s.points.filter((p) => Number.isFinite(p.y) && (!log || p.y > 0));
    if (s.line !== false && points.length > 1) {
      const d = points.map((p, i) => `${i === 0 ? "M" : "L"}${fmt(px(p.x))} ${fmt(py(p.y))}`).join(" ");
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    }
    for (const p of points) {
      out.push(
        `<circle class="point" data-series="${esc(s.name)}" data-x="${p.x}" data-y="${p.y}" cx="${fmt(px(p.x))}" cy="${fmt(py(p.y))}" r="3.5" fill="${s.color}"/>`,
      );
    }
  }
  for (const m of chart.marks ?? []) {
    const x = fmt(px(m.x));
    const y = fmt(py(m.y));
    out.push(
      `<circle class="mark" data-x="${m.x}" data-y="${m.y}" cx="${x}" cy="${y}" r="8" fill="none" stroke="${m.color}" stroke-width="2.5"/>`,
      `<text x="${x}" y="${fmt(py(m.y) - 13)}" text-anchor="middle" ${FONT} font-size="11" font-weight="bold" fill="${m.color}">${esc(m.label)}</text>`,
    );
  }
  chart.series.forEach((s, i) => {
    const y = PLOT.top + 10 + i * 18;
    const x = PLOT.left + plotWidth + 12;
    out.push(
      s.line === false
        ? `<circle cx="${x + 9}" cy="${y}" r="3.5" fill="${s.color}"/>`
        : `<line x1="${x}" x2="${x + 18}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${x + 24}" y="${y}" dy="4" ${FONT} font-size="11">${esc(s.name)}</text>`,
    );
  });
  caption.forEach((line, i) => {
    out.push(`<text x="12" y="${bottom + 62 + i * 16}" ${FONT} font-size="11" fill="#333">${esc(line)}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

function extent(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  return [Math.min(...finite), Math.max(...finite)];
}

function padded([lo, hi]: [number, number], fraction: number): [number, number] {
  if (lo === hi) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - d, hi + d];
  }
  const d = (hi - lo) * fraction;
  return [lo - d, hi + d];
}

/** Whole decades around the data. */
function logRange([lo, hi]: [number, number]): [number, number] {
  const a = 10 ** Math.floor(Math.log10(lo > 0 ? lo : 1e-12));
  const b = 10 ** Math.ceil(Math.log10(hi > 0 ? hi : 1));
  return a === b ? [a, a * 10] : [a, b];
}

function logTicks([lo, hi]: [number, number]): number[] {
  const ticks: number[] = [];
  const decades = Math.round(Math.log10(hi / lo));
  for (let e = Math.round(Math.log10(lo)); e <= Math.round(Math.log10(hi)); e++) {
    for (const m of decades <= 2 ? [1, 2, 5] : [1]) {
      const t = m * 10 ** e;
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(Number(t.toPrecision(12)));
    }
  }
  return ticks;
}

/** Round-numbered ticks (steps of 1, 2 or 5 × 10^k) inside [lo, hi]. */
function linearTicks([lo, hi]: [number, number], count: number): number[] {
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** One style for all the ticks of an axis: plain decimals, or exponents with as few digits as tell them apart. */
function tickLabels(ticks: readonly number[]): string[] {
  const largest = Math.max(0, ...ticks.map(Math.abs));
  if (largest === 0 || (largest >= 1e-2 && largest < 1e5)) return ticks.map((t) => String(Number(t.toPrecision(6))));
  for (let digits = 0; digits < 6; digits++) {
    const labels = ticks.map((t) => (t === 0 ? "0" : t.toExponential(digits)));
    if (new Set(labels).size === labels.length) return labels;
  }
  return ticks.map((t) => t.toExponential(6));
}

function fmt(v: number): string {
  return v.toFixed(1);
}

/** Lines of at most `width` characters, broken between words (continuations indented like the line). */
function wrap(line: string, width: number): string[] {
  const indent = /^\s*/.exec(line)?.[0] ?? "";
  const out: string[] = [];
  let current = "";
  for (const word of line.trim().split(/\s+/)) {
    if (current !== "" && indent.length + current.length + 1 + word.length > width) {
      out.push(indent + current);
      current = word;
    } else current = current === "" ? word : `${current} ${word}`;
  }
  out.push(indent + current);
  return out;
}

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
