import type { TensorInfo } from "./types.js";

/**
 * The 8-byte length plus JSON header of a safetensors file, padded with spaces so the data section
 * starts on an 8-byte boundary (as the reference writer does).
 */
export function serializeHeader(tensors: readonly TensorInfo[], metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  for (const t of tensors) header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [t.begin, t.end] };
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + padded, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  return out;
}
