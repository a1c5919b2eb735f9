// A tiny Llama (2 layers, hidden 32, 4 heads over 2 KV heads, SwiGLU, RMSNorm, RoPE) for the sweep's tests:
// an SFT/DPO pair written as real safetensors checkpoints, and a plain forward pass in float64 that scores a
// model by the mean log-likelihood of a fixed token sequence. Real computation on real weights, so the
// scores of extrapolated candidates differ by α; no torch, no numpy.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { bf16ToF32, f16ToF32, f32ToBf16 } from "./oracle.js";
import { type LoadedTensor, readAllTensors } from "./readTensor.js";
import { writeCheckpoint } from "./writeCheckpoint.js";

export interface TinyConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
  rms_norm_eps: number;
  rope_theta: number;
}

export const TINY_CONFIG: TinyConfig = {
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
};

/** The sequence every model is scored on. */
export const TOKENS: readonly number[] = [
  1, 17, 42, 5, 33, 8, 59, 21, 12, 47, 30, 3, 26, 61, 14, 38, 9, 52, 27, 44, 6, 35, 19, 2,
];

type Tensors = ReadonlyMap<string, Pick<LoadedTensor, "dtype" | "data">>;

/** Mean log-likelihood of TOKENS[t + 1] given TOKENS[0..t] (natural log; higher is better). */
export function meanLogLikelihood(tensors: Tensors, config: TinyConfig = TINY_CONFIG): number {
  const { logits } = forward(tensors, config);
  let sum = 0;
  for (let t = 0; t + 1 < TOKENS.length; t++) sum += logSoftmaxAt(logits[t] as Float64Array, TOKENS[t + 1] as number);
  return sum / (TOKENS.length - 1);
}

/** Scores the checkpoint folder the way the test evaluator does. */
export function scoreCheckpoint(dir: string): number {
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as TinyConfig;
  return meanLogLikelihood(readAllTensors(dir), config);
}

/**
 * Writes <dir>/sft (one file) and <dir>/dpo (two shards and an index). dpo moves sft's lm_head a small step
 * towards predicting TOKENS (what a preference step might do to one behaviour) and every other matrix a
 * little at random (what it does to the rest): extrapolating the step helps the score at first, then the
 * growing noise hurts it.
 */
export async function writeTinyPair(dir: string, seed = 5): Promise<{ sft: string; dpo: string }> {
  const c = TINY_CONFIG;
  const rng = normalRng(seed);
  const H = c.hidden_size;
  const hd = H / c.num_attention_heads;
  const kv = c.num_key_value_heads * hd;
  const shapes: Array<[string, number[], "BF16" | "F32"]> = [["model.embed_tokens.weight", [c.vocab_size, H], "BF16"]];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    shapes.push(
      [`${p}.input_layernorm.weight`, [H], "BF16"],
      [`${p}.self_attn.q_proj.weight`, [H, H], "BF16"],
      [`${p}.self_attn.k_proj.weight`, [kv, H], "BF16"],
      [`${p}.self_attn.v_proj.weight`, [kv, H], "BF16"],
      [`${p}.self_attn.o_proj.weight`, [H, H], "BF16"],
      [`${p}.post_attention_layernorm.weight`, [H], "BF16"],
      [`${p}.mlp.gate_proj.weight`, [c.intermediate_size, H], "BF16"],
      [`${p}.mlp.up_proj.weight`, [c.intermediate_size, H], "BF16"],
      [`${p}.mlp.down_proj.weight`, [H, c.intermediate_size], "BF16"],
    );
  }
  shapes.push(["model.norm.weight", [H], "F32"], ["lm_head.weight", [c.vocab_size, H], "BF16"]);
  const sft = new Map<string, Float64Array>();
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float64Array(n);
    const norm = name.endsWith("norm.weight");
    for (let i = 0; i < n; i++) v[i] = norm ? 1 + 0.05 * rng() : (name.includes("embed") ? 1 : 0.25) * rng();
    sft.set(name, v);
  }
  const encoded = (values: ReadonlyMap<string, Float64Array>) =>
    new Map(shapes.map(([name, , dtype]) => [name, { dtype, data: encode(values.get(name) as Float64Array, dtype) }]));
  // The step: lm_head rows of each next token move towards the final hidden state that precedes it.
  const { hidden } = forward(encoded(sft), c);
  const dpo = new Map([...sft].map(([k, v]) => [k, Float64Array.from(v)]));
  const head = dpo.get("lm_head.weight") as Float64Array;
  for (let t = 0; t + 1 < TOKENS.length; t++) {
    const h = hidden[t] as Float64Array;
    const norm2 = h.reduce((s, x) => s + x * x, 0);
    const row = (TOKENS[t + 1] as number) * H;
    for (let i = 0; i < H; i++) head[row + i] = (head[row + i] as number) + (0.6 * (h[i] as number)) / Math.sqrt(norm2);
  }
  for (const [name, v] of dpo) {
    if (name === "lm_head.weight" || name.endsWith("norm.weight")) continue;
    for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) + 0.06 * rng();
  }
  const tensorsOf = (values: ReadonlyMap<string, Float64Array>, names: string[]) =>
    names.map((name) => {
      const [, shape, dtype] = shapes.find(([n]) => n === name) as [string, number[], "BF16" | "F32"];
      return { name, dtype, shape, data: encode(values.get(name) as Float64Array, dtype) };
    });
  const names = shapes.map(([n]) => n);
  const half = Math.ceil(names.length / 2);
  const config = { "config.json": JSON.stringify({ architectures: ["LlamaForCausalLM"], model_type: "llama", ...c }) };
  await writeCheckpoint(join(dir, "sft"), { "model.safetensors": tensorsOf(sft, names) }, { extraFiles: config });
  await writeCheckpoint(
    join(dir, "dpo"),
    {
      "model-00001-of-00002.safetensors": tensorsOf(dpo, names.slice(0, half)),
      "model-00002-of-00002.safetensors": tensorsOf(dpo, names.slice(half)),
    },
    { extraFiles: config },
  );
  return { sft: join(dir, "sft"), dpo: join(dir, "dpo") };
}

function forward(tensors: Tensors, c: TinyConfig): { logits: Float64Array[]; hidden: Float64Array[] } {
  const H = c.hidden_size;
  const nH = c.num_attention_heads;
  const hd = H / nH;
  const group = nH / c.num_key_value_heads;
  const w = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`no tensor ${name}`);
    return decode(t.dtype, t.data);
  };
  const embed = w("model.embed_tokens.weight");
  const T = TOKENS.length;
  const x = TOKENS.map((tok) => embed.slice(tok * H, (tok + 1) * H));
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const hIn = x.map((v) => rmsNorm(v, w(`${p}.input_layernorm.weight`), c.rms_norm_eps));
    const q = hIn.map((v, t) => rope(matVec(w(`${p}.self_attn.q_proj.weight`), v), t, hd, c.rope_theta));
    const k = hIn.map((v, t) => rope(matVec(w(`${p}.self_attn.k_proj.weight`), v), t, hd, c.rope_theta));
    const val = hIn.map((v) => matVec(w(`${p}.self_attn.v_proj.weight`), v));
    const wo = w(`${p}.self_attn.o_proj.weight`);
    for (let t = 0; t < T; t++) {
      const heads = new Float64Array(H);
      for (let h = 0; h < nH; h++) {
        const g = Math.floor(h / group);
        const scores = Array.from({ length: t + 1 }, (_, u) => {
          let s = 0;
          for (let i = 0; i < hd; i++) s += (q[t]?.[h * hd + i] as number) * (k[u]?.[g * hd + i] as number);
          return s / Math.sqrt(hd);
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let u = 0; u <= t; u++)
          for (let i = 0; i < hd; i++)
            heads[h * hd + i] =
              (heads[h * hd + i] as number) + ((e[u] as number) / z) * (val[u]?.[g * hd + i] as number);
      }
      add(x[t] as Float64Array, matVec(wo, heads));
    }
    for (let t = 0; t < T; t++) {
      const h2 = rmsNorm(x[t] as Float64Array, w(`${p}.post_attention_layernorm.weight`), c.rms_norm_eps);
      const gate = matVec(w(`${p}.mlp.gate_proj.weight`), h2);
      const up = matVec(w(`${p}.mlp.up_proj.weight`), h2);
      const act = gate.map((gv, i) => (gv / (1 + Math.exp(-gv))) * (up[i] as number));
      add(x[t] as Float64Array, matVec(w(`${p}.mlp.down_proj.weight`), act));
    }
  }
  const hidden = x.map((v) => rmsNorm(v, w("model.norm.weight"), c.rms_norm_eps));
  const head = w("lm_head.weight");
  return { logits: hidden.map((v) => matVec(head, v)), hidden };
}

function matVec(m: Float64Array, v: Float64Array): Float64Array {
  const cols = v.length;
  const out = new Float64Array(m.length / cols);
  for (let r = 0; r < out.length; r++) {
    let s = 0;
    for (let i = 0; i < cols; i++) s += (m[r * cols + i] as number) * (v[i] as number);
    out[r] = s;
  }
  return out;
}

function rmsNorm(v: Float64Array, weight: Float64Array, eps: number): Float64Array {
  const ms = v.reduce((s, x) => s + x * x, 0) / v.length;
  const scale = 1 / Math.sqrt(ms + eps);
  return v.map((x, i) => x * scale * (weight[i] as number));
}

/** Rotary embedding as Hugging Face's Llama applies it: halves of each head rotated together. */
function rope(v: Float64Array, position: number, hd: number, theta: number): Float64Array {
  const out = Float64Array.from(v);
  const half = hd / 2;
  for (let h = 0; h < v.length / hd; h++) {
    for (let j = 0; j < half; j++) {
      const angle = position * theta ** (-(2 * j) / hd);
      const a = v[h * hd + j] as number;
      const b = v[h * hd + j + half] as number;
      out[h * hd + j] = a * Math.cos(angle) - b * Math.sin(angle);
      out[h * hd + j + half] = b * Math.cos(angle) + a * Math.sin(angle);
    }
  }
  return out;
}

function add(into: Float64Array, v: Float64Array): void {
  for (let i = 0; i < into.length; i++) into[i] = (into[i] as number) + (v[i] as number);
}

function logSoftmaxAt(logits: Float64Array, index: number): number {
  const m = Math.max(...logits);
  const z = logits.reduce((s, x) => s + Math.exp(x - m), 0);
  return (logits[index] as number) - m - Math.log(z);
}

function decode(dtype: string, data: Buffer): Float64Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (dtype) {
    case "BF16":
      return Float64Array.from({ length: data.length / 2 }, (_, i) => bf16ToF32(view.getUint16(2 * i, true)));
    case "F16":
      return Float64Array.from({ length: data.length / 2 }, (_, i) => f16ToF32(view.getUint16(2 * i, true)));
    case "F32":
      return Float64Array.from({ length: data.length / 4 }, (_, i) => view.getFloat32(4 * i, true));
    case "F64":
      return Float64Array.from({ length: data.length / 8 }, (_, i) => view.getFloat64(8 * i, true));
  }
  throw new Error(`cannot decode ${dtype}`);
}

function encode(values: Float64Array, dtype: "BF16" | "F32"): Buffer {
  if (dtype === "F32") return Buffer.from(Float32Array.from(values).buffer);
  const out = Buffer.alloc(values.length * 2);
  for (const [i, x] of values.entries()) out.writeUInt16LE(f32ToBf16(Math.fround(x)), 2 * i);
  return out;
}

/** Standard normal draws from a seeded xorshift generator (Box–Muller). */
function normalRng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  const uniform = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 2 ** 32;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}
