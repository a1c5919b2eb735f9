import { UsageError } from "../core/errors.js";
import type { Checkpoint, TensorRef } from "./types.js";

export interface TensorPair {
  aligned: TensorRef;
  base: TensorRef;
}

/** Every aligned tensor's base counterpart, by name, with identical dtype and shape. */
export function pairTensors(aligned: Checkpoint, base: Checkpoint): Map<string, TensorPair> {
  const pairs = new Map<string, TensorPair>();
  for (const [name, a] of aligned.tensors) {
    const b = base.tensors.get(name);
    const at = `${aligned.storage.location}/${a.shard.file}: tensor ${name}`;
    if (!b) throw new UsageError(`${at}: missing from the base checkpoint ${base.storage.location}`);
    const bt = `${base.storage.location}/${b.shard.file}`;
    if (a.tensor.dtype !== b.tensor.dtype) {
      throw new UsageError(`${at}: dtype ${a.tensor.dtype} differs from ${b.tensor.dtype} in ${bt}`);
    }
    if (a.tensor.shape.join(",") !== b.tensor.shape.join(",")) {
      throw new UsageError(
        `${at}: shape ${JSON.stringify(a.tensor.shape)} differs from ${JSON.stringify(b.tensor.shape)} in ${bt}`,
      );
    }
    pairs.set(name, { aligned: a, base: b });
  }
  return pairs;
}
