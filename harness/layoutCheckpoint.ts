// Checkpoints as headers only (no data): enough for planning a 70B-shaped job in a test.

import { serializeHeader } from "../checkpoint/serializeHeader.js";
import type { Checkpoint, Shard, TensorInfo, TensorRef } from "../checkpoint/types.js";
import { ITEMSIZE } from "../core/dtypes.js";
import type { Storage } from "../storage/types.js";

export interface LayoutTensor {
  name: string;
  dtype: string;
  shape: number[];
}

export function layoutCheckpoint(
  location: string,
  shards: Array<{ file: string; tensors: LayoutTensor[] }>,
): Checkpoint {
  const storage = {
    location,
    limits: { minPartSize: 0, maxPartSize: Number.MAX_SAFE_INTEGER, maxParts: 1e6 },
  } as unknown as Storage;
  const built: Shard[] = shards.map(({ file, tensors }) => {
    let offset = 0;
    const infos: TensorInfo[] = tensors.map((t) => {
      const bytes = t.shape.reduce((a, b) => a * b, 1) * (ITEMSIZE[t.dtype] as number);
      const info = { ...t, begin: offset, end: offset + bytes };
      offset += bytes;
      return info;
    });
    const headerLength = serializeHeader(infos, {}).length - 8;
    return {
      file,
      size: 8 + headerLength + offset,
      etag: "x",
      mtimeMs: 0,
      headerLength,
      dataStart: 8 + headerLength,
      tensors: infos,
      metadata: {},
      dataLength: offset,
    };
  });
  const tensors = new Map<string, TensorRef>();
  for (const shard of built) for (const tensor of shard.tensors) tensors.set(tensor.name, { shard, tensor });
  const weightMap = Object.fromEntries([...tensors].map(([n, r]) => [n, r.shard.file]));
  return {
    storage,
    format: "safetensors",
    indexed: true,
    index: { weight_map: weightMap },
    shards: built,
    tensors,
    otherFiles: [],
    tied: [],
  };
}

/** Splits tensors into `count` shards of about equal bytes, in order. */
export function shardEvenly(tensors: LayoutTensor[], count: number): Array<{ file: string; tensors: LayoutTensor[] }> {
  const bytes = (t: LayoutTensor) => t.shape.reduce((a, b) => a * b, 1) * (ITEMSIZE[t.dtype] as number);
  const total = tensors.reduce((n, t) => n + bytes(t), 0);
  const target = total / count;
  const shards: LayoutTensor[][] = [[]];
  let used = 0;
  for (const t of tensors) {
    if (used >= target * shards.length && shards.length < count) shards.push([]);
    (shards[shards.length - 1] as LayoutTensor[]).push(t);
    used += bytes(t);
  }
  const n = shards.length;
  return shards.map((ts, i) => ({
    file: `model-${String(i + 1).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`,
    tensors: ts,
  }));
}

/** Llama-3-70B: 80 layers, hidden 8192, GQA with 8 KV heads, intermediate 28672, vocab 128256, bf16. */
export function llama70bTensors(): LayoutTensor[] {
  const h = 8192;
  const kv = 1024;
  const inter = 28672;
  const vocab = 128256;
  const t: LayoutTensor[] = [{ name: "model.embed_tokens.weight", dtype: "BF16", shape: [vocab, h] }];
  for (let i = 0; i < 80; i++) {
    const p = `model.layers.${i}`;
    t.push(
      { name: `${p}.input_layernorm.weight`, dtype: "BF16", shape: [h] },
      { name: `${p}.mlp.down_proj.weight`, dtype: "BF16", shape: [h, inter] },
      { name: `${p}.mlp.gate_proj.weight`, dtype: "BF16", shape: [inter, h] },
      { name: `${p}.mlp.up_proj.weight`, dtype: "BF16", shape: [inter, h] },
      { name: `${p}.post_attention_layernorm.weight`, dtype: "BF16", shape: [h] },
      { name: `${p}.self_attn.k_proj.weight`, dtype: "BF16", shape: [kv, h] },
      { name: `${p}.self_attn.o_proj.weight`, dtype: "BF16", shape: [h, h] },
      { name: `${p}.self_attn.q_proj.weight`, dtype: "BF16", shape: [h, h] },
      { name: `${p}.self_attn.v_proj.weight`, dtype: "BF16", shape: [kv, h] },
    );
  }
  t.push(
    { name: "model.norm.weight", dtype: "BF16", shape: [h] },
    { name: "lm_head.weight", dtype: "BF16", shape: [vocab, h] },
  );
  return t;
}
