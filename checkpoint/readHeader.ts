import { UsageError } from "../core/errors.js";
import type { Storage } from "../storage/types.js";
import { parseHeader, parseHeaderLength } from "./parseHeader.js";
import type { Shard } from "./types.js";

/** Reads and validates one shard's header with two ranged reads: 8 bytes, then the JSON. */
export async function readHeader(storage: Storage, file: string): Promise<Shard> {
  const where = `${storage.location}/${file}`;
  const info = await storage.stat(file);
  if (!info) throw new UsageError(`${where}: shard not found`);
  const prefix = Buffer.alloc(8);
  if (info.size < 8) throw new UsageError(`${where}: truncated safetensors file (${info.size} bytes)`);
  await storage.readRange(file, 0, 8, prefix, 0);
  const n = parseHeaderLength(prefix, info.size, where);
  const json = Buffer.alloc(n);
  await storage.readRange(file, 8, n, json, 0);
  return { file, size: info.size, etag: info.etag, mtimeMs: info.mtimeMs, ...parseHeader(json, info.size, where) };
}
