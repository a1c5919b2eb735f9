// Loads a Hugging Face checkpoint's structure (index, shard headers or torch.save directories: ranged
// reads, no tensor data) and validates it. safetensors is preferred where a folder has both formats, as
// transformers does; pytorch_model*.bin (torch.save zips) are read with a restricted unpickler.

import { UsageError } from "../core/errors.js";
import type { CheckpointFormat } from "../core/plan.js";
import type { Storage } from "../storage/types.js";
import { readHeader } from "./readHeader.js";
import { readTorchShard } from "./readTorchShard.js";
import {
  type Checkpoint,
  INDEX_FILE,
  type Shard,
  SINGLE_FILE,
  type TensorRef,
  TORCH_INDEX_FILE,
  TORCH_SINGLE_FILE,
} from "./types.js";

/** Weight formats we do not read and must not copy into an output as if they were configs. */
const FOREIGN_WEIGHTS = /\.(bin|pt|pth|ckpt|h5|msgpack|gguf|onnx|pkl|pickle|npz)$/i;
const SAFETENSORS = /\.safetensors$/i;
const EXTENSION: Record<CheckpointFormat, RegExp> = { safetensors: SAFETENSORS, torch: /\.bin$/i };

interface Shards {
  shards: Shard[];
  tied: string[][];
}

export async function loadCheckpoint(storage: Storage, role: string): Promise<Checkpoint> {
  const where = storage.location;
  if (!(await storage.exists())) throw new UsageError(`${where}: ${role} checkpoint not found`);
  const files = await storage.list();
  const otherFiles = files.filter(
    (f) => f !== INDEX_FILE && !SAFETENSORS.test(f) && !FOREIGN_WEIGHTS.test(f) && !f.endsWith(".index.json"),
  );
  const vocabSize = otherFiles.includes("config.json") ? await readVocabSize(storage) : undefined;
  const readSafetensors = async (names: string[]): Promise<Shards> => ({
    shards: await Promise.all(names.map((f) => readHeader(storage, f))),
    tied: [],
  });
  const readTorch = async (names: string[]): Promise<Shards> => {
    const read = await Promise.all(names.map((f) => readTorchShard(storage, f)));
    return { shards: read.map((r) => r.shard), tied: read.flatMap((r) => r.tied) };
  };
  const layouts: Array<[string, string, CheckpointFormat, (names: string[]) => Promise<Shards>]> = [
    [INDEX_FILE, SINGLE_FILE, "safetensors", readSafetensors],
    [TORCH_INDEX_FILE, TORCH_SINGLE_FILE, "torch", readTorch],
  ];
  for (const [indexFile, singleFile, format, read] of layouts) {
    if (files.includes(indexFile)) {
      const index = parseIndex(await storage.readSmall(indexFile), `${where}/${indexFile}`, format);
      const { shards, tied } = await read([...new Set(Object.values(index.weight_map))].sort());
      const byFile = new Map(shards.map((s) => [s.file, s]));
      const tensors = new Map<string, TensorRef>();
      for (const [name, file] of Object.entries(index.weight_map)) {
        const shard = byFile.get(file) as Shard;
        const tensor = shard.tensors.find((t) => t.name === name);
        if (!tensor)
          throw new UsageError(`${where}/${file}: tensor ${name}: listed in ${indexFile} but not in the shard`);
        tensors.set(name, { shard, tensor });
      }
      for (const shard of shards) {
        for (const t of shard.tensors) {
          if (index.weight_map[t.name] !== shard.file) {
            throw new UsageError(
              `${where}/${shard.file}: tensor ${t.name}: in the shard but not mapped to it in ${indexFile}`,
            );
          }
        }
      }
      return { storage, format, indexed: true, index, shards, tensors, otherFiles, vocabSize, tied };
    }
    if (files.includes(singleFile)) {
      const { shards, tied } = await read([singleFile]);
      const shard = shards[0] as Shard;
      const tensors = new Map<string, TensorRef>();
      for (const t of shard.tensors) {
        if (tensors.has(t.name)) throw new UsageError(`${where}/${singleFile}: tensor ${t.name} appears twice`);
        tensors.set(t.name, { shard, tensor: t });
      }
      return { storage, format, indexed: false, shards, tensors, otherFiles, vocabSize, tied };
    }
  }
  const foreign = files.filter((f) => FOREIGN_WEIGHTS.test(f));
  if (foreign.length > 0) {
    throw new UsageError(
      `${where}: ${role} checkpoint has only ${foreign[0]}${foreign.length > 1 ? ` and ${foreign.length - 1} more` : ""} (read: model.safetensors, pytorch_model.bin, or their sharded forms with an index)`,
    );
  }
  throw new UsageError(
    `${where}: ${role} checkpoint has none of ${INDEX_FILE}, ${SINGLE_FILE}, ${TORCH_INDEX_FILE}, ${TORCH_SINGLE_FILE}`,
  );
}

/** config.json's vocab_size (or text_config.vocab_size); undefined when it has none or is not JSON. */
async function readVocabSize(storage: Storage): Promise<number | undefined> {
  let config: unknown;
  try {
    config = JSON.parse((await storage.readSmall("config.json")).toString("utf8"));
  } catch {
    return undefined;
  }
  const c = config as { vocab_size?: unknown; text_config?: { vocab_size?: unknown } } | null;
  const v = c?.vocab_size ?? c?.text_config?.vocab_size;
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

function parseIndex(bytes: Buffer, where: string, format: CheckpointFormat): NonNullable<Checkpoint["index"]> {
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
    checkShardName(file, tensor, where, format);
  }
  return parsed as NonNullable<Checkpoint["index"]>;
}

/** Shard names are plain file names inside the checkpoint: nothing that could escape it. */
function checkShardName(file: string, tensor: string, where: string, format: CheckpointFormat): void {
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
  if (!EXTENSION[format].test(file)) {
    const ext = format === "torch" ? ".bin" : ".safetensors";
    throw new UsageError(`${where}: tensor ${tensor}: shard ${JSON.stringify(file)} is not a ${ext} file`);
  }
}
