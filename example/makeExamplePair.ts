// `llm-expo make-example`: a Llama-shaped SFT checkpoint and a DPO-like descendant of it, written
// as real Hugging Face folders. dpo = sft + a sparse rank-1 delta per matrix (the kind of small,
// structured shift alignment makes), rounded to bf16; the two are sharded differently.

import { serializeHeader } from "../checkpoint/serializeHeader.js";
import { INDEX_FILE, type TensorInfo } from "../checkpoint/types.js";
import { ITEMSIZE } from "../core/dtypes.js";
import { openStorage } from "../storage/openStorage.js";
import type { StorageSettings } from "../storage/s3Settings.js";
import type { Storage, WrittenPart } from "../storage/types.js";
import { type ExampleTensor, type LlamaShape, llamaShapeFor, llamaTensors } from "./llamaLayout.js";
import { fromBf16, Rng, toBf16 } from "./randomValues.js";

export interface ExampleOptions {
  /** Parent location: the pair is written to <dir>/sft and <dir>/dpo. */
  dir: string;
  /** Approximate bytes of weights per model. */
  size: number;
  seed: number;
  storage: StorageSettings;
}

export interface ExamplePair {
  sft: string;
  dpo: string;
  shape: LlamaShape;
  tensors: number;
  bytesPerModel: number;
}

const SIGMA = 0.02;
/** Scale of the rank-1 delta relative to the weights: with the norm weights' steps, a model-wide relative shift near 1e-3 after bf16 rounding. */
const DELTA = 0.0015;
const CHUNK = 4 * 1024 * 1024;
const PART = 8 * 1024 * 1024;

export async function makeExamplePair(options: ExampleOptions): Promise<ExamplePair> {
  const shape = llamaShapeFor(options.size);
  const tensors = llamaTensors(shape);
  const bytes = tensors.map((t) => t.shape.reduce((a, b) => a * b, 1) * (ITEMSIZE[t.dtype] as number));
  const total = bytes.reduce((a, b) => a + b, 0);
  const root = options.dir.replace(/\/+$/, "");
  const sft = new ModelWriter(openStorage(`${root}/sft`, options.storage), tensors, bytes, Math.ceil(total / 3));
  const dpo = new ModelWriter(openStorage(`${root}/dpo`, options.storage), tensors, bytes, Math.ceil(total / 2));
  try {
    const rng = new Rng(options.seed);
    for (const [i, t] of tensors.entries()) {
      await sft.beginTensor(i);
      await dpo.beginTensor(i);
      for (const [a, b] of generate(t, rng)) {
        await sft.write(a);
        await dpo.write(b);
      }
    }
    await sft.finish(configFiles(shape, 0.6));
    await dpo.finish(configFiles(shape, 0.7));
  } catch (e) {
    await Promise.all([sft.abort(), dpo.abort()]);
    throw e;
  } finally {
    await Promise.all([sft.storage.close(), dpo.storage.close()]);
  }
  return { sft: sft.storage.location, dpo: dpo.storage.location, shape, tensors: tensors.length, bytesPerModel: total };
}

/** Yields matching chunks of sft and dpo bytes for one tensor. */
function* generate(t: ExampleTensor, rng: Rng): Generator<[Buffer, Buffer]> {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (t.kind === "positions") {
    const a = Buffer.alloc(numel * 8);
    for (let i = 0; i < numel; i++) a.writeBigInt64LE(BigInt(i), i * 8);
    yield [a, Buffer.from(a)];
    return;
  }
  if (t.kind === "norm") {
    const item = ITEMSIZE[t.dtype] as number;
    const a = Buffer.alloc(numel * item);
    const b = Buffer.alloc(numel * item);
    for (let i = 0; i < numel; i++) {
      const x = 1 + 0.05 * rng.normal();
      const step = 0.001 * rng.normal();
      if (t.dtype === "F32") {
        a.writeFloatLE(x, i * 4);
        b.writeFloatLE(a.readFloatLE(i * 4) + step, i * 4);
      } else {
        const xb = toBf16(x);
        a.writeUInt16LE(xb, i * 2);
        b.writeUInt16LE(toBf16(fromBf16(xb) + step), i * 2);
      }
    }
    yield [a, b];
    return;
  }
  const [rows, cols] = t.shape as [number, number];
  const v = new Float32Array(cols);
  for (let j = 0; j < cols; j++) v[j] = rng.normal();
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK / (cols * 2)));
  for (let r0 = 0; r0 < rows; r0 += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, rows - r0) * cols;
    const a = Buffer.allocUnsafe(n * 2);
    const b = Buffer.allocUnsafe(n * 2);
    const a16 = new Uint16Array(a.buffer, a.byteOffset, n);
    const b16 = new Uint16Array(b.buffer, b.byteOffset, n);
    for (let k = 0; k < n; ) {
      // One row in sixteen moves: alignment shifts a few directions, not every weight.
      const u = (rng.next() & 15) === 0 ? DELTA * SIGMA * 2.8 * rng.normal() : 0;
      for (let j = 0; j < cols; j++, k++) {
        const x = toBf16(SIGMA * rng.normal());
        a16[k] = x;
        b16[k] = u === 0 ? x : toBf16(fromBf16(x) + u * (v[j] as number));
      }
    }
    yield [a, b];
  }
}

/** Writes one model's shards in tensor order, each as a multipart output with parts of PART bytes. */
class ModelWriter {
  private readonly shardOf: number[] = [];
  private readonly shardTensors: TensorInfo[][] = [];
  private readonly names: string[] = [];
  private current = -1;
  private upload?: { name: string; id: string; part: number; offset: number; pending: Buffer[]; pendingBytes: number };
  private readonly opened: Array<{ name: string; id: string }> = [];
  private parts: WrittenPart[] = [];

  constructor(
    readonly storage: Storage,
    private readonly tensors: ExampleTensor[],
    bytes: number[],
    maxShardBytes: number,
  ) {
    let shard = 0;
    let used = 0;
    for (const [i, t] of tensors.entries()) {
      const size = bytes[i] as number;
      if (used > 0 && used + size > maxShardBytes) {
        shard++;
        used = 0;
      }
      this.shardOf.push(shard);
      const list = (this.shardTensors[shard] ??= []);
      list.push({ name: t.name, dtype: t.dtype, shape: t.shape, begin: used, end: used + size });
      used += size;
    }
    const count = this.shardTensors.length;
    for (let s = 0; s < count; s++) {
      this.names.push(`model-${String(s + 1).padStart(5, "0")}-of-${String(count).padStart(5, "0")}.safetensors`);
    }
  }

  async beginTensor(i: number): Promise<void> {
    const shard = this.shardOf[i] as number;
    if (shard === this.current) return;
    await this.closeShard();
    this.current = shard;
    const tensors = this.shardTensors[shard] as TensorInfo[];
    const header = serializeHeader(tensors, { format: "pt" });
    const name = this.names[shard] as string;
    const size = header.length + (tensors[tensors.length - 1]?.end ?? 0);
    const id = await this.storage.createMultipart(name, size);
    this.opened.push({ name, id });
    this.upload = { name, id, part: 1, offset: 0, pending: [header], pendingBytes: header.length };
  }

  async write(chunk: Buffer): Promise<void> {
    const u = this.upload as NonNullable<ModelWriter["upload"]>;
    u.pending.push(chunk);
    u.pendingBytes += chunk.length;
    if (u.pendingBytes >= PART) await this.flush();
  }

  async finish(files: Record<string, unknown>): Promise<void> {
    await this.closeShard();
    for (const [name, content] of Object.entries(files)) {
      await this.storage.writeSmall(name, Buffer.from(`${JSON.stringify(content, null, 2)}\n`));
    }
    const weightMap: Record<string, string> = {};
    for (const [i, t] of this.tensors.entries()) weightMap[t.name] = this.names[this.shardOf[i] as number] as string;
    const totalSize = this.shardTensors.reduce((n, ts) => n + (ts[ts.length - 1]?.end ?? 0), 0);
    const index = { metadata: { total_size: totalSize }, weight_map: weightMap };
    await this.storage.writeSmall(INDEX_FILE, Buffer.from(`${JSON.stringify(index, null, 2)}\n`));
  }

  async abort(): Promise<void> {
    for (const o of this.opened) await this.storage.abortMultipart(o.name, o.id).catch(() => undefined);
  }

  private async flush(): Promise<void> {
    const u = this.upload;
    if (!u || u.pendingBytes === 0) return;
    this.parts.push(await this.storage.writePart(u.name, u.id, u.part, u.offset, u.pending));
    u.offset += u.pendingBytes;
    u.part++;
    u.pending = [];
    u.pendingBytes = 0;
  }

  private async closeShard(): Promise<void> {
    const u = this.upload;
    if (!u) return;
    await this.flush();
    await this.storage.completeMultipart(u.name, u.id, this.parts);
    this.opened.pop();
    this.parts = [];
    this.upload = undefined;
  }
}

function configFiles(s: LlamaShape, temperature: number): Record<string, unknown> {
  const special = { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" };
  const vocab: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (let i = 0; i < 256; i++) vocab[`<0x${i.toString(16).toUpperCase().padStart(2, "0")}>`] = 3 + i;
  return {
    "config.json": {
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: s.hidden,
      intermediate_size: s.intermediate,
      num_hidden_layers: s.layers,
      num_attention_heads: s.heads,
      num_key_value_heads: s.kvHeads,
      vocab_size: s.vocab,
      max_position_embeddings: 512,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      hidden_act: "silu",
      tie_word_embeddings: false,
      torch_dtype: "bfloat16",
      bos_token_id: 1,
      eos_token_id: 2,
    },
    "generation_config.json": { bos_token_id: 1, eos_token_id: 2, do_sample: true, temperature, top_p: 0.9 },
    "tokenizer.json": {
      version: "1.0",
      added_tokens: Object.entries(special).map(([, content], id) => ({ id: [1, 2, 0][id], content, special: true })),
      model: { type: "BPE", vocab, merges: [], byte_fallback: true, unk_token: "<unk>" },
    },
    "tokenizer_config.json": {
      ...special,
      model_max_length: 512,
      tokenizer_class: "PreTrainedTokenizerFast",
      chat_template: "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}",
    },
    "special_tokens_map.json": special,
  };
}
