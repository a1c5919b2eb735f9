// End to end through the real CLI: make-example, run, re-read the output and check every element
// against the TypeScript oracle; multi-alpha outputs; verify catching a flipped bit; the
// non-finite policy; single-file checkpoints; plan and stats writing nothing.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import type { Arith, FloatDtype } from "../../core/dtypes.js";
import { oracleExtrapolate } from "../support/oracle.js";
import { readAllTensors, readHeaderPlain } from "../support/readTensor.js";
import { CLI, jobArgs, runCli } from "../support/runCli.js";
import { tempDir } from "../support/tempDir.js";
import { waitUntil } from "../support/waitUntil.js";
import { folderDigest, writeCheckpoint } from "../support/writeCheckpoint.js";

const FLOATS = new Set(["BF16", "F16", "F32", "F64"]);

/** Asserts every tensor of `out` equals the oracle's extrapolation of the inputs (bit for bit). */
function checkAgainstOracle(
  base: string,
  aligned: string,
  out: string,
  alpha: number,
  arith: Arith,
  alphaFor: (name: string) => number | "copy" = () => alpha,
) {
  const b = readAllTensors(base);
  const a = readAllTensors(aligned);
  const o = readAllTensors(out);
  assert.deepEqual([...o.keys()].sort(), [...a.keys()].sort());
  let extrapolated = 0;
  for (const [name, at] of a) {
    const ot = o.get(name);
    const bt = b.get(name);
    assert.ok(ot && bt);
    assert.equal(ot.dtype, at.dtype);
    assert.deepEqual(ot.shape, at.shape);
    const tensorAlpha = alphaFor(name);
    if (!FLOATS.has(at.dtype) || tensorAlpha === "copy") {
      assert.ok(ot.data.equals(at.data), `${name} copied from aligned`);
      continue;
    }
    const want = oracleExtrapolate(at.dtype as FloatDtype, arith, at.data, bt.data, [tensorAlpha])
      .outs[0] as Uint8Array;
    assert.ok(Buffer.from(want).equals(ot.data), `${name} equals the oracle bit for bit`);
    extrapolated++;
  }
  return extrapolated;
}

describe("llm-expo end to end", () => {
  let root: string;
  let sft: string;
  let dpo: string;

  before(async () => {
    root = await tempDir();
    const r = await runCli(["make-example", root, "--size", "3MiB", "--seed", "7"]);
    assert.equal(r.code, 0, r.stderr);
    sft = join(root, "sft");
    dpo = join(root, "dpo");
  });

  it("make-example writes a Llama-shaped pair, sharded differently, mostly bf16 with f32 and integer tensors", () => {
    const a = readAllTensors(dpo);
    const b = readAllTensors(sft);
    const dtypes = new Set([...a.values()].map((t) => t.dtype));
    assert.deepEqual([...dtypes].sort(), ["BF16", "F32", "I64"]);
    const shards = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".safetensors"));
    assert.notEqual(shards(sft).length, shards(dpo).length);
    for (const f of [
      "config.json",
      "generation_config.json",
      "tokenizer.json",
      "tokenizer_config.json",
      "special_tokens_map.json",
    ]) {
      assert.ok(existsSync(join(dpo, f)), f);
    }
    assert.equal(JSON.parse(readFileSync(join(dpo, "config.json"), "utf8")).architectures[0], "LlamaForCausalLM");
    assert.ok(a.has("model.layers.0.self_attn.q_proj.weight") && a.has("lm_head.weight"));
    assert.ok(
      !a.get("model.embed_tokens.weight")?.data.equals(b.get("model.embed_tokens.weight")?.data as Buffer),
      "dpo differs from sft",
    );
  });

  it("run writes the ExPO checkpoint: every element equals the oracle, index last, configs from aligned", async () => {
    const out = join(root, "expo-0.3");
    const digests = [await folderDigest(sft), await folderDigest(dpo)];
    const r = await runCli([...jobArgs("run", sft, dpo, out), "--unit-size", "200KiB", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([await folderDigest(sft), await folderDigest(dpo)], digests, "inputs untouched");
    assert.ok(checkAgainstOracle(sft, dpo, out, 0.3, "fp32") > 10);
    const index = JSON.parse(readFileSync(join(out, "model.safetensors.index.json"), "utf8"));
    assert.deepEqual(
      index.weight_map,
      JSON.parse(readFileSync(join(dpo, "model.safetensors.index.json"), "utf8")).weight_map,
    );
    assert.equal(
      readFileSync(join(out, "generation_config.json"), "utf8"),
      readFileSync(join(dpo, "generation_config.json"), "utf8"),
    );
    assert.ok(!existsSync(join(out, ".expo")), "no temp files left");
    for (const f of Object.values(index.weight_map as Record<string, string>)) {
      const { metadata, dataStart } = readHeaderPlain(join(out, f));
      assert.equal(metadata["expo.alpha"], "0.3");
      assert.equal(metadata["expo.arith"], "fp32");
      assert.equal(dataStart % 8, 0, "header padded to 8 bytes");
    }
    const report = JSON.parse(readFileSync(join(out, "expo-report.json"), "utf8"));
    const shift = report.statistics.model.relativeShift;
    assert.ok(shift > 2e-4 && shift < 5e-3, `relative shift near 1e-3 (got ${shift})`);
    assert.ok(report.statistics.model.normOutput > report.statistics.model.normAligned * 0.99);
    // Every part's checksum in the report is the SHA-256 of those bytes of the output.
    let parts = 0;
    for (const s of report.output.shards) {
      const bytes = readFileSync(join(out, s.file));
      for (const p of s.parts) {
        assert.equal(
          createHash("sha256")
            .update(bytes.subarray(p.offset, p.offset + p.size))
            .digest("hex"),
          p.sha256,
        );
        parts++;
      }
    }
    assert.ok(parts > report.output.shards.length, "some shards were split into several parts");
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.outputs[0].model.relativeShift, shift);
  });

  it("more workers, more units in flight within --memory-budget: the same bytes as one", async () => {
    const one = join(root, "expo-w1");
    const many = join(root, "expo-w3");
    const args = (out: string) => [...jobArgs("run", sft, dpo, out), "--unit-size", "100KiB"];
    assert.equal((await runCli([...args(one), "--workers", "1", "--concurrency", "1"])).code, 0);
    // Room for 3 of the 6 units in flight that --workers 3 --concurrency 2 asks for: the run fits its budget.
    const r = await runCli([...args(many), "--workers", "3", "--concurrency", "2", "--memory-budget", "700KiB"]);
    assert.equal(r.code, 0, r.stderr);
    const a = await folderDigest(one);
    const b = await folderDigest(many);
    delete a["expo-report.json"];
    delete b["expo-report.json"];
    assert.deepEqual(b, a);
  });

  it("several alphas in one run: each output correct (torch arithmetic)", async () => {
    const o1 = join(root, "expo-t-0.1");
    const o2 = join(root, "expo-t-0.5");
    const r = await runCli([
      "run",
      "--base",
      sft,
      "--aligned",
      dpo,
      "--alpha",
      "0.1",
      "--alpha",
      "0.5",
      "--out",
      o1,
      "--out",
      o2,
      "--arith",
      "torch",
      "--unit-size",
      "300KiB",
    ]);
    assert.equal(r.code, 0, r.stderr);
    checkAgainstOracle(sft, dpo, o1, 0.1, "torch");
    checkAgainstOracle(sft, dpo, o2, 0.5, "torch");
  });

  it("negative α interpolates (γ = 1 + α): every element equals the oracle, α recorded in headers and report", async () => {
    const out = join(root, "expo-interp");
    const r = await runCli([
      "run",
      "--base",
      sft,
      "--aligned",
      dpo,
      "--alpha",
      "-0.5",
      "--alpha",
      "-0.9",
      "--out-template",
      `${out}{alpha}`,
      "--unit-size",
      "300KiB",
    ]);
    assert.equal(r.code, 0, r.stderr);
    for (const alpha of [-0.5, -0.9]) {
      assert.ok(checkAgainstOracle(sft, dpo, `${out}${alpha}`, alpha, "fp32") > 10);
      const report = JSON.parse(readFileSync(join(`${out}${alpha}`, "expo-report.json"), "utf8"));
      assert.equal(report.parameters.alpha, alpha);
      const shard = Object.values(
        JSON.parse(readFileSync(join(`${out}${alpha}`, "model.safetensors.index.json"), "utf8")).weight_map,
      )[0] as string;
      assert.equal(readHeaderPlain(join(`${out}${alpha}`, shard)).metadata["expo.alpha"], String(alpha));
    }
  });

  it("--exclude and --alpha-rule copy or re-weight the matching tensors", async () => {
    const out = join(root, "expo-rules");
    const r = await runCli([
      ...jobArgs("run", sft, dpo, out, "0.4"),
      "--exclude",
      "lm_head.*",
      "--alpha-rule",
      "model.embed_tokens.*=0",
      "--alpha-rule",
      "*.mlp.*=0.2",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rules = (n: string) =>
      n.startsWith("lm_head") || n.startsWith("model.embed_tokens") ? "copy" : n.includes(".mlp.") ? 0.2 : 0.4;
    assert.ok(checkAgainstOracle(sft, dpo, out, 0.4, "fp32", rules) > 10);
    const report = JSON.parse(readFileSync(join(out, "expo-report.json"), "utf8"));
    assert.equal(report.statistics.tensors["model.layers.0.mlp.up_proj.weight"].alpha, 0.2);
    assert.equal(report.statistics.tensors["lm_head.weight"], undefined, "copied tensors have no statistics");
  });

  it("verify passes on a good output and catches one flipped bit, naming the tensor", async () => {
    const out = join(root, "expo-verify");
    assert.equal((await runCli([...jobArgs("run", sft, dpo, out), "--unit-size", "256KiB"])).code, 0);
    const ok = await runCli(["verify", "--base", sft, "--aligned", dpo, "--out", out]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^OK: (\d+)\/\1 units recomputed/m);
    const sampled = await runCli([
      "verify",
      "--base",
      sft,
      "--aligned",
      dpo,
      "--out",
      out,
      "--sample",
      "0.05",
      "--json",
    ]);
    assert.equal(sampled.code, 0, sampled.stderr);
    const s = JSON.parse(sampled.stdout);
    assert.ok(s.unitsChecked >= 1 && s.unitsChecked < s.unitsTotal);
    // Flip one bit in the middle of a tensor's data.
    const index = JSON.parse(readFileSync(join(out, "model.safetensors.index.json"), "utf8"));
    const name = "model.layers.1.mlp.down_proj.weight";
    const file = join(out, index.weight_map[name]);
    const { header, dataStart, bytes } = readHeaderPlain(file);
    const [begin, end] = header[name]?.data_offsets ?? [0, 0];
    const at = dataStart + begin + Math.floor((end - begin) / 4) * 2;
    bytes[at] = (bytes[at] as number) ^ 0x01;
    writeFileSync(file, bytes);
    const bad = await runCli(["verify", "--base", sft, "--aligned", dpo, "--out", out]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, new RegExp(`MISMATCH .*tensor ${name.replaceAll(".", "\\.")}: element \\d+ is 0x`));
    assert.match(bad.stdout, /SHA-256/);
    assert.match(bad.stdout, /^FAILED/m);
  });

  it("run --json sums up what it moved and what it cost: the plan's bytes, the bytes on disk, its CPU seconds", async () => {
    const out = join(root, "expo-summary");
    const p = await runCli([...jobArgs("plan", sft, dpo, out), "--json"]);
    assert.equal(p.code, 0, p.stderr);
    const plan = JSON.parse(p.stdout);
    const r = await runCli([...jobArgs("run", sft, dpo, out), "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.bytesRead, plan.bytesRead.aligned + plan.bytesRead.base);
    const shards = readdirSync(out).filter((f) => f.endsWith(".safetensors"));
    assert.equal(
      summary.bytesWritten,
      shards.reduce((n, f) => n + readFileSync(join(out, f)).length, 0),
    );
    assert.ok(summary.cpuSeconds > 0, String(summary.cpuSeconds));
    const gib = (summary.bytesRead + summary.bytesWritten) / 1024 ** 3;
    assert.ok(Math.abs(summary.cpuSecondsPerGiB - summary.cpuSeconds / gib) < 1e-9 * summary.cpuSecondsPerGiB);
    const human = await runCli([...jobArgs("run", sft, dpo, join(root, "expo-summary-text"))]);
    assert.match(human.stdout, /wrote .+; cpu \d+\.\d\d s \(\d+\.\d\d s per GiB moved\)\n$/);
  });

  it("plan and stats write nothing; stats agrees with the run's report", async () => {
    const out = join(root, "never-written");
    const p = await runCli([...jobArgs("plan", sft, dpo, out), "--unit-size", "200KiB", "--json"]);
    assert.equal(p.code, 0, p.stderr);
    const plan = JSON.parse(p.stdout);
    assert.ok(plan.units.length > 5);
    assert.equal(
      plan.bytesRead.aligned,
      plan.bytesRead.base + readAllTensors(dpo).get("model.position_ids")?.data.length,
    );
    assert.ok(!existsSync(out));
    const st = await runCli(["stats", "--base", sft, "--aligned", dpo, "--unit-size", "200KiB", "--json"]);
    assert.equal(st.code, 0, st.stderr);
    const stats = JSON.parse(st.stdout);
    const report = JSON.parse(readFileSync(join(root, "expo-0.3", "expo-report.json"), "utf8"));
    assert.equal(stats.model.relativeShift, report.statistics.model.relativeShift);
    assert.equal(stats.model.normBase, report.statistics.model.normBase);
    const human = await runCli(["stats", "--base", sft, "--aligned", dpo]);
    assert.match(human.stdout, /largest relative shift:/);
  });

  it("--spec job.yaml gives the same fields as flags; flags override it", async () => {
    const spec = join(root, "job.yaml");
    const out = join(root, "expo-spec");
    writeFileSync(
      spec,
      `base: ${sft}\naligned: ${dpo}\nalpha: [0.5]\nout: [${out}]\nunit-size: 300KiB\narith: torch\nalpha-rules:\n  - "lm_head.*=0"\n`,
    );
    const r = await runCli(["run", "--spec", spec, "--alpha", "0.2"]);
    assert.equal(r.code, 0, r.stderr);
    checkAgainstOracle(sft, dpo, out, 0.2, "torch", (n) => (n.startsWith("lm_head") ? "copy" : 0.2));
    writeFileSync(spec, "base: [unclosed\n");
    const bad = await runCli(["run", "--spec", spec]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /job\.yaml: not valid YAML/);
  });

  it("Ctrl-C aborts the job: exit 1, nothing left at --out", async () => {
    const out = join(root, "interrupted");
    const args = [CLI, ...jobArgs("run", sft, dpo, out), "--unit-size", "4KiB", "--concurrency", "1"];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    await waitUntil(() => existsSync(join(out, ".expo")) || child.exitCode !== null, "the job's uploads opened");
    child.kill("SIGINT");
    const code = await new Promise((resolve) => child.on("close", resolve));
    assert.equal(code, 1, stderr);
    assert.match(stderr.trim().split("\n").pop() as string, /^llm-expo: interrupted by SIGINT/);
    assert.ok(!existsSync(out), "uploads aborted, folder removed");
  });

  it("refuses to overwrite a finished output unless --overwrite", async () => {
    const out = join(root, "expo-0.3");
    const again = await runCli(jobArgs("run", sft, dpo, out));
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already holds a checkpoint/);
    const forced = await runCli([...jobArgs("run", sft, dpo, out), "--overwrite"]);
    assert.equal(forced.code, 0, forced.stderr);
    checkAgainstOracle(sft, dpo, out, 0.3, "fp32");
  });
});

describe("non-finite values and single-file checkpoints", () => {
  const nanBf16 = (n: number, at: number) => {
    const b = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) b.writeUInt16LE(0x3f80 + (i % 64), i * 2);
    b.writeUInt16LE(0x7fc1, at * 2);
    return b;
  };

  it("a NaN input fails the job while running: exit 1, tensor named, no index, no temp files", async () => {
    const root = await tempDir();
    const base = join(root, "sft");
    const aligned = join(root, "dpo");
    await writeCheckpoint(base, {
      "model.safetensors": [
        { name: "w.ok", dtype: "BF16", shape: [64] },
        { name: "w.bad", dtype: "BF16", shape: [128] },
      ],
    });
    await writeCheckpoint(aligned, {
      "model.safetensors": [
        { name: "w.ok", dtype: "BF16", shape: [64] },
        { name: "w.bad", dtype: "BF16", shape: [128], data: nanBf16(128, 77) },
      ],
    });
    const out = join(root, "out");
    const r = await runCli([...jobArgs("run", base, aligned, out), "--unit-size", "64"]);
    assert.equal(r.code, 1, r.stderr);
    const last = r.stderr.trim().split("\n").pop() as string;
    assert.match(last, /^llm-expo: .*tensor w\.bad: 1 element\(s\) non-finite/);
    assert.ok(!existsSync(out), "nothing left at --out");
    const warn = await runCli([...jobArgs("run", base, aligned, out), "--on-nonfinite", "warn"]);
    assert.equal(warn.code, 0, warn.stderr);
    const o = readAllTensors(out).get("w.bad")?.data as Buffer;
    assert.equal(o.readUInt16LE(77 * 2), 0x7fc0, "NaN written as the canonical quiet NaN");
    const report = JSON.parse(readFileSync(join(out, "expo-report.json"), "utf8"));
    assert.equal(report.statistics.tensors["w.bad"].nonfiniteInputs, 1);
  });

  it("single-file aligned and sharded base: output is one model.safetensors, no index", async () => {
    const root = await tempDir();
    const base = join(root, "sft");
    const aligned = join(root, "dpo");
    const tensors = [
      { name: "a", dtype: "F16", shape: [33, 7] },
      { name: "b", dtype: "F64", shape: [19] },
      { name: "c", dtype: "U8", shape: [5] },
      { name: "d", dtype: "F32", shape: [3, 3, 3] },
    ];
    await writeCheckpoint(base, {
      "model-00001-of-00002.safetensors": tensors.slice(2),
      "model-00002-of-00002.safetensors": tensors.slice(0, 2),
    });
    await writeCheckpoint(aligned, { "model.safetensors": tensors });
    const out = join(root, "out");
    const r = await runCli([...jobArgs("run", base, aligned, out, "0.25"), "--unit-size", "100"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(out, "model.safetensors")));
    assert.ok(!existsSync(join(out, "model.safetensors.index.json")));
    checkAgainstOracle(base, aligned, out, 0.25, "fp32");
    const v = await runCli(["verify", "--base", base, "--aligned", aligned, "--out", out]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });
});
