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
      const info = { name: t.name, dtype: t.dtype, shape: t.shape, begin: offset, end: offset + bytes };
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
  return llamaTensors({ layers: 80, hidden: 8192, kv: 1024, intermediate: 28672, vocab: 128256 });
}

/**
 * Llama-3.1-405B (and Tulu-3-405B, its SFT/DPO descendants): 126 layers, hidden 16384, GQA with 8 KV heads,
 * intermediate 53248, vocab 128256, bf16: ~811 GB.
 */
export function llama405bTensors(): LayoutTensor[] {
  return llamaTensors({ layers: 126, hidden: 16384, kv: 1024, intermediate: 53248, vocab: 128256 });
}

/** A Llama-3 checkpoint's tensors, in the order its shards hold them. */
function llamaTensors(s: { layers: number; hidden: number; kv: number; intermediate: number; vocab: number }) {
  const { hidden: h, kv, intermediate: inter, vocab } = s;
  const t: LayoutTensor[] = [{ name: "model.embed_tokens.weight", dtype: "BF16", shape: [vocab, h] }];
  for (let i = 0; i < s.layers; i++) {
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

/**
 * DeepSeek-V3 as published (FP8 weights with F32 block scales, BF16 norms, embeddings and router): 61 layers
 * (3 dense, 58 MoE with 256 routed experts and one shared expert) plus the multi-token-prediction layer 61,
 * hidden 7168, MLA attention, vocab 129280: ~92k tensors, ~690 GB. Tensors in name order, as its shards hold them.
 */
export function deepseekV3Tensors(): LayoutTensor[] {
  const h = 7168;
  const t: LayoutTensor[] = [];
  /** An FP8 matrix and its inverse scales, one per 128 × 128 block. */
  const fp8 = (name: string, rows: number, cols: number) => {
    t.push(
      { name: `${name}.weight`, dtype: "F8_E4M3", shape: [rows, cols] },
      { name: `${name}.weight_scale_inv`, dtype: "F32", shape: [Math.ceil(rows / 128), Math.ceil(cols / 128)] },
    );
  };
  const bf16 = (name: string, shape: number[]) => t.push({ name, dtype: "BF16", shape });
  const mlp = (p: string, inter: number) => {
    fp8(`${p}.down_proj`, h, inter);
    fp8(`${p}.gate_proj`, inter, h);
    fp8(`${p}.up_proj`, inter, h);
  };
  bf16("model.embed_tokens.weight", [129280, h]);
  for (let i = 0; i <= 61; i++) {
    const p = `model.layers.${i}`;
    if (i === 61) {
      bf16(`${p}.eh_proj.weight`, [h, 2 * h]);
      bf16(`${p}.embed_tokens.weight`, [129280, h]);
      bf16(`${p}.enorm.weight`, [h]);
      bf16(`${p}.hnorm.weight`, [h]);
    }
    bf16(`${p}.input_layernorm.weight`, [h]);
    if (i < 3) {
      mlp(`${p}.mlp`, 18432);
    } else {
      for (let e = 0; e < 256; e++) mlp(`${p}.mlp.experts.${e}`, 2048);
      t.push({ name: `${p}.mlp.gate.e_score_correction_bias`, dtype: "F32", shape: [256] });
      bf16(`${p}.mlp.gate.weight`, [256, h]);
      mlp(`${p}.mlp.shared_experts`, 2048);
    }
    bf16(`${p}.post_attention_layernorm.weight`, [h]);
    if (i === 61) {
      bf16(`${p}.shared_head.head.weight`, [129280, h]);
      bf16(`${p}.shared_head.norm.weight`, [h]);
    }
    bf16(`${p}.self_attn.kv_a_layernorm.weight`, [512]);
    fp8(`${p}.self_attn.kv_a_proj_with_mqa`, 576, h);
    fp8(`${p}.self_attn.kv_b_proj`, 128 * 256, 512);
    fp8(`${p}.self_attn.o_proj`, h, 128 * 128);
    bf16(`${p}.self_attn.q_a_layernorm.weight`, [1536]);
    fp8(`${p}.self_attn.q_a_proj`, 1536, h);
    fp8(`${p}.self_attn.q_b_proj`, 128 * 192, 1536);
  }
  bf16("lm_head.weight", [129280, h]);
  bf16("model.norm.weight", [h]);
  return t;
}
