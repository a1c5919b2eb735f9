// The tensors of a Llama-shaped model scaled to a byte budget: the shapes real checkpoints have
// (GQA attention, SwiGLU MLP, RMSNorm weights, untied lm_head) at a size a test can afford.

export interface ExampleTensor {
  name: string;
  dtype: "BF16" | "F32" | "I64";
  shape: number[];
  /** How its values are drawn. */
  kind: "matrix" | "norm" | "positions";
}

export interface LlamaShape {
  hidden: number;
  intermediate: number;
  kvHidden: number;
  layers: number;
  vocab: number;
  heads: number;
  kvHeads: number;
}

const POSITIONS = 512;

export function llamaShapeFor(bytes: number): LlamaShape {
  const params = bytes / 2;
  let hidden = 64;
  for (const h of [128, 256, 512, 1024, 2048, 4096, 8192]) {
    if (2 * 16 * h * h + 2 * perLayer(h) <= params) hidden = h;
  }
  const vocab = 16 * hidden;
  const layers = Math.max(2, Math.floor((params - 2 * vocab * hidden) / perLayer(hidden)));
  const heads = Math.max(1, hidden / 64);
  const kvHeads = Math.max(1, heads / 4);
  return { hidden, intermediate: intermediateFor(hidden), kvHidden: hidden / 4, layers, vocab, heads, kvHeads };
}

export function llamaTensors(s: LlamaShape): ExampleTensor[] {
  const m = (name: string, shape: number[]): ExampleTensor => ({ name, dtype: "BF16", shape, kind: "matrix" });
  const tensors: ExampleTensor[] = [m("model.embed_tokens.weight", [s.vocab, s.hidden])];
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}`;
    tensors.push(
      { name: `${p}.input_layernorm.weight`, dtype: "BF16", shape: [s.hidden], kind: "norm" },
      m(`${p}.self_attn.q_proj.weight`, [s.hidden, s.hidden]),
      m(`${p}.self_attn.k_proj.weight`, [s.kvHidden, s.hidden]),
      m(`${p}.self_attn.v_proj.weight`, [s.kvHidden, s.hidden]),
      m(`${p}.self_attn.o_proj.weight`, [s.hidden, s.hidden]),
      { name: `${p}.post_attention_layernorm.weight`, dtype: "BF16", shape: [s.hidden], kind: "norm" },
      m(`${p}.mlp.gate_proj.weight`, [s.intermediate, s.hidden]),
      m(`${p}.mlp.up_proj.weight`, [s.intermediate, s.hidden]),
      m(`${p}.mlp.down_proj.weight`, [s.hidden, s.intermediate]),
    );
  }
  tensors.push(
    { name: "model.norm.weight", dtype: "F32", shape: [s.hidden], kind: "norm" },
    { name: "model.position_ids", dtype: "I64", shape: [1, POSITIONS], kind: "positions" },
    m("lm_head.weight", [s.vocab, s.hidden]),
  );
  return tensors;
}

function perLayer(h: number): number {
  return 2 * h * h + 2 * h * (h / 4) + 3 * h * intermediateFor(h) + 2 * h;
}

function intermediateFor(h: number): number {
  return Math.max(64, Math.round((8 * h) / 3 / 64) * 64);
}
