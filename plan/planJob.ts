// Plans a job: cuts every aligned shard's data section into byte-range units on element
// boundaries, decides per tensor whether it is extrapolated (and with which alphas) or copied, and
// finds each segment's base bytes through the base checkpoint's own layout.

import type { TensorPair } from "../checkpoint/pairTensors.js";
import { serializeHeader } from "../checkpoint/serializeHeader.js";
import type { Checkpoint, Shard, TensorInfo } from "../checkpoint/types.js";
import { ITEMSIZE, isExtrapolatedDtype } from "../core/dtypes.js";
import { UsageError } from "../core/errors.js";
import type { JobSpec } from "../core/jobSpec.js";
import type { BaseRead, JobPlan, OutputPlan, ShardPlan, UnitSegment, WorkUnit } from "../core/plan.js";
import { TOOL } from "../core/tool.js";
import type { StorageLimits } from "../storage/types.js";
import { compileGlob } from "./matchGlob.js";

export interface PlanInput {
  spec: JobSpec;
  aligned: Checkpoint;
  base: Checkpoint;
  pairs: Map<string, TensorPair>;
  limits: StorageLimits;
}

interface TensorAction {
  action: "extrapolate" | "copy";
  alphas: number[];
}

export function planJob({ spec, aligned, base, pairs, limits }: PlanInput): JobPlan {
  const decide = tensorActions(spec);
  const outputs: OutputPlan[] = spec.outs.map((location, k) => ({
    location,
    alpha: spec.alphas[k] as number,
    shards: aligned.shards.map((s) => {
      const header = serializeHeader(s.tensors, outputMetadata(s, spec, k, aligned, base));
      return { file: s.file, header, size: header.length + s.dataLength };
    }),
  }));
  const units: WorkUnit[] = [];
  const shards: ShardPlan[] = [];
  let unitSize = spec.unitSize;
  const actions = new Map<string, TensorAction>();
  for (const name of aligned.tensors.keys())
    actions.set(name, decide(name, aligned.tensors.get(name)?.tensor.dtype ?? ""));
  let baseRead = 0;
  let maxUnitBytes = 0;
  let maxBaseBytes = 0;
  for (const shard of aligned.shards) {
    const size = shardUnitSize(shard, spec.unitSize, limits);
    unitSize = Math.max(unitSize, size);
    const unitIds: number[] = [];
    for (const [start, end] of cutShard(shard.tensors, shard.dataLength, size)) {
      const unit = buildUnit(units.length, shard, unitIds.length + 1, start, end, actions, pairs);
      units.push(unit);
      unitIds.push(unit.id);
      baseRead += unit.baseLength;
      maxUnitBytes = Math.max(maxUnitBytes, end - start);
      maxBaseBytes = Math.max(maxBaseBytes, unit.baseLength);
    }
    shards.push({ file: shard.file, alignedDataStart: shard.dataStart, dataLength: shard.dataLength, unitIds });
  }
  const alignedRead = aligned.shards.reduce((n, s) => n + s.dataLength, 0);
  const extrapolated = [...actions.values()].filter((a) => a.action === "extrapolate").length;
  return {
    outputs,
    shards,
    units,
    unitSize,
    maxUnitBytes,
    maxBaseBytes,
    bytes: { alignedRead, baseRead, writtenPerOutput: outputs[0]?.shards.reduce((n, s) => n + s.size, 0) ?? 0 },
    tensors: { extrapolated, copied: actions.size - extrapolated },
    inputVersions: {
      base: Object.fromEntries(base.shards.map((s) => [s.file, s.etag])),
      aligned: Object.fromEntries(aligned.shards.map((s) => [s.file, s.etag])),
    },
  };
}

function tensorActions(spec: JobSpec): (name: string, dtype: string) => TensorAction {
  const include = spec.include.map(compileGlob);
  const exclude = spec.exclude.map(compileGlob);
  const rules = spec.alphaRules.map((r) => ({ re: compileGlob(r.pattern), alpha: r.alpha }));
  const copy: TensorAction = { action: "copy", alphas: [] };
  return (name, dtype) => {
    if (!isExtrapolatedDtype(dtype)) return copy;
    if (include.length > 0 && !include.some((re) => re.test(name))) return copy;
    if (exclude.some((re) => re.test(name))) return copy;
    const rule = rules.find((r) => r.re.test(name));
    if (rule) return rule.alpha === 0 ? copy : { action: "extrapolate", alphas: spec.alphas.map(() => rule.alpha) };
    return { action: "extrapolate", alphas: [...spec.alphas] };
  };
}

function outputMetadata(shard: Shard, spec: JobSpec, k: number, aligned: Checkpoint, base: Checkpoint) {
  const meta: Record<string, string> = {
    ...shard.metadata,
    "expo.alpha": String(spec.alphas[k]),
    "expo.arith": spec.arith,
    "expo.base": base.storage.location,
    "expo.aligned": aligned.storage.location,
    "expo.tool": `${TOOL.name} ${TOOL.version}`,
  };
  if (spec.alphaRules.length > 0) meta["expo.alpha_rules"] = JSON.stringify(spec.alphaRules);
  if (spec.include.length > 0) meta["expo.include"] = JSON.stringify(spec.include);
  if (spec.exclude.length > 0) meta["expo.exclude"] = JSON.stringify(spec.exclude);
  return meta;
}

/** The unit size for one shard within the object store's part size and part count limits. */
function shardUnitSize(shard: Shard, requested: number, limits: StorageLimits): number {
  let size = Math.max(requested, limits.minPartSize);
  if (Math.ceil(shard.dataLength / size) > limits.maxParts) size = Math.ceil(shard.dataLength / limits.maxParts);
  // Part 1 also carries the header, and cuts round up by less than one element.
  if (size + shard.headerLength + 4096 + 8 > limits.maxPartSize) {
    throw new UsageError(
      `${shard.file}: ${shard.dataLength} bytes cannot be split into at most ${limits.maxParts} parts of at most ${limits.maxPartSize} bytes`,
    );
  }
  return size;
}

/** Data-relative [start, end) ranges of at least `size` bytes (but the last), cut on element boundaries. */
export function cutShard(tensors: readonly TensorInfo[], dataLength: number, size: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let start = 0;
  let t = 0;
  while (start < dataLength) {
    let cut = start + size;
    if (cut >= dataLength) {
      ranges.push([start, dataLength]);
      break;
    }
    while ((tensors[t] as TensorInfo).end <= cut) t++;
    const tensor = tensors[t] as TensorInfo;
    if (cut > tensor.begin) {
      const item = ITEMSIZE[tensor.dtype] as number;
      cut = tensor.begin + Math.ceil((cut - tensor.begin) / item) * item;
    }
    ranges.push([start, cut]);
    start = cut;
  }
  return ranges;
}

function buildUnit(
  id: number,
  shard: Shard,
  partNumber: number,
  start: number,
  end: number,
  actions: Map<string, TensorAction>,
  pairs: Map<string, TensorPair>,
): WorkUnit {
  const segments: UnitSegment[] = [];
  const wanted: Array<{ segment: UnitSegment; file: string; offset: number; length: number }> = [];
  // Tensors are sorted by offset and tile the data section: start at the first one that ends after `start`
  // (a scan of every tensor per unit is quadratic in shards of thousands of tensors).
  for (let i = firstEndingAfter(shard.tensors, start); i < shard.tensors.length; i++) {
    const t = shard.tensors[i] as TensorInfo;
    if (t.begin >= end) break;
    if (t.end <= start || t.begin === t.end) continue;
    const item = ITEMSIZE[t.dtype] as number;
    const from = Math.max(t.begin, start);
    const to = Math.min(t.end, end);
    const { action, alphas } = actions.get(t.name) as TensorAction;
    const segment: UnitSegment = {
      tensor: t.name,
      dtype: t.dtype,
      action,
      elemStart: (from - t.begin) / item,
      count: (to - from) / item,
      offset: from - start,
      baseOffset: -1,
      alphas,
    };
    segments.push(segment);
    if (action === "extrapolate") {
      const b = (pairs.get(t.name) as TensorPair).base;
      wanted.push({
        segment,
        file: b.shard.file,
        offset: b.shard.dataStart + b.tensor.begin + (from - t.begin),
        length: to - from,
      });
    }
  }
  // Coalesce: sort by file and offset, merge exactly adjacent ranges into one read.
  wanted.sort((x, y) => (x.file < y.file ? -1 : x.file > y.file ? 1 : x.offset - y.offset));
  const baseReads: BaseRead[] = [];
  let baseLength = 0;
  for (const w of wanted) {
    const last = baseReads[baseReads.length - 1];
    if (last && last.file === w.file && last.offset + last.length === w.offset) {
      last.length += w.length;
    } else {
      baseReads.push({ file: w.file, offset: w.offset, length: w.length, bufferOffset: baseLength });
    }
    w.segment.baseOffset = baseLength;
    baseLength += w.length;
  }
  return {
    id,
    shard: shard.file,
    partNumber,
    dataStart: start,
    dataEnd: end,
    alignedOffset: shard.dataStart + start,
    segments,
    baseReads,
    baseLength,
  };
}

/** Index of the first tensor whose data ends after `offset` (tensors sorted by offset). */
function firstEndingAfter(tensors: readonly TensorInfo[], offset: number): number {
  let lo = 0;
  let hi = tensors.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((tensors[mid] as TensorInfo).end <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
