// Checkpoints as the Hugging Face stack writes them (test/fixtures/hf, made by make_fixtures.py with torch,
// transformers and safetensors): mixed dtypes, a resized vocabulary, a value head, tied weights in .bin
// files, sharded .bin files, malicious pickles. Every output tensor is checked bit for bit against the
// oracle (expectedTensor.ts), in both modes, and the fp32 SFT + bf16 DPO pair against the paper procedure's
// own output computed with torch.
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Arith, FloatDtype } from "../../core/dtypes.js";
import { expectedTensor } from "../support/expectedTensor.js";
import { type LoadedTensor, readAllTensors, readHeaderPlain } from "../support/readTensor.js";
import { jobArgs, runCli } from "../support/runCli.js";
import { tempDir } from "../support/tempDir.js";
import { folderDigest } from "../support/writeCheckpoint.js";

const HF = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "test", "fixtures", "hf");
const pair = (name: string) => ({ sft: join(HF, name, "sft"), dpo: join(HF, name, "dpo") });

/** The tensors of a one-file safetensors fixture (a twin of a .bin model, or the paper's output). */
function readFile(path: string): Map<string, LoadedTensor> {
  const { header, dataStart, bytes } = readHeaderPlain(path);
  return new Map(
    Object.entries(header).map(([name, h]) => [
      name,
      {
        dtype: h.dtype,
        shape: h.shape,
        data: bytes.subarray(dataStart + h.data_offsets[0], dataStart + h.data_offsets[1]),
      },
    ]),
  );
}

interface Expectation {
  arith: Arith;
  alpha: number;
  /** Output dtype of float tensors; default: the aligned tensor's. */
  outDtype?: FloatDtype;
  /** Tensors copied (converted) from aligned rather than extrapolated. */
  copied?: (name: string) => boolean;
}

/** Asserts every output tensor equals the oracle's; returns how many tensors were compared. */
function checkOutput(
  base: Map<string, LoadedTensor>,
  aligned: Map<string, LoadedTensor>,
  out: string,
  e: Expectation,
): number {
  const o = readAllTensors(out);
  for (const [name, ot] of o) {
    const at = aligned.get(name);
    assert.ok(at, `${name} is an aligned tensor`);
    const bt = e.copied?.(name) ? undefined : base.get(name);
    const outDtype = (e.outDtype ?? at.dtype) as FloatDtype;
    assert.equal(ot.dtype, outDtype, `${name} dtype`);
    assert.deepEqual(ot.shape, at.shape, `${name} has the aligned shape`);
    const rowElems = at.shape.slice(1).reduce((x, y) => x * y, 1);
    const shared = bt ? Math.min(at.shape[0] as number, bt.shape[0] as number) * rowElems : 0;
    const want = expectedTensor(
      { dtype: at.dtype as FloatDtype, data: at.data },
      bt && { dtype: bt.dtype as FloatDtype, data: bt.data },
      outDtype,
      e.arith,
      e.alpha,
      shared,
    );
    assert.ok(Buffer.from(want).equals(ot.data), `${name} equals the oracle bit for bit`);
  }
  return o.size;
}

async function run(args: string[]) {
  const r = await runCli(args);
  assert.equal(r.code, 0, r.stderr);
  return r;
}

const report = (out: string) => JSON.parse(readFileSync(join(out, "expo-report.json"), "utf8"));

describe("checkpoints made by torch and transformers", () => {
  it("fp32 SFT + bf16 DPO, --arith torch: the paper procedure's output bit for bit (both loaded in bf16)", async () => {
    const { sft, dpo } = pair("fp32-bf16");
    const out = join(await tempDir(), "expo");
    const plan = (await run(jobArgs("plan", sft, dpo, out))).stdout;
    assert.match(plan, /^dtype conversions: 12 tensor\(s\): aligned BF16 \+ base F32 → BF16 \(12\)$/m);
    assert.ok(!existsSync(out), "plan writes nothing");
    await run([...jobArgs("run", sft, dpo, out, "0.3"), "--arith", "torch"]);
    const paper = readFile(join(HF, "fp32-bf16", "paper-torch-alpha0.3.safetensors"));
    const o = readAllTensors(out);
    assert.deepEqual([...o.keys()].sort(), [...paper.keys()].sort());
    for (const [name, t] of paper) {
      assert.equal(o.get(name)?.dtype, "BF16");
      assert.ok(o.get(name)?.data.equals(t.data), `${name} equals the paper procedure's`);
    }
    assert.equal(checkOutput(readAllTensors(sft), readAllTensors(dpo), out, { arith: "torch", alpha: 0.3 }), 12);
    const r = report(out);
    assert.equal(r.compatibility.dtypes.length, 12);
    assert.deepEqual(r.compatibility.dtypes[0], {
      tensor: r.compatibility.dtypes[0].tensor,
      aligned: "BF16",
      base: "F32",
      out: "BF16",
    });
    assert.equal(r.statistics.model.tensorsExtrapolated, 12);
  });

  it("fp32 SFT + bf16 DPO, fp32 arithmetic, into bf16 and (--out-dtype f32) into f32", async () => {
    const { sft, dpo } = pair("fp32-bf16");
    const root = await tempDir();
    const [b, a] = [readAllTensors(sft), readAllTensors(dpo)];
    await run(jobArgs("run", sft, dpo, join(root, "bf16"), "0.5"));
    assert.equal(checkOutput(b, a, join(root, "bf16"), { arith: "fp32", alpha: 0.5 }), 12);
    await run([...jobArgs("run", sft, dpo, join(root, "f32"), "0.5"), "--out-dtype", "f32"]);
    assert.equal(checkOutput(b, a, join(root, "f32"), { arith: "fp32", alpha: 0.5, outDtype: "F32" }), 12);
    await run([...jobArgs("run", sft, dpo, join(root, "f16-torch"), "0.5"), "--out-dtype", "f16", "--arith", "torch"]);
    assert.equal(checkOutput(b, a, join(root, "f16-torch"), { arith: "torch", alpha: 0.5, outDtype: "F16" }), 12);
    // Copied float tensors whose dtype changes are converted.
    const out = join(root, "excluded");
    await run([...jobArgs("run", sft, dpo, out, "0.5"), "--out-dtype", "f32", "--exclude", "lm_head.*"]);
    const copied = (n: string) => n.startsWith("lm_head");
    assert.equal(checkOutput(b, a, out, { arith: "fp32", alpha: 0.5, outDtype: "F32", copied }), 12);
    const v = await runCli(["verify", "--base", sft, "--aligned", dpo, "--out", out]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  it("a vocabulary resized with resize_token_embeddings: shared rows extrapolated, new rows copied, listed", async () => {
    const { sft, dpo } = pair("resized");
    const root = await tempDir();
    const plan = JSON.parse((await run([...jobArgs("plan", sft, dpo, join(root, "x")), "--json"])).stdout);
    const rows = { alignedRows: 66, baseRows: 64, extrapolatedRows: 64, copiedRows: 2 };
    assert.deepEqual(plan.compatibility.resized, [
      { tensor: "lm_head.weight", ...rows },
      { tensor: "model.embed_tokens.weight", ...rows },
    ]);
    const text = (await run(jobArgs("plan", sft, dpo, join(root, "x")))).stdout;
    assert.match(text, /^resized vocabulary: 2 tensor\(s\): 128 row\(s\) extrapolated, 4 copied from aligned$/m);
    for (const arith of ["fp32", "torch"] as const) {
      const out = join(root, arith);
      await run([...jobArgs("run", sft, dpo, out, "0.3"), "--arith", arith, "--unit-size", "1KiB"]);
      assert.equal(checkOutput(readAllTensors(sft), readAllTensors(dpo), out, { arith, alpha: 0.3 }), 12);
      assert.deepEqual(report(out).compatibility.resized, plan.compatibility.resized);
      assert.equal(readFileSync(join(out, "config.json"), "utf8"), readFileSync(join(dpo, "config.json"), "utf8"));
    }
  });

  it("a value head only in aligned: refused naming it; --exclude copies it, --drop leaves it out", async () => {
    const { sft, dpo } = pair("value-head");
    const root = await tempDir();
    const refused = await runCli(jobArgs("run", sft, dpo, join(root, "refused")));
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /^llm-expo: \S+\/dpo\/model\.safetensors: tensor v_head\.summary\.bias and 1 more \(v_head\.summary\.weight\): only in the aligned checkpoint.*--exclude 'v_head\.summary\.\*'.*--drop 'v_head\.summary\.\*'/,
    );
    assert.ok(!existsSync(join(root, "refused")));
    const [b, a] = [readAllTensors(sft), readAllTensors(dpo)];
    const kept = join(root, "kept");
    await run([...jobArgs("run", sft, dpo, kept), "--exclude", "v_head.*"]);
    const copied = (n: string) => n.startsWith("v_head.");
    assert.equal(checkOutput(b, a, kept, { arith: "fp32", alpha: 0.3, copied }), 14);
    assert.deepEqual(report(kept).compatibility.alignedOnly, ["v_head.summary.bias", "v_head.summary.weight"]);
    const dropped = join(root, "dropped");
    await run([...jobArgs("run", sft, dpo, dropped), "--drop", "v_head.*", "--arith", "torch"]);
    assert.equal(checkOutput(b, a, dropped, { arith: "torch", alpha: 0.3 }), 12);
    assert.ok(!readAllTensors(dropped).has("v_head.summary.weight"));
    const r = report(dropped);
    assert.deepEqual(r.compatibility.dropped, ["v_head.summary.bias", "v_head.summary.weight"]);
    const text = (await run([...jobArgs("plan", sft, dpo, join(root, "x")), "--drop", "v_head.*"])).stdout;
    assert.match(text, /^dropped \(--drop\): 2 tensor\(s\)$/m);
    assert.deepEqual(r.parameters.drop, ["v_head.*"]);
    const v = await runCli(["verify", "--base", sft, "--aligned", dpo, "--out", dropped]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  it("pytorch_model.bin with tied weights: the same output as from safetensors twins, both tensors written", async () => {
    const { sft, dpo } = pair("tied-bin");
    const root = await tempDir();
    const [b, a] = [
      readFile(join(HF, "twins", "tied-bin-sft.safetensors")),
      readFile(join(HF, "twins", "tied-bin-dpo.safetensors")),
    ];
    const plan = JSON.parse((await run([...jobArgs("plan", sft, dpo, join(root, "x")), "--json"])).stdout);
    assert.deepEqual(plan.compatibility.formats, { base: "torch", aligned: "torch" });
    const text = (await run(jobArgs("plan", sft, dpo, join(root, "x")))).stdout;
    assert.match(
      text,
      /^inputs: base pytorch_model\*\.bin \(torch\.save\), aligned pytorch_model\*\.bin \(torch\.save\)$/m,
    );
    assert.match(text, /^tied \(shared bytes in a \.bin; written separately\): 1 group\(s\) of 2 tensors$/m);
    assert.deepEqual(plan.compatibility.tied, [["model.embed_tokens.weight", "lm_head.weight"]]);
    for (const arith of ["fp32", "torch"] as const) {
      const out = join(root, arith);
      const digests = [await folderDigest(sft), await folderDigest(dpo)];
      await run([...jobArgs("run", sft, dpo, out, "0.3"), "--arith", arith]);
      assert.deepEqual([await folderDigest(sft), await folderDigest(dpo)], digests, "inputs untouched");
      assert.equal(checkOutput(b, a, out, { arith, alpha: 0.3 }), 12);
      assert.ok(existsSync(join(out, "model.safetensors")) && !existsSync(join(out, "model.safetensors.index.json")));
      assert.deepEqual(
        readHeaderPlain(join(out, "model.safetensors")).metadata.format,
        "pt",
        "transformers needs the format metadata",
      );
      const v = await runCli(["verify", "--base", sft, "--aligned", dpo, "--out", out]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
    }
  });

  it(".bin base with a tied lm_head, safetensors aligned without it: lm_head skipped and listed", async () => {
    const base = pair("tied-bin").sft;
    const aligned = pair("tied-st").dpo;
    const out = join(await tempDir(), "expo");
    await run(jobArgs("run", base, aligned, out));
    const b = readFile(join(HF, "twins", "tied-bin-sft.safetensors"));
    assert.equal(checkOutput(b, readAllTensors(aligned), out, { arith: "fp32", alpha: 0.3 }), 11);
    const r = report(out);
    assert.deepEqual(r.compatibility.baseOnly, ["lm_head.weight"]);
    assert.deepEqual(r.compatibility.formats, { base: "torch", aligned: "safetensors" });
  });

  it("sharded pytorch_model-*.bin with an index: safetensors shards named as save_pretrained names them", async () => {
    const { sft, dpo } = pair("bin-sharded");
    const out = join(await tempDir(), "expo");
    await run([...jobArgs("run", sft, dpo, out, "0.4"), "--unit-size", "1KiB", "--arith", "torch"]);
    const b = readFile(join(HF, "twins", "bin-sharded-sft.safetensors"));
    const a = readFile(join(HF, "twins", "bin-sharded-dpo.safetensors"));
    assert.equal(checkOutput(b, a, out, { arith: "torch", alpha: 0.4 }), 12);
    const index = JSON.parse(readFileSync(join(out, "model.safetensors.index.json"), "utf8"));
    const aligned = JSON.parse(readFileSync(join(dpo, "pytorch_model.bin.index.json"), "utf8"));
    const rename = (f: string) => f.replace("pytorch_model-", "model-").replace(/\.bin$/, ".safetensors");
    assert.deepEqual(
      index.weight_map,
      Object.fromEntries(Object.entries(aligned.weight_map as Record<string, string>).map(([k, f]) => [k, rename(f)])),
    );
    const total = [...readAllTensors(out).values()].reduce((n, t) => n + t.data.length, 0);
    assert.equal(index.metadata.total_size, total);
    assert.ok(!existsSync(join(out, "pytorch_model.bin.index.json")), "the .bin index is not copied");
    const v = await runCli(["verify", "--base", sft, "--aligned", dpo, "--out", out]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  for (const [name, says] of [
    ["posix-system", "global posix.system is not allowed"],
    ["builtins-eval", "global builtins.eval is not allowed"],
    ["zip-bomb", "entry archive/data/0 is compressed (method 8)"],
  ] as const) {
    it(`a malicious pickle (${name}) is refused with exit 2 and nothing executed`, async () => {
      const marker = ["/tmp/llm-expo-pwned-posix", "/tmp/llm-expo-pwned-eval"];
      for (const m of marker) rmSync(m, { force: true });
      const bad = join(HF, "malicious", name);
      const digest = await folderDigest(bad);
      const out = join(await tempDir(), "expo");
      for (const [base, aligned] of [
        [pair("bin-sharded").sft, bad],
        [bad, pair("bin-sharded").dpo],
      ] as const) {
        const r = await runCli(jobArgs("run", base, aligned, out));
        assert.equal(r.code, 2, r.stderr);
        const lines = r.stderr.trim().split("\n");
        assert.equal(lines.length, 1, r.stderr);
        assert.ok(lines[0]?.includes(`${bad}/pytorch_model.bin`), lines[0]);
        assert.ok(lines[0]?.includes(says), lines[0]);
        assert.ok(!existsSync(out), "nothing written");
      }
      for (const m of marker) assert.ok(!existsSync(m), `${m}: a payload ran`);
      assert.deepEqual(await folderDigest(bad), digest, "input untouched");
    });
  }
});
