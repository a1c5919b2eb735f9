// torch.save zips read by ranged reads and a restricted unpickler: tensors located exactly (views at a
// storage offset, shared storages, tied weights), and everything torch.save does not write for a state
// dict refused with a one-line UsageError naming the file: other globals and opcodes, non-contiguous views,
// views past their storage, compressed or overlapping entries, big-endian archives, non-tensor values.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { readTorchShard } from "../../../checkpoint/readTorchShard.js";
import { UsageError } from "../../../core/errors.js";
import { type PickleTensor, TorchZipWriter } from "../../../harness/torchZipWriter.js";
import { openStorage } from "../../../storage/openStorage.js";
import { readHeaderPlain } from "../../support/readTensor.js";
import { LOCAL_STORAGE } from "../../support/storageSettings.js";
import { tempDir } from "../../support/tempDir.js";

const HF = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..", "test", "fixtures", "hf");

const tensor = (t: Partial<PickleTensor> & Pick<PickleTensor, "name" | "storageKey">): PickleTensor => ({
  storageType: "FloatStorage",
  storageNumel: 12,
  storageOffset: 0,
  shape: [12],
  stride: [1],
  ...t,
});

/** A .bin in a fresh folder: storages by key, then data.pkl for the tensors (or a raw pickle). */
async function bin(
  storages: Record<string, Buffer>,
  tensors: PickleTensor[],
  options: { compress?: boolean; byteorder?: string; pickle?: Buffer } = {},
): Promise<{ dir: string; bytes: Buffer }> {
  const dir = await tempDir();
  const chunks: Buffer[] = [];
  const w = new TorchZipWriter((c) => {
    chunks.push(c);
  });
  for (const [key, data] of Object.entries(storages)) await w.addStorage(key, [data], { compress: options.compress });
  await w.finish(options.pickle ?? tensors, options.byteorder);
  const bytes = Buffer.concat(chunks);
  writeFileSync(join(dir, "pytorch_model.bin"), bytes);
  return { dir, bytes };
}

async function read(dir: string) {
  return readTorchShard(openStorage(dir, LOCAL_STORAGE), "pytorch_model.bin");
}

async function refused(dir: string, pattern: RegExp): Promise<void> {
  await assert.rejects(read(dir), (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.ok(e.message.startsWith(`${dir}/pytorch_model.bin: `), e.message);
    assert.ok(!e.message.includes("\n"));
    assert.match(e.message, pattern);
    return true;
  });
}

const floats = (n: number, from = 0) =>
  Buffer.from(new Float32Array(Array.from({ length: n }, (_, i) => from + i)).buffer);

describe("readTorchShard", () => {
  it("locates views, shared storages and tied tensors exactly", async () => {
    const fused = floats(12);
    const { dir, bytes } = await bin({ "0": fused, "1": Buffer.from(new BigInt64Array([7n, 8n]).buffer) }, [
      tensor({ name: "q", storageKey: "0", shape: [2, 2], stride: [2, 1] }),
      tensor({ name: "k", storageKey: "0", storageOffset: 4, shape: [2, 2], stride: [2, 1] }),
      tensor({ name: "v", storageKey: "0", storageOffset: 8, shape: [4], stride: [1] }),
      tensor({ name: "v_again", storageKey: "0", storageOffset: 8, shape: [4], stride: [1] }),
      tensor({ name: "scalar", storageKey: "0", storageOffset: 11, shape: [], stride: [] }),
      tensor({
        name: "ids",
        storageKey: "1",
        storageType: "LongStorage",
        storageNumel: 2,
        shape: [2, 1],
        stride: [1, 5],
      }),
    ]);
    const { shard, tied } = await read(dir);
    const data = (name: string) => {
      const t = shard.tensors.find((x) => x.name === name);
      assert.ok(t, name);
      return { ...t, bytes: bytes.subarray(t.begin, t.end) };
    };
    assert.ok(data("q").bytes.equals(fused.subarray(0, 16)));
    assert.ok(data("k").bytes.equals(fused.subarray(16, 32)));
    assert.ok(data("v").bytes.equals(fused.subarray(32, 48)));
    assert.deepEqual(data("scalar").shape, []);
    assert.ok(data("scalar").bytes.equals(fused.subarray(44, 48)));
    assert.equal(data("ids").dtype, "I64");
    assert.deepEqual(data("ids").shape, [2, 1], "a size-1 dimension may have any stride");
    assert.equal(data("q").dtype, "F32");
    assert.deepEqual(
      shard.tensors.map((t) => t.name),
      ["q", "k", "v", "v_again", "scalar", "ids"],
      "the pickle's order",
    );
    assert.deepEqual(tied, [["v", "v_again"]]);
    assert.equal(data("q").begin % 64, 0, "storages start on 64-byte boundaries, as torch writes them");
  });

  it("reads what torch.save wrote (transformers' save_pretrained, tied embeddings) as its safetensors twin", async () => {
    const dir = join(HF, "tied-bin", "sft");
    const { shard, tied } = await read(dir);
    const bytes = readFileSync(join(dir, "pytorch_model.bin"));
    const twin = readHeaderPlain(join(HF, "twins", "tied-bin-sft.safetensors"));
    assert.equal(shard.tensors.length, Object.keys(twin.header).length);
    for (const t of shard.tensors) {
      const h = twin.header[t.name];
      assert.ok(h, t.name);
      assert.equal(t.dtype, h.dtype);
      assert.deepEqual(t.shape, h.shape);
      const want = twin.bytes.subarray(twin.dataStart + h.data_offsets[0], twin.dataStart + h.data_offsets[1]);
      assert.ok(bytes.subarray(t.begin, t.end).equals(want), `${t.name} bytes`);
    }
    assert.deepEqual(tied, [["model.embed_tokens.weight", "lm_head.weight"]]);
  });

  it("refuses a non-contiguous view and a view past its storage", async () => {
    const transposed = await bin({ "0": floats(6) }, [
      tensor({ name: "w.t", storageKey: "0", storageNumel: 6, shape: [3, 2], stride: [1, 3] }),
    ]);
    await refused(transposed.dir, /tensor w\.t: a non-contiguous view \(size \[3,2\], stride \[1,3\]\)/);
    const past = await bin({ "0": floats(6) }, [
      tensor({ name: "w", storageKey: "0", storageNumel: 6, storageOffset: 4, shape: [4] }),
    ]);
    await refused(past.dir, /tensor w: view \[4, 8\) runs past its storage of 6 elements/);
    const missing = await bin({ "0": floats(6) }, [
      tensor({ name: "w", storageKey: "9", storageNumel: 6, shape: [6] }),
    ]);
    await refused(missing.dir, /tensor w: storage 9 has no entry/);
    const short = await bin({ "0": floats(2) }, [tensor({ name: "w", storageKey: "0", storageNumel: 6, shape: [6] })]);
    await refused(short.dir, /tensor w: storage 0 holds 8 bytes, less than its 6 elements/);
  });

  it("refuses compressed entries and big-endian archives", async () => {
    const compressed = await bin({ "0": floats(12) }, [tensor({ name: "w", storageKey: "0" })], { compress: true });
    await refused(compressed.dir, /tensor w: entry archive\/data\/0 is compressed \(method 8\)/);
    const big = await bin({ "0": floats(12) }, [tensor({ name: "w", storageKey: "0" })], { byteorder: "big" });
    await refused(big.dir, /byte order "big" \(only little-endian\)/);
  });

  it("refuses any global, opcode or value torch.save does not write for a state dict", async () => {
    const pickle = (...parts: Array<string | number[]>) =>
      Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p))));
    const cases: Array<[Buffer, RegExp]> = [
      [
        pickle([0x80, 2], "cposix\nsystem\n", "X", [2, 0, 0, 0], "ls", [0x85, 0x52, 0x2e]),
        /global posix\.system is not allowed/,
      ],
      [pickle([0x80, 2], "cbuiltins\neval\n"), /global builtins\.eval is not allowed/],
      [pickle([0x80, 4], [0x8c, 8], "builtins", [0x8c, 4], "exec", [0x93]), /global builtins\.exec is not allowed/],
      [pickle([0x80, 2], "ctorch\nFloatStorage\n", [0x29, 0x52, 0x2e]), /call of torch\.FloatStorage is not allowed/],
      [pickle([0x80, 2, 0x28], "iposix\nsystem\n"), /opcode 0x69 \(INST\) at byte 3 is not allowed/],
      [
        pickle([0x80, 2, 0x7d, 0x58, 1, 0, 0, 0], "w", [0x4b, 3, 0x73, 0x2e]),
        /w: not a tensor \(only flat state dicts/,
      ],
      [pickle([0x80, 2, 0x5d, 0x2e]), /not a state dict/],
      [pickle([0x80, 2, 0x7d]), /truncated pickle/],
      [pickle([0x80, 2, 0x68, 9]), /memo key 9 missing/],
    ];
    for (const [bytes, pattern] of cases) {
      const { dir } = await bin({}, [], { pickle: bytes });
      await refused(dir, pattern);
    }
  });

  it("refuses what is not a sound zip: garbage, a truncated file, entries sharing bytes", async () => {
    const { dir, bytes } = await bin({ "0": floats(12) }, [tensor({ name: "w", storageKey: "0" })]);
    writeFileSync(join(dir, "pytorch_model.bin"), bytes.subarray(0, bytes.length - 30));
    await refused(dir, /not a valid torch\.save zip \(no end of central directory record\)/);
    writeFileSync(join(dir, "pytorch_model.bin"), Buffer.alloc(5000, 0x41));
    await refused(dir, /not a valid torch\.save zip/);
    // Point the second central directory entry at the first entry's local header.
    const cd = bytes.readUInt32LE(bytes.length - 6);
    const second = cd + 46 + bytes.readUInt16LE(cd + 28);
    const forged = Buffer.from(bytes);
    forged.writeUInt32LE(0, second + 42);
    writeFileSync(join(dir, "pytorch_model.bin"), forged);
    await refused(dir, /not a valid torch\.save zip \(entry archive\/data\.pkl: local header names another entry\)/);
  });
});
