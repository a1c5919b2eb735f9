// Per aligned tensor: whether it is in the output (--drop), extrapolated or copied (dtype, --include,
// --exclude, --alpha-rule, a base counterpart), with which alphas, in which output dtype (--out-dtype), and
// how many of its leading elements have base values (a resized vocabulary). Also what the plan reports
// about the pair. Tensors only in aligned are refused unless a glob says to copy or drop them.
import type { Pairing, TensorPair } from "../checkpoint/pairTensors.js";
import type { Checkpoint, TensorRef } from "../checkpoint/types.js";
import { isExtrapolatedDtype } from "../core/dtypes.js";
import { UsageError } from "../core/errors.js";
import type { JobSpec } from "../core/jobSpec.js";
import type { Compatibility } from "../core/plan.js";
import { compileGlob } from "./matchGlob.js";

export interface TensorDecision {
  name: string;
  aligned: TensorRef;
  /** Set when extrapolated. */
  base?: TensorRef;
  action: "extrapolate" | "copy";
  alphas: number[];
  outDtype: string;
  /** Leading elements extrapolated (the rest are copied): all of them unless the vocabulary was resized. */
  sharedElems: number;
}

export interface Decisions {
  /** The output's tensors, in the aligned checkpoint's order. */
  tensors: TensorDecision[];
  compatibility: Compatibility;
}

/** What to do with tensors only in aligned that no glob selects: refuse (run, plan) or leave out (stats). */
export type AlignedOnlyPolicy = "refuse" | "drop";

export function decideTensors(
  spec: JobSpec,
  aligned: Checkpoint,
  base: Checkpoint,
  pairing: Pairing,
  alignedOnlyPolicy: AlignedOnlyPolicy = "refuse",
): Decisions {
  const include = spec.include.map(compileGlob);
  const exclude = spec.exclude.map(compileGlob);
  const drop = spec.drop.map(compileGlob);
  const rules = spec.alphaRules.map((r) => ({ re: compileGlob(r.pattern), alpha: r.alpha }));
  const compatibility: Compatibility = {
    formats: { base: base.format, aligned: aligned.format },
    dtypes: [],
    resized: [],
    excluded: [],
    dropped: [],
    alignedOnly: [],
    baseOnly: pairing.baseOnly,
    tied: uniqueGroups([...aligned.tied, ...base.tied]),
  };
  const unselected: TensorPair[] = [];
  const tensors: TensorDecision[] = [];
  for (const [name, pair] of pairing.pairs) {
    if (drop.some((re) => re.test(name))) {
      compatibility.dropped.push(name);
      continue;
    }
    const a = pair.aligned.tensor;
    const float = isExtrapolatedDtype(a.dtype);
    const outDtype = float && spec.outDtype ? spec.outDtype : a.dtype;
    // A copy the user asked for: not included, excluded, or α = 0.
    const rule = rules.find((r) => r.re.test(name));
    const chosenCopy =
      (include.length > 0 && !include.some((re) => re.test(name))) ||
      exclude.some((re) => re.test(name)) ||
      rule?.alpha === 0;
    if (!pair.base) {
      if (!chosenCopy) {
        if (alignedOnlyPolicy === "refuse") unselected.push(pair);
        else compatibility.dropped.push(name);
        continue;
      }
      compatibility.alignedOnly.push(name);
    } else if (float && chosenCopy) {
      compatibility.excluded.push(name);
    }
    const extrapolate = float && !chosenCopy && pair.base !== undefined;
    const numel = a.shape.reduce((x, y) => x * y, 1);
    const rowElems = a.shape.slice(1).reduce((x, y) => x * y, 1);
    const sharedRows = pair.rows ? Math.min(pair.rows.aligned, pair.rows.base) : (a.shape[0] ?? 1);
    const decision: TensorDecision = {
      name,
      aligned: pair.aligned,
      action: extrapolate ? "extrapolate" : "copy",
      alphas: !extrapolate ? [] : rule ? spec.alphas.map(() => rule.alpha) : [...spec.alphas],
      outDtype,
      sharedElems: extrapolate ? (pair.rows ? sharedRows * rowElems : numel) : 0,
    };
    if (extrapolate) decision.base = pair.base;
    tensors.push(decision);
    const baseDtype = extrapolate ? pair.base?.tensor.dtype : undefined;
    if (outDtype !== a.dtype || (baseDtype !== undefined && baseDtype !== a.dtype)) {
      compatibility.dtypes.push({
        tensor: name,
        aligned: a.dtype,
        ...(baseDtype ? { base: baseDtype } : {}),
        out: outDtype,
      });
    }
    if (pair.rows) {
      const extrapolatedRows = extrapolate ? sharedRows : 0;
      compatibility.resized.push({
        tensor: name,
        alignedRows: pair.rows.aligned,
        baseRows: pair.rows.base,
        extrapolatedRows,
        copiedRows: pair.rows.aligned - extrapolatedRows,
      });
    }
  }
  if (unselected.length > 0) throw alignedOnlyError(unselected, aligned, base);
  if (tensors.length === 0) throw new UsageError(`${aligned.storage.location}: no tensor left for the output (--drop)`);
  return { tensors, compatibility };
}

function alignedOnlyError(unselected: TensorPair[], aligned: Checkpoint, base: Checkpoint): UsageError {
  const names = unselected.map((p) => p.aligned.tensor.name);
  const first = unselected[0] as TensorPair;
  const more = names.length - 1;
  const others = names.slice(1, 6).join(", ") + (more > 5 ? ", …" : "");
  // Suggest one glob: the name itself, or the leading dotted prefix the names share (v_head.summary.*).
  const prefix = names.reduce(
    (p, n) => {
      while (!n.startsWith(p)) p = p.slice(0, p.lastIndexOf(".", p.length - 2) + 1);
      return p;
    },
    names[0]?.slice(0, (names[0]?.lastIndexOf(".") ?? -1) + 1) ?? "",
  );
  const glob = more === 0 ? `'${names[0]}'` : prefix.length > 0 ? `'${prefix}*'` : "GLOB";
  return new UsageError(
    `${aligned.storage.location}/${first.aligned.shard.file}: tensor ${names[0]}${more > 0 ? ` and ${more} more (${others})` : ""}: only in the aligned checkpoint, not in base ${base.storage.location}; use --exclude ${glob} to copy from aligned or --drop ${glob} to leave out`,
  );
}

function uniqueGroups(groups: string[][]): string[][] {
  const seen = new Set<string>();
  return groups.filter((g) => {
    const key = JSON.stringify([...g].sort());
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
