// Reads tensors back from a checkpoint folder the plain way (whole files), independent of the
// code under test's ranged reader.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface LoadedTensor {
  dtype: string;
  shape: number[];
  data: Buffer;
}

export interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export function readHeaderPlain(file: string): {
  header: Record<string, HeaderEntry>;
  metadata: Record<string, string>;
  dataStart: number;
  bytes: Buffer;
} {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const { __metadata__: metadata = {}, ...header } = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
  return { header, metadata, dataStart: 8 + n, bytes };
}

export function readAllTensors(dir: string): Map<string, LoadedTensor> {
  const indexFile = join(dir, "model.safetensors.index.json");
  const files = existsSync(indexFile)
    ? [...new Set(Object.values(JSON.parse(readFileSync(indexFile, "utf8")).weight_map as Record<string, string>))]
    : ["model.safetensors"];
  const out = new Map<string, LoadedTensor>();
  for (const f of files) {
    const { header, dataStart, bytes } = readHeaderPlain(join(dir, f));
    for (const [name, info] of Object.entries(header)) {
      const [b, e] = info.data_offsets;
      out.set(name, { dtype: info.dtype, shape: info.shape, data: bytes.subarray(dataStart + b, dataStart + e) });
    }
  }
  return out;
}
