// The relative shift |θ1 − θ0| / |θ0| per layer and per kind of tensor (attention, MLP, embeddings, norms):
// where alignment moved the weights, and how little. A group's figure is computed from the sums of squares
// of its tensors (never an average of ratios): sqrt(Σ‖Δ_t‖²) / sqrt(Σ‖θ0_t‖²).
import type { TensorStatistics } from "../core/report.js";

export type TensorKind = "attention" | "mlp" | "embeddings" | "norms" | "other";

export interface ShiftGroup {
  /** The transformer block (model.layers.N, h.N, blocks.N, …); null for tensors outside the blocks. */
  layer: number | null;
  kind: TensorKind;
  tensors: number;
  normBase: number;
  normDelta: number;
  relativeShift: number;
}

const LAYER = /(?:^|\.)(?:layers|layer|h|blocks|block)\.(\d+)\./;
// Norms first: "post_attention_layernorm" is a norm, not attention.
const KINDS: Array<[TensorKind, RegExp]> = [
  ["norms", /norm|(^|[._])ln(_|\d|\.|$)/],
  ["embeddings", /embed|(^|\.)wte\.|(^|\.)wpe\.|lm_head|(^|\.)output\.weight$/],
  ["attention", /attn|attention|(^|[._])[qkvo]_proj|qkv|query|key|value/],
  ["mlp", /mlp|ffn|feed_forward|(gate|up|down)_proj|fc\d|(^|\.)w[123]\.|experts|intermediate/],
];

export function shiftByLayer(tensors: Readonly<Record<string, TensorStatistics>>): ShiftGroup[] {
  const groups = new Map<string, { layer: number | null; kind: TensorKind; tensors: number; b2: number; d2: number }>();
  for (const [name, t] of Object.entries(tensors)) {
    const m = LAYER.exec(name);
    const layer = m ? Number(m[1]) : null;
    const lower = name.toLowerCase();
    const kind = KINDS.find(([, re]) => re.test(lower))?.[0] ?? "other";
    const key = `${layer}:${kind}`;
    const g = groups.get(key) ?? { layer, kind, tensors: 0, b2: 0, d2: 0 };
    g.tensors++;
    g.b2 += t.normBase * t.normBase;
    g.d2 += t.normDelta * t.normDelta;
    groups.set(key, g);
  }
  return [...groups.values()]
    .map((g) => ({
      layer: g.layer,
      kind: g.kind,
      tensors: g.tensors,
      normBase: Math.sqrt(g.b2),
      normDelta: Math.sqrt(g.d2),
      relativeShift: g.b2 > 0 ? Math.sqrt(g.d2) / Math.sqrt(g.b2) : 0,
    }))
    .sort((a, b) => (a.layer ?? -1) - (b.layer ?? -1) || a.kind.localeCompare(b.kind));
}
