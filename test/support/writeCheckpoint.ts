// Builds small safetensors checkpoints for tests, byte by byte as the format defines them.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { serializeHeader } from "../../checkpoint/serializeHeader.js";
import type { TensorInfo } from "../../checkpoint/types.js";
import { ITEMSIZE } from "../../core/dtypes.js";

export interface FixtureTensor {
  name: string;
  dtype: string;
  shape: number[];
  data?: Buffer;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A whole safetensors file; tensors without data get random finite bytes. */
export function safetensorsBytes(tensors: FixtureTensor[], metadata: Record<string, string> = {}): Buffer {
  const infos: TensorInfo[] = [];
  const datas: Buffer[] = [];
  let offset = 0;
  for (const t of tensors) {
    const bytes = numel(t.shape) * (ITEMSIZE[t.dtype] ?? 1);
    const data = t.data ?? finiteRandom(t.dtype, bytes);
    infos.push({ name: t.name, dtype: t.dtype, shape: t.shape, begin: offset, end: offset + bytes });
    datas.push(data);
    offset += bytes;
  }
  return Buffer.concat([serializeHeader(infos, metadata), ...datas]);
}

/** Random bytes with every float's exponent kept away from Inf/NaN. */
export function finiteRandom(dtype: string, bytes: number): Buffer {
  const b = randomBytes(bytes);
  const item = ITEMSIZE[dtype] ?? 1;
  if (dtype === "BF16" || dtype === "F16" || dtype === "F32" || dtype === "F64") {
    // Clear the exponent's top bit: magnitudes stay below 2 (no overflow under extrapolation).
    for (let i = item - 1; i < bytes; i += item) b[i] = (b[i] as number) & 0xbf;
  }
  return b;
}

/** Writes a checkpoint folder: shards by file name, an index when more than one shard or when asked. */
export async function writeCheckpoint(
  dir: string,
  shards: Record<string, FixtureTensor[]>,
  options: { index?: boolean; extraFiles?: Record<string, string> } = {},
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const weightMap: Record<string, string> = {};
  for (const [file, tensors] of Object.entries(shards)) {
    await writeFile(join(dir, file), safetensorsBytes(tensors));
    for (const t of tensors) weightMap[t.name] = file;
  }
  if (options.index ?? Object.keys(shards).length > 1) {
    await writeFile(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  }
  for (const [file, text] of Object.entries(options.extraFiles ?? { "config.json": '{"model_type":"llama"}' })) {
    await writeFile(join(dir, file), text);
  }
}

/** SHA-256 of every file in a folder: inputs must be byte-identical after any command. */
export async function folderDigest(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) {
    out[f] = createHash("sha256")
      .update(await readFile(join(dir, f)))
      .digest("hex");
  }
  return out;
}
