// Every kind of bad input: exit 2 before anything is written, one line naming the file (and the
// tensor where there is one), inputs byte-identical afterwards.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { runCli } from "../support/runCli.js";
import { tempDir } from "../support/tempDir.js";
import { type FixtureTensor, folderDigest, writeCheckpoint } from "../support/writeCheckpoint.js";

const S1 = "model-00001-of-00002.safetensors";
const S2 = "model-00002-of-00002.safetensors";
const ONE = "model.safetensors";

const tensorsA: FixtureTensor[] = [
  { name: "w.a", dtype: "BF16", shape: [4, 8] },
  { name: "w.b", dtype: "F32", shape: [16] },
];
const tensorsB: FixtureTensor[] = [
  { name: "w.c", dtype: "F16", shape: [3, 5] },
  { name: "ids", dtype: "I64", shape: [4] },
];

/** A valid pair: base sharded in two, aligned in one file. */
async function validPair(root: string) {
  const base = join(root, "sft");
  const aligned = join(root, "dpo");
  await writeCheckpoint(base, { [S1]: tensorsA, [S2]: tensorsB });
  await writeCheckpoint(aligned, { [ONE]: [...tensorsA, ...tensorsB] });
  return { base, aligned, out: join(root, "out") };
}

/** A shard from a raw header object (or text) and raw data bytes. */
function rawShard(header: unknown, data: Buffer, lengthOverride?: bigint): Buffer {
  const json = Buffer.from(typeof header === "string" ? header : JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  return Buffer.concat([prefix, json, data]);
}

interface Case {
  name: string;
  /** Breaks the pair; returns extra CLI args, if any. */
  breakIt: (p: { base: string; aligned: string; out: string }) => Promise<string[] | undefined>;
  /** Substrings the one-line error must contain. */
  says: string[];
}

const header = (entries: Record<string, unknown>) => entries;
const t = (dtype: string, shape: number[], begin: number, end: number) => ({
  dtype,
  shape,
  data_offsets: [begin, end],
});

const cases: Case[] = [
  {
    name: "truncated shard",
    breakIt: async ({ aligned }) => {
      const f = join(aligned, ONE);
      const b = await readFile(f);
      await writeFile(f, b.subarray(0, b.length - 3));
      return undefined;
    },
    says: [ONE, "tensor ids", "truncated"],
  },
  {
    name: "file shorter than 8 bytes",
    breakIt: async ({ aligned }) => {
      await writeFile(join(aligned, ONE), Buffer.from([1, 2, 3]));
      return undefined;
    },
    says: [ONE, "truncated"],
  },
  {
    name: "header length beyond the file",
    breakIt: async ({ aligned }) => {
      await writeFile(join(aligned, ONE), rawShard(header({}), Buffer.alloc(0), 5000n));
      return undefined;
    },
    says: [ONE, "header length 5000 runs past the end"],
  },
  {
    name: "header length over 100 MB",
    breakIt: async ({ aligned }) => {
      await writeFile(join(aligned, ONE), rawShard(header({}), Buffer.alloc(0), 100_000_001n));
      return undefined;
    },
    says: [ONE, "exceeds the 100000000-byte limit"],
  },
  {
    name: "header not valid JSON",
    breakIt: async ({ aligned }) => {
      await writeFile(join(aligned, ONE), rawShard('{"w.a": {"dtype": "BF16",', Buffer.alloc(0)));
      return undefined;
    },
    says: [ONE, "not valid JSON"],
  },
  {
    name: "header not a JSON object",
    breakIt: async ({ aligned }) => {
      await writeFile(join(aligned, ONE), rawShard("[1,2,3]", Buffer.alloc(0)));
      return undefined;
    },
    says: [ONE, "not a JSON object"],
  },
  {
    name: "unknown dtype",
    breakIt: async ({ aligned }) => {
      await writeFile(join(aligned, ONE), rawShard(header({ "w.a": t("Q4_K", [4], 0, 8) }), Buffer.alloc(8)));
      return undefined;
    },
    says: [ONE, "tensor w.a", 'unknown dtype "Q4_K"'],
  },
  {
    name: "offsets out of range",
    breakIt: async ({ aligned }) => {
      await writeFile(join(aligned, ONE), rawShard(header({ "w.a": t("BF16", [4, 8], 0, 64) }), Buffer.alloc(32)));
      return undefined;
    },
    says: [ONE, "tensor w.a", "run past the end"],
  },
  {
    name: "overlapping offsets",
    breakIt: async ({ aligned }) => {
      const h = header({ "w.a": t("BF16", [4, 8], 0, 64), "w.b": t("F32", [16], 32, 96) });
      await writeFile(join(aligned, ONE), rawShard(h, Buffer.alloc(96)));
      return undefined;
    },
    says: [ONE, "tensor w.b", "overlaps"],
  },
  {
    name: "gap between tensors",
    breakIt: async ({ aligned }) => {
      const h = header({ "w.a": t("BF16", [4, 8], 0, 64), "w.b": t("F32", [16], 72, 136) });
      await writeFile(join(aligned, ONE), rawShard(h, Buffer.alloc(136)));
      return undefined;
    },
    says: [ONE, "tensor w.b", "gap"],
  },
  {
    name: "numel x itemsize differs from the range",
    breakIt: async ({ aligned }) => {
      await writeFile(join(aligned, ONE), rawShard(header({ "w.a": t("BF16", [4, 8], 0, 60) }), Buffer.alloc(60)));
      return undefined;
    },
    says: [ONE, "tensor w.a", "needs 64"],
  },
  {
    name: "index names a missing shard",
    breakIt: async ({ base }) => {
      await rm(join(base, S2));
      return undefined;
    },
    says: [S2, "shard not found"],
  },
  ...["../evil.safetensors", "/etc/evil.safetensors", "s3://bucket/evil.safetensors"].map(
    (bad): Case => ({
      name: `index path outside the checkpoint: ${bad}`,
      breakIt: async ({ base }) => {
        const f = join(base, "model.safetensors.index.json");
        const index = JSON.parse(await readFile(f, "utf8"));
        index.weight_map["w.c"] = bad;
        await writeFile(f, JSON.stringify(index));
        return undefined;
      },
      says: ["model.safetensors.index.json", "tensor w.c", "not a plain file name"],
    }),
  ),
  {
    name: "tensor in the index but not in its shard",
    breakIt: async ({ base }) => {
      const f = join(base, "model.safetensors.index.json");
      const index = JSON.parse(await readFile(f, "utf8"));
      index.weight_map["w.ghost"] = S1;
      await writeFile(f, JSON.stringify(index));
      return undefined;
    },
    says: [S1, "tensor w.ghost", "not in the shard"],
  },
  {
    name: "tensor missing from base",
    breakIt: async ({ base }) => {
      await rm(base, { recursive: true });
      await writeCheckpoint(base, { [S1]: tensorsA, [S2]: [tensorsB[1] as FixtureTensor] });
      return undefined;
    },
    says: [ONE, "tensor w.c", "only in the aligned checkpoint", "--exclude 'w.c'", "--drop 'w.c'"],
  },
  {
    name: "shape mismatch",
    breakIt: async ({ base }) => {
      await rm(base, { recursive: true });
      await writeCheckpoint(base, {
        [S1]: tensorsA,
        [S2]: [{ name: "w.c", dtype: "F16", shape: [5, 3] }, tensorsB[1] as FixtureTensor],
      });
      return undefined;
    },
    says: [ONE, "tensor w.c", "shape [3,5] differs from [5,3]", S2],
  },
  {
    name: "integer dtype mismatch",
    breakIt: async ({ base }) => {
      await rm(base, { recursive: true });
      await writeCheckpoint(base, {
        [S1]: tensorsA,
        [S2]: [tensorsB[0] as FixtureTensor, { name: "ids", dtype: "I32", shape: [4] }],
      });
      return undefined;
    },
    says: [ONE, "tensor ids", "dtype I64 differs from I32"],
  },
  {
    name: "a pytorch_model.bin that is not a torch.save zip",
    breakIt: async ({ base }) => {
      await rm(base, { recursive: true });
      await mkdir(base);
      await writeFile(join(base, "pytorch_model.bin"), Buffer.alloc(16));
      await writeFile(join(base, "config.json"), "{}");
      return undefined;
    },
    says: ["sft/pytorch_model.bin", "not a valid torch.save zip"],
  },
  {
    name: "a job spec with a misspelt key",
    breakIt: async ({ out }) => {
      const file = join(dirname(out), "job.yaml");
      await writeFile(file, "unit_sise: 1GiB\n");
      return ["--spec", file];
    },
    says: ["job.yaml", "unit_sise: unknown key; did you mean unitSize?"],
  },
  {
    name: "a job spec with a value of the wrong type",
    breakIt: async ({ out }) => {
      const file = join(dirname(out), "job.yaml");
      await writeFile(file, "arith: torchh\n");
      return ["--spec", file];
    },
    says: ["job.yaml", "arith: expected one of fp32, torch"],
  },
  {
    name: "--out-dtype not one of bf16, f16, f32",
    breakIt: async () => ["--out-dtype", "fp8"],
    says: ["out-dtype", "fp8"],
  },
  {
    name: "--drop leaves nothing",
    breakIt: async () => ["--drop", "*"],
    says: ["dpo", "no tensor left for the output"],
  },
  {
    name: "missing base path",
    breakIt: async ({ base }) => {
      await rm(base, { recursive: true });
      return undefined;
    },
    says: ["sft", "base checkpoint not found"],
  },
  {
    name: "--out equal to an input",
    breakIt: async ({ aligned }) => ["--out", aligned],
    says: ["dpo", "same folder as input"],
  },
  {
    name: "--out under a file",
    breakIt: async ({ out }) => {
      const file = join(dirname(out), "a-file");
      await writeFile(file, "not a folder");
      return ["--out", join(file, "expo")];
    },
    says: ["a-file/expo", "a-file is not a folder"],
  },
  {
    name: "--out inside an input",
    breakIt: async ({ base }) => ["--out", join(base, "expo")],
    says: ["sft", "inside input"],
  },
  {
    name: "alpha empty",
    breakIt: async () => ["--alpha="],
    says: ["--alpha"],
  },
  ...["NaN", "Infinity", "-inf", "abc", "0x"].map(
    (alpha): Case => ({
      name: `alpha ${JSON.stringify(alpha)}`,
      breakIt: async () => [`--alpha=${alpha}`],
      says: ["--alpha", "not a finite number"],
    }),
  ),
  {
    name: "alpha 0 (the aligned model itself)",
    breakIt: async () => ["--alpha=0"],
    says: ["--alpha 0", "aligned model θ1 itself"],
  },
  {
    name: "alpha -1 (the base model itself)",
    breakIt: async () => ["--alpha=-1"],
    says: ["--alpha -1", "base model θ0 itself"],
  },
  {
    name: "alpha below -1",
    breakIt: async () => ["--alpha=-1.5"],
    says: ["--alpha -1.5", "greater than −1"],
  },
  {
    name: "unknown option",
    breakIt: async () => ["--alhpa", "0.3"],
    says: ["alhpa"],
  },
  {
    name: "memory budget below one unit",
    breakIt: async () => ["--memory-budget", "100"],
    says: ["--memory-budget 100 B", "one unit of this job needs"],
  },
  {
    name: "memory budget not a size",
    breakIt: async () => ["--memory-budget", "lots"],
    says: ["--memory-budget", "not a size"],
  },
];

describe("bad input is refused with exit 2 before anything is written", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const root = await tempDir();
      const p = await validPair(root);
      const extra = (await c.breakIt(p)) ?? [];
      const digests = {
        base: existsSync(p.base) ? await folderDigest(p.base) : {},
        aligned: await folderDigest(p.aligned),
      };
      const overrides = (flag: string) => extra.some((a) => a === flag || a.startsWith(`${flag}=`));
      const args = [
        "run",
        "--base",
        p.base,
        "--aligned",
        p.aligned,
        ...(overrides("--alpha") ? [] : ["--alpha", "0.3"]),
        ...(overrides("--out") ? [] : ["--out", p.out]),
        ...extra,
      ];
      const r = await runCli(args);
      assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0] as string, /^llm-expo: /);
      for (const s of c.says) assert.ok(lines[0]?.includes(s), `"${lines[0]}" should mention ${s}`);
      assert.equal(r.stdout, "");
      assert.ok(!existsSync(p.out), "nothing written at --out");
      if (existsSync(p.base)) assert.deepEqual(await folderDigest(p.base), digests.base, "base untouched");
      assert.deepEqual(await folderDigest(p.aligned), digests.aligned, "aligned untouched");
      for (const inside of [join(p.base, "expo"), join(p.aligned, ".expo")]) assert.ok(!existsSync(inside));
    });
  }
});
