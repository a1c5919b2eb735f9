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

export interface Shard extends SafetensorsHeader {
  file: string;
  size: number;
  etag: string;
  mtimeMs: number;
}

export interface TensorRef {
  shard: Shard;
  tensor: TensorInfo;
}

export interface Checkpoint {
  storage: Storage;
  /** True when the checkpoint has model.safetensors.index.json. */
  indexed: boolean;
  /** The parsed index file, when indexed (its metadata is carried into the output index). */
  index?: { metadata?: Record<string, unknown>; weight_map: Record<string, string> };
  shards: Shard[];
  tensors: Map<string, TensorRef>;
  /** Non-weight files (configs, tokenizer, …) copied to outputs. */
  otherFiles: string[];
}

export const INDEX_FILE = "model.safetensors.index.json";
export const SINGLE_FILE = "model.safetensors";
