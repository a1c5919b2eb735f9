// The output checkpoint's layout: shards, tensor order and data offsets. One output shard per aligned
// shard, tensors in the aligned shard's order. From safetensors the shard names are kept, and with no
// tensor dropped and no dtype changed the layout is the aligned one byte for byte (offsets included).
// From pytorch_model*.bin the shards are named as transformers' save_pretrained names safetensors
// shards: model.safetensors alone, or model-0000i-of-0000n.safetensors with an index.
import type { Checkpoint, Shard, TensorInfo } from "../checkpoint/types.js";
import { ITEMSIZE } from "../core/dtypes.js";
import type { OutputLayout } from "../core/plan.js";
import type { TensorDecision } from "./decideTensors.js";

export interface PlacedTensor {
  decision: TensorDecision;
  /** The tensor in the output shard: output dtype, data-relative offsets. */
  info: TensorInfo;
}

export interface OutputShardLayout {
  file: string;
  /** The aligned shard its tensors come from (its header metadata is carried over). */
  source: Shard;
  tensors: PlacedTensor[];
  dataLength: number;
}

export interface PlannedLayout {
  shards: OutputShardLayout[];
  layout: OutputLayout;
}

export function layoutOutput(aligned: Checkpoint, decisions: readonly TensorDecision[]): PlannedLayout {
  const byName = new Map(decisions.map((d) => [d.name, d]));
  const grouped = aligned.shards
    .map((source) => ({
      source,
      decisions: source.tensors.map((t) => byName.get(t.name)).filter((d): d is TensorDecision => d !== undefined),
    }))
    .filter((g) => g.decisions.length > 0);
  const fromTorch = aligned.format === "torch";
  const n = grouped.length;
  const pad = (i: number) => String(i).padStart(5, "0");
  const shards = grouped.map(({ source, decisions: ds }, i): OutputShardLayout => {
    let offset = 0;
    const tensors = ds.map((decision) => {
      const t = decision.aligned.tensor;
      const bytes = t.shape.reduce((a, b) => a * b, 1) * (ITEMSIZE[decision.outDtype] as number);
      const info = { name: t.name, dtype: decision.outDtype, shape: t.shape, begin: offset, end: offset + bytes };
      offset += bytes;
      return { decision, info };
    });
    const file = !fromTorch
      ? source.file
      : n === 1
        ? "model.safetensors"
        : `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    return { file, source, tensors, dataLength: offset };
  });
  const sameAsAligned =
    !fromTorch &&
    decisions.length === aligned.tensors.size &&
    decisions.every((d) => d.outDtype === d.aligned.tensor.dtype);
  const { total_size: _, ...indexMetadata } = aligned.index?.metadata ?? {};
  return {
    shards,
    layout: {
      indexed: fromTorch ? n > 1 : aligned.indexed,
      indexMetadata,
      weightMap: Object.fromEntries(
        shards
          .flatMap((s) => s.tensors.map((t) => [t.info.name, s.file]))
          .sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1)),
      ),
      totalSize: shards.reduce((x, s) => x + s.dataLength, 0),
      sameAsAligned,
    },
  };
}
