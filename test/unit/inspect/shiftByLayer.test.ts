// Relative shift per layer and kind: tensor names of the common architectures sorted into attention, MLP,
// embeddings and norms, each group's figure from its sums of squares (never an average of ratios), and the
// groups together giving back the model-level figure.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TensorStatistics } from "../../../core/report.js";
import { shiftByLayer } from "../../../inspect/shiftByLayer.js";

function t(normBase: number, normDelta: number): TensorStatistics {
  return {
    dtype: "BF16",
    shape: [1],
    alpha: 0,
    normBase,
    normAligned: normBase,
    normDelta,
    normOutput: normBase,
    relativeShift: normDelta / normBase,
    maxAbsDiff: 0,
    nonfiniteInputs: 0,
    nonfiniteOutputs: 0,
  };
}

describe("shiftByLayer", () => {
  it("sorts Llama, GPT-2 and Mixtral tensor names into layers and kinds", () => {
    const names = {
      "model.embed_tokens.weight": [null, "embeddings"],
      "lm_head.weight": [null, "embeddings"],
      "model.norm.weight": [null, "norms"],
      "model.layers.0.input_layernorm.weight": [0, "norms"],
      "model.layers.0.post_attention_layernorm.weight": [0, "norms"],
      "model.layers.0.self_attn.q_proj.weight": [0, "attention"],
      "model.layers.12.self_attn.o_proj.weight": [12, "attention"],
      "model.layers.3.mlp.down_proj.weight": [3, "mlp"],
      "model.layers.3.block_sparse_moe.experts.7.w2.weight": [3, "mlp"],
      "transformer.h.5.attn.c_attn.weight": [5, "attention"],
      "transformer.h.5.mlp.c_fc.weight": [5, "mlp"],
      "transformer.h.5.ln_1.weight": [5, "norms"],
      "transformer.wte.weight": [null, "embeddings"],
      "transformer.ln_f.weight": [null, "norms"],
      "model.layers.2.block_sparse_moe.gate.weight": [2, "other"],
    } as const;
    for (const [name, [layer, kind]] of Object.entries(names)) {
      const [g] = shiftByLayer({ [name]: t(1, 0.001) });
      assert.deepEqual([g?.layer, g?.kind], [layer, kind], name);
    }
  });

  it("computes a group's shift from its sums of squares, and the groups give back the model's", () => {
    const tensors = {
      "model.layers.0.self_attn.q_proj.weight": t(3, 0.004),
      "model.layers.0.self_attn.k_proj.weight": t(4, 0.003),
      "model.layers.0.mlp.up_proj.weight": t(10, 0.02),
      "model.layers.1.mlp.up_proj.weight": t(2, 0.0001),
      "lm_head.weight": t(6, 0.008),
    };
    const groups = shiftByLayer(tensors);
    assert.deepEqual(
      groups.map((g) => [g.layer, g.kind, g.tensors]),
      [
        [null, "embeddings", 1],
        [0, "attention", 2],
        [0, "mlp", 1],
        [1, "mlp", 1],
      ],
    );
    const attention = groups[1];
    assert.equal(attention?.normBase, 5);
    assert.equal(attention?.normDelta, 0.005);
    assert.equal(
      attention?.relativeShift,
      0.001,
      "sqrt(0.004² + 0.003²) / sqrt(3² + 4²), not the mean of the two ratios",
    );
    const b2 = groups.reduce((s, g) => s + g.normBase ** 2, 0);
    const d2 = groups.reduce((s, g) => s + g.normDelta ** 2, 0);
    const model =
      Math.sqrt(Object.values(tensors).reduce((s, x) => s + x.normDelta ** 2, 0)) /
      Math.sqrt(Object.values(tensors).reduce((s, x) => s + x.normBase ** 2, 0));
    assert.ok(Math.abs(Math.sqrt(d2) / Math.sqrt(b2) - model) < 1e-15);
  });
});
