// `llm-expo stats --plot`: the relative shift per layer and kind of tensor, checked against sums of squares this
// test computes itself from the checkpoints' bytes; the SVG plots exactly those figures and the model-level one
// with its definition; the text output states the definition; an unwritable plot is refused before the pass.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { bf16ToF32 } from "../support/oracle.js";
import { readAllTensors } from "../support/readTensor.js";
import { runCli } from "../support/runCli.js";
import { svgData } from "../support/sweepSupport.js";
import { tempDir } from "../support/tempDir.js";

function values(dtype: string, data: Buffer): number[] {
  if (dtype === "BF16") return Array.from({ length: data.length / 2 }, (_, i) => bf16ToF32(data.readUInt16LE(2 * i)));
  if (dtype === "F32") return Array.from({ length: data.length / 4 }, (_, i) => data.readFloatLE(4 * i));
  return [];
}

describe("llm-expo stats --plot", () => {
  let root: string;
  before(async () => {
    root = await tempDir();
    const r = await runCli(["make-example", root, "--size", "2MiB", "--seed", "4"]);
    assert.equal(r.code, 0, r.stderr);
  });

  it("per layer and kind, the ratio of the sums of squares; the SVG plots those and the model's figure", async () => {
    const plot = join(root, "plots", "shift.svg");
    const r = await runCli([
      "stats",
      "--base",
      join(root, "sft"),
      "--aligned",
      join(root, "dpo"),
      "--plot",
      plot,
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const stats = JSON.parse(r.stdout);
    // By hand: which group each tensor of make-example's Llama layout belongs to, and its sums.
    const base = readAllTensors(join(root, "sft"));
    const sums = new Map<string, { b2: number; d2: number }>();
    for (const [name, a] of readAllTensors(join(root, "dpo"))) {
      if (a.dtype !== "BF16" && a.dtype !== "F32") continue;
      const layer = /^model\.layers\.(\d+)\./.exec(name)?.[1] ?? "null";
      const kind = name.includes("norm")
        ? "norms"
        : name.includes("self_attn")
          ? "attention"
          : name.includes(".mlp.")
            ? "mlp"
            : "embeddings";
      const av = values(a.dtype, a.data);
      const bv = values(a.dtype, base.get(name)?.data as Buffer);
      const s = sums.get(`${layer} ${kind}`) ?? { b2: 0, d2: 0 };
      av.forEach((x, i) => {
        s.b2 += (bv[i] as number) ** 2;
        s.d2 += (x - (bv[i] as number)) ** 2;
      });
      sums.set(`${layer} ${kind}`, s);
    }
    const groups = stats.byLayer as Array<{ layer: number | null; kind: string; relativeShift: number }>;
    assert.deepEqual(groups.map((g) => `${g.layer} ${g.kind}`).sort(), [...sums.keys()].sort());
    for (const g of groups) {
      const s = sums.get(`${g.layer} ${g.kind}`) as { b2: number; d2: number };
      const want = Math.sqrt(s.d2) / Math.sqrt(s.b2);
      assert.ok(Math.abs(g.relativeShift - want) <= 1e-6 * want, `${g.layer} ${g.kind}: ${g.relativeShift} vs ${want}`);
    }
    assert.match(stats.definitions.relativeShift, /^‖θ1 − θ0‖₂ \/ ‖θ0‖₂, both L2 norms taken over every element/);
    const svgText = readFileSync(plot, "utf8");
    const svg = svgData(svgText);
    const plotted = svg.points.map((p) => `${p.series.split(",")[0]} ${p.x === -1 ? "null" : p.x} ${p.y}`).sort();
    assert.deepEqual(plotted, groups.map((g) => `${g.kind} ${g.layer} ${g.relativeShift}`).sort());
    assert.deepEqual(svg.rules, [stats.model.relativeShift]);
    assert.ok(
      svgText.includes(
        `Model-level relative shift ${stats.model.relativeShift.toExponential(4)} over ${stats.model.tensorsExtrapolated} floating-point tensors`,
      ),
    );
    assert.match(svgText, /‖θ1 − θ0‖₂ \/ ‖θ0‖₂, both L2 norms/);
  });

  it("the text output states the model's figure with its definition and the figure per kind", async () => {
    const r = await runCli(["stats", "--base", join(root, "sft"), "--aligned", join(root, "dpo"), "--top", "0"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^relative shift of the model \d\.\d{4}e-\d = ‖θ1 − θ0‖₂ \/ ‖θ0‖₂, both L2 norms taken over every element of the compared floating-point tensors at once \(as one vector\), θ0 the base and θ1 the aligned checkpoint$/m,
    );
    assert.match(r.stdout, /^by kind: (embeddings|norms|attention|mlp) \d\.\d{3}e-\d, .*mlp \d\.\d{3}e-\d/m);
  });

  it("refuses a plot it could not write, before reading the checkpoints (exit 2)", async () => {
    const file = join(root, "a-file");
    writeFileSync(file, "x");
    const r = await runCli([
      "stats",
      "--base",
      join(root, "sft"),
      "--aligned",
      join(root, "dpo"),
      "--plot",
      join(file, "shift.svg"),
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr.trim(), /^llm-expo: .*a-file is not a folder$/);
    assert.equal(r.stdout, "");
  });
});
