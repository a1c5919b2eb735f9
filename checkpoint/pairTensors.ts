// Pairs aligned tensors with base tensors by name. Float dtypes may differ (the planner converts);
// shapes must match, except the vocabulary-indexed tensors of a resized vocabulary: when both configs
// give a vocab_size and they differ, a tensor whose first dimension is each side's vocab size and whose
// other dimensions agree shares its leading rows.
import { isExtrapolatedDtype } from "../core/dtypes.js";
import { UsageError } from "../core/errors.js";
import type { Checkpoint, TensorRef } from "./types.js";

export interface TensorPair {
  aligned: TensorRef;
  /** undefined: the tensor is only in the aligned checkpoint. */
  base?: TensorRef;
  /** Set when the vocabulary was resized: rows (first dimension) of each side. */
  rows?: { aligned: number; base: number };
}

export interface Pairing {
  /** Every aligned tensor, in the aligned checkpoint's order. */
  pairs: Map<string, TensorPair>;
  /** Tensors the base checkpoint has and the aligned one does not. */
  baseOnly: string[];
}

export function pairTensors(aligned: Checkpoint, base: Checkpoint): Pairing {
  const pairs = new Map<string, TensorPair>();
  const resized =
    aligned.vocabSize !== undefined && base.vocabSize !== undefined && aligned.vocabSize !== base.vocabSize;
  for (const [name, a] of aligned.tensors) {
    const b = base.tensors.get(name);
    if (!b) {
      pairs.set(name, { aligned: a });
      continue;
    }
    const at = `${aligned.storage.location}/${a.shard.file}: tensor ${name}`;
    const bt = `${base.storage.location}/${b.shard.file}`;
    const [ad, bd] = [a.tensor.dtype, b.tensor.dtype];
    if (ad !== bd && !(isExtrapolatedDtype(ad) && isExtrapolatedDtype(bd))) {
      throw new UsageError(`${at}: dtype ${ad} differs from ${bd} in ${bt}`);
    }
    const [as, bs] = [a.tensor.shape, b.tensor.shape];
    if (as.join(",") === bs.join(",")) {
      pairs.set(name, { aligned: a, base: b });
      continue;
    }
    const vocabRows =
      resized &&
      as.length === bs.length &&
      as[0] === aligned.vocabSize &&
      bs[0] === base.vocabSize &&
      as.slice(1).join(",") === bs.slice(1).join(",");
    if (!vocabRows) {
      const rowsOnly = as.length === bs.length && as.slice(1).join(",") === bs.slice(1).join(",");
      const hint = rowsOnly
        ? ` (rows differ, but the configs' vocab_size ${aligned.vocabSize ?? "(none)"} and ${base.vocabSize ?? "(none)"} do not say the vocabulary was resized to them)`
        : "";
      throw new UsageError(`${at}: shape ${JSON.stringify(as)} differs from ${JSON.stringify(bs)} in ${bt}${hint}`);
    }
    pairs.set(name, { aligned: a, base: b, rows: { aligned: as[0] as number, base: bs[0] as number } });
  }
  const baseOnly = [...base.tensors.keys()].filter((n) => !aligned.tensors.has(n));
  return { pairs, baseOnly };
}
