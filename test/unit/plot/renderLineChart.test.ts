// The hand-written SVG chart: every data point where its value says (higher values higher on the page, on
// linear and logarithmic axes), ticks in one style per axis, text escaped, captions wrapped.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderLineChart } from "../../../plot/renderLineChart.js";
import { svgData } from "../../support/sweepSupport.js";

describe("renderLineChart", () => {
  it("places points by value on a linear axis and on a logarithmic one", () => {
    for (const yScale of ["linear", "log"] as const) {
      const points = [
        { x: 0, y: 3e-4 },
        { x: 1, y: 2e-2 },
        { x: 2, y: 1e-3 },
      ];
      const svg = renderLineChart({
        title: "t",
        xLabel: "x",
        yLabel: "y",
        series: [{ name: "s", color: "#000", points }],
        yScale,
      });
      const got = svgData(svg).points;
      assert.deepEqual(
        got.map((p) => [p.x, p.y]),
        points.map((p) => [p.x, p.y]),
      );
      const [a, b, c] = got.map((p) => p.cy) as [number, number, number];
      assert.ok(b < c && c < a, `${yScale}: higher values are higher on the page`);
      if (yScale === "log") {
        // Equal ratios, equal distances: 3e-4 → 1e-3 is log10(10/3) of the way that 1e-3 → 2e-2 is log10(20).
        const ratio = (a - c) / (c - b);
        assert.ok(Math.abs(ratio - Math.log10(10 / 3) / Math.log10(20)) < 0.01, String(ratio));
      }
    }
  });

  it("labels the ticks of an axis in one style, escapes text and wraps long captions", () => {
    const svg = renderLineChart({
      title: "a < b & c",
      xLabel: "x",
      yLabel: "y",
      series: [
        {
          name: "s",
          color: "#000",
          points: [
            { x: 0, y: 6e-4 },
            { x: 1, y: 1.1e-3 },
          ],
        },
      ],
      caption: [`${"word ".repeat(60)}end`],
    });
    assert.match(svg, /a &lt; b &amp; c/);
    const yLabels = [...svg.matchAll(/text-anchor="end"[^>]*>([^<]*)</g)].map((m) => m[1] as string);
    assert.ok(yLabels.length >= 3 && yLabels.every((l) => /^\d(\.\d+)?e-\d$/.test(l)), yLabels.join(" "));
    const captionLines = [...svg.matchAll(/fill="#333">([^<]*)</g)].map((m) => m[1] as string);
    assert.ok(captionLines.length >= 3 && captionLines.every((l) => l.length <= 118));
    assert.equal(captionLines.join(" "), `${"word ".repeat(60)}end`);
  });
});
