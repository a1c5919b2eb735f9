// Loads a Hugging Face safetensors checkpoint's structure (index and shard headers only: ranged
// reads, no tensor data) and validates it.

import { UsageError } from "../core/errors.js";
import type { Storage } from "../storage/types.js";
import { readHeader } from "./readHeader.js";
import { type Checkpoint, INDEX_FILE, type Shard, SINGLE_FILE, type TensorRef } from "./types.js";

/** Weight formats we do not read and must not copy into an output as if they were configs. */
const FOREIGN_WEIGHTS = /\.(bin|pt|pth|ckpt|h5|msgpack|gguf|onnx|pkl|pickle|npz)$/i;
const SAFETENSORS = /\.safetensors$/i;

export async function loadCheckpoint(storage: Storage, role: string): Promise<Checkpoint> {
  const where = storage.location;
  if (!(await storage.exists())) throw new UsageError(`${where}: ${role} checkpoint not found`);
  const files = await storage.list();
  const otherFiles = files.filter(
    (f) => f !== INDEX_FILE && !SAFETENSORS.test(f) && !FOREIGN_WEIGHTS.test(f) && !f.endsWith(".index.json"),
  );
  if (files.includes(INDEX_FILE)) {
    const index = parseIndex(await storage.readSmall(INDEX_FILE), `${where}/${INDEX_FILE}`);
    const shardFiles = [...new Set(Object.values(index.weight_map))].sort();
    const shards = await Promise.all(shardFiles.map((f) => readHeader(storage, f)));
    const byFile = new Map(shards.map((s) => [s.file, s]));
    const tensors = new Map<string, TensorRef>();
    for (const [name, file] of Object.entries(index.weight_map)) {
      const shard = byFile.get(file) as Shard;
      const tensor = shard.tensors.find((t) => t.name === name);
      if (!tensor)
        throw new UsageError(`${where}/${file}: tensor ${name}: listed in ${INDEX_FILE} but not in the shard`);
      tensors.set(name, { shard, tensor });
    }
    for (const shard of shards) {
      for (const t of shard.tensors) {
        if (index.weight_map[t.name] !== shard.file) {
          throw new UsageError(
            `${where}/${shard.file}: tensor ${t.name}: in the shard but not mapped to it in ${INDEX_FILE}`,
          );
        }
      }
    }
    return { storage, indexed: true, index, shards, tensors, otherFiles };
  }
  if (files.includes(SINGLE_FILE)) {
    const shard = await readHeader(storage, SINGLE_FILE);
    const tensors = new Map(shard.tensors.map((t) => [t.name, { shard, tensor: t }]));
    return { storage, indexed: false, shards: [shard], tensors, otherFiles };
  }
  const foreign = files.filter((f) => FOREIGN_WEIGHTS.test(f));
  if (foreign.length > 0) {
    throw new UsageError(
      `${where}: ${role} checkpoint has only ${foreign[0]}${foreign.length > 1 ? ` and ${foreign.length - 1} more` : ""} (pickle/other formats are refused: convert it to safetensors first)`,
    );
  }
  throw new UsageError(`${where}: ${role} checkpoint has neither ${INDEX_FILE} nor ${SINGLE_FILE}`);
}

function parseIndex(bytes: Buffer, where: string): NonNullable<Checkpoint["index"]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new UsageError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  const weightMap = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    throw new UsageError(`${where}: no "weight_map" object`);
  }
  for (const [tensor, file] of Object.entries(weightMap)) {
    if (typeof file !== "string") throw new UsageError(`${where}: tensor ${tensor}: shard name is not a string`);
    checkShardName(file, tensor, where);
  }
  return parsed as NonNullable<Checkpoint["index"]>;
}

/** Shard names are plain file names inside the checkpoint: nothing that could escape it. */
function checkShardName(file: string, tensor: string, where: string): void {
  const bad =
    file.length === 0 ||
    file.includes("/") ||
    file.includes("\\") ||
    file === "." ||
    file === ".." ||
    file.includes("\0") ||
    /^[a-z][a-z0-9+.-]*:/i.test(file);
  if (bad)
    throw new UsageError(`${where}: tensor ${tensor}: shard name ${JSON.stringify(file)} is not a plain file name`);
  if (!SAFETENSORS.test(file)) {
    throw new UsageError(`${where}: tensor ${tensor}: shard ${JSON.stringify(file)} is not a .safetensors file`);
  }
}
