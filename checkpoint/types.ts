import type { CheckpointFormat } from "../core/plan.js";
import type { Storage } from "../storage/types.js";

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte range relative to the start of the shard's data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** N: the JSON header length as stored (including any padding). */
  headerLength: number;
  /** 8 + N: file offset of the data section. */
  dataStart: number;
  /** Tensors in data order. */
  tensors: TensorInfo[];
  metadata: Record<string, string>;
  /** Bytes of the data section (= last end). */
  dataLength: number;
}

/**
 * One weight file. A safetensors shard's tensors tile its data section; a torch.save zip (.bin) has
 * dataStart 0 and headerLength 0, its tensors' ranges are file offsets inside stored zip entries, in
 * the pickle's order, and may share bytes (tied weights).
 */
export interface Shard extends SafetensorsHeader {
  file: string;
  size: number;
  etag: string;
  mtimeMs: number;
}

/** A weight file as a report names it. */
export type ShardFile = Pick<Shard, "file" | "size" | "etag" | "mtimeMs">;

/** A checkpoint once planned: where it is and its files, without its tensors (what a coordinator keeps). */
export interface CheckpointFiles {
  storage: Storage;
  shards: readonly ShardFile[];
  /** Non-weight files (configs, tokenizer, …) copied to outputs. */
  otherFiles: string[];
}

export interface TensorRef {
  shard: Shard;
  tensor: TensorInfo;
}

export interface Checkpoint {
  storage: Storage;
  format: CheckpointFormat;
  /** True when the checkpoint has an index file (model.safetensors.index.json or pytorch_model.bin.index.json). */
  indexed: boolean;
  /** The parsed index file, when indexed (its metadata is carried into the output index). */
  index?: { metadata?: Record<string, unknown>; weight_map: Record<string, string> };
  shards: Shard[];
  tensors: Map<string, TensorRef>;
  /** Non-weight files (configs, tokenizer, …) copied to outputs. */
  otherFiles: string[];
  /** config.json's vocab_size (or text_config.vocab_size), when there is one. */
  vocabSize?: number;
  /** Groups of tensors sharing bytes (tied weights of a .bin). */
  tied: string[][];
}

export const INDEX_FILE = "model.safetensors.index.json";
export const SINGLE_FILE = "model.safetensors";
export const TORCH_INDEX_FILE = "pytorch_model.bin.index.json";
export const TORCH_SINGLE_FILE = "pytorch_model.bin";
