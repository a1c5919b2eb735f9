// A local safetensors checkpoint rewritten as torch.save files, as transformers' save_pretrained(...,
// safe_serialization=False) lays them out: pytorch_model.bin, or pytorch_model-0000i-of-0000n.bin (one per
// safetensors shard, same tensors) with pytorch_model.bin.index.json; the other files copied. For benchmarks
// and tests of .bin inputs at sizes where committed fixtures would be too large.
import { copyFile, mkdir, open, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readHeader } from "../checkpoint/readHeader.js";
import { ITEMSIZE } from "../core/dtypes.js";
import { openStorage } from "../storage/openStorage.js";
import type { StorageSettings } from "../storage/s3Settings.js";
import { type PickleTensor, TorchZipWriter } from "./torchZipWriter.js";

const STORAGE_TYPES: Readonly<Record<string, string>> = {
  BF16: "BFloat16Storage",
  F16: "HalfStorage",
  F32: "FloatStorage",
  F64: "DoubleStorage",
  I64: "LongStorage",
  I32: "IntStorage",
  I16: "ShortStorage",
  I8: "CharStorage",
  U8: "ByteStorage",
  BOOL: "BoolStorage",
};

export async function convertToTorch(from: string, to: string, settings: StorageSettings): Promise<void> {
  await mkdir(to, { recursive: true });
  const files = await readdir(from);
  const indexFile = join(from, "model.safetensors.index.json");
  const indexed = files.includes("model.safetensors.index.json");
  const shards = indexed
    ? [
        ...new Set(Object.values(JSON.parse(await readFile(indexFile, "utf8")).weight_map as Record<string, string>)),
      ].sort()
    : ["model.safetensors"];
  const storage = openStorage(from, settings);
  const pad = (i: number) => String(i).padStart(5, "0");
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (const [i, shardFile] of shards.entries()) {
    const shard = await readHeader(storage, shardFile);
    const name = indexed ? `pytorch_model-${pad(i + 1)}-of-${pad(shards.length)}.bin` : "pytorch_model.bin";
    const input = await open(join(from, shardFile), "r");
    const output = await open(join(to, name), "w");
    try {
      const writer = new TorchZipWriter(
        async (chunk) => {
          await output.write(chunk);
        },
        name.replace(/\.bin$/, ""),
      );
      const pickled: PickleTensor[] = [];
      for (const [key, t] of shard.tensors.entries()) {
        const bytes = Buffer.allocUnsafe(t.end - t.begin);
        await input.read(bytes, 0, bytes.length, shard.dataStart + t.begin);
        await writer.addStorage(String(key), [bytes]);
        const numel = bytes.length / (ITEMSIZE[t.dtype] as number);
        const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
        const storageType = STORAGE_TYPES[t.dtype];
        if (!storageType) throw new Error(`${shardFile}: tensor ${t.name}: no torch storage type for ${t.dtype}`);
        pickled.push({
          name: t.name,
          storageType,
          storageKey: String(key),
          storageNumel: numel,
          storageOffset: 0,
          shape: t.shape,
          stride,
        });
        weightMap[t.name] = name;
        totalSize += bytes.length;
      }
      await writer.finish(pickled);
    } finally {
      await Promise.all([input.close(), output.close()]);
    }
  }
  await storage.close();
  if (indexed) {
    await writeFile(
      join(to, "pytorch_model.bin.index.json"),
      JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2),
    );
  }
  for (const f of files) {
    if (!f.endsWith(".safetensors") && f !== "model.safetensors.index.json") await copyFile(join(from, f), join(to, f));
  }
}
