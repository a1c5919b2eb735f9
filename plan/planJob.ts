// Plans a job: decides per tensor (decideTensors), lays out the output (layoutOutput), cuts every output
// shard's data section into byte-range units on element boundaries (multipart parts), and lists per unit
// the aligned and base byte ranges it reads and where each segment sits in the aligned, base and output
// buffers. With the aligned layout kept, a unit is exactly one aligned read computed in place.

import type { Pairing } from "../checkpoint/pairTensors.js";
import { serializeHeader } from "../checkpoint/serializeHeader.js";
import type { Checkpoint, Shard, TensorInfo } from "../checkpoint/types.js";
import { ITEMSIZE } from "../core/dtypes.js";
import { UsageError } from "../core/errors.js";
import type { JobSpec } from "../core/jobSpec.js";
import type { JobPlan, OutputPlan, ShardPlan, UnitSegment, WorkUnit } from "../core/plan.js";
import { TOOL } from "../core/tool.js";
import { WorkUnitsBuilder } from "../core/workUnits.js";
import type { StorageLimits } from "../storage/types.js";
import { coalesceReads, type WantedRange } from "./coalesceReads.js";
import { type AlignedOnlyPolicy, decideTensors } from "./decideTensors.js";
import { layoutOutput, type OutputShardLayout, type PlacedTensor } from "./layoutOutput.js";
import { placeReads } from "./placeReads.js";

export interface PlanInput {
  spec: JobSpec;
  aligned: Checkpoint;
  base: Checkpoint;
  pairing: Pairing;
  limits: StorageLimits;
  /** Tensors only in aligned that no glob selects: refused (default) or left out (stats). */
  alignedOnly?: AlignedOnlyPolicy;
}

/** Input ranges this close together are read as one (a zip entry's local header lies between two storages). */
const READ_GAP = 4096;

export function planJob({ spec, aligned, base, pairing, limits, alignedOnly }: PlanInput): JobPlan {
  const { tensors, compatibility } = decideTensors(spec, aligned, base, pairing, alignedOnly);
  const { shards: layouts, layout } = layoutOutput(aligned, tensors);
  const outputs: OutputPlan[] = spec.outs.map((location, k) => ({
    location,
    alpha: spec.alphas[k] as number,
    shards: layouts.map((s) => {
      const header = serializeHeader(
        s.tensors.map((t) => t.info),
        outputMetadata(s.source, aligned.format === "torch", spec, k, aligned, base),
      );
      return { file: s.file, header, size: header.length + s.dataLength };
    }),
  }));
  const units = new WorkUnitsBuilder();
  const totals = { maxUnitBytes: 0, maxAlignedBytes: 0, maxBaseBytes: 0, alignedRead: 0, baseRead: 0, inPlace: true };
  const shards: ShardPlan[] = [];
  let unitSize = spec.unitSize;
  for (const [i, shard] of layouts.entries()) {
    const headerLength = Math.max(0, ...outputs.map((o) => o.shards[i]?.header.length ?? 0));
    const size = shardUnitSize(shard, headerLength, spec.unitSize, limits);
    unitSize = Math.max(unitSize, size);
    const unitIds: number[] = [];
    const infos = shard.tensors.map((t) => t.info);
    for (const [start, end] of cutShard(infos, shard.dataLength, size)) {
      const unit = buildUnit(units.length, shard, unitIds.length + 1, start, end);
      units.add(unit);
      unitIds.push(unit.id);
      totals.maxUnitBytes = Math.max(totals.maxUnitBytes, end - start);
      totals.maxAlignedBytes = Math.max(totals.maxAlignedBytes, unit.alignedLength);
      totals.maxBaseBytes = Math.max(totals.maxBaseBytes, unit.baseLength);
      totals.alignedRead += unit.alignedLength;
      totals.baseRead += unit.baseLength;
      totals.inPlace &&= unit.inPlace;
    }
    shards.push({ file: shard.file, tensors: infos, dataLength: shard.dataLength, unitIds });
  }
  const extrapolated = tensors.filter((t) => t.action === "extrapolate").length;
  return {
    outputs,
    shards,
    units: units.build(),
    layout,
    unitSize,
    maxUnitBytes: totals.maxUnitBytes,
    maxAlignedBytes: totals.maxAlignedBytes,
    maxBaseBytes: totals.maxBaseBytes,
    inPlace: totals.inPlace,
    bytes: {
      alignedRead: totals.alignedRead,
      baseRead: totals.baseRead,
      writtenPerOutput: outputs[0]?.shards.reduce((n, s) => n + s.size, 0) ?? 0,
    },
    tensors: { extrapolated, copied: tensors.length - extrapolated },
    inputVersions: {
      base: Object.fromEntries(base.shards.map((s) => [s.file, s.etag])),
      aligned: Object.fromEntries(aligned.shards.map((s) => [s.file, s.etag])),
    },
    compatibility,
  };
}

function outputMetadata(
  source: Shard,
  fromTorch: boolean,
  spec: JobSpec,
  k: number,
  aligned: Checkpoint,
  base: Checkpoint,
) {
  const meta: Record<string, string> = {
    // transformers refuses safetensors shards whose metadata has no format; save_pretrained writes "pt".
    ...(fromTorch ? { format: "pt" } : source.metadata),
    "expo.alpha": String(spec.alphas[k]),
    "expo.arith": spec.arith,
    "expo.base": base.storage.location,
    "expo.aligned": aligned.storage.location,
    "expo.tool": `${TOOL.name} ${TOOL.version}`,
  };
  if (spec.alphaRules.length > 0) meta["expo.alpha_rules"] = JSON.stringify(spec.alphaRules);
  if (spec.include.length > 0) meta["expo.include"] = JSON.stringify(spec.include);
  if (spec.exclude.length > 0) meta["expo.exclude"] = JSON.stringify(spec.exclude);
  if (spec.drop.length > 0) meta["expo.drop"] = JSON.stringify(spec.drop);
  if (spec.outDtype) meta["expo.out_dtype"] = spec.outDtype;
  return meta;
}

/** The unit size for one output shard within the object store's part size and part count limits. */
function shardUnitSize(
  shard: OutputShardLayout,
  headerLength: number,
  requested: number,
  limits: StorageLimits,
): number {
  let size = Math.max(requested, limits.minPartSize);
  if (Math.ceil(shard.dataLength / size) > limits.maxParts) size = Math.ceil(shard.dataLength / limits.maxParts);
  // Part 1 also carries the header, and cuts round up by less than one element.
  if (size + headerLength + 8 > limits.maxPartSize) {
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

function buildUnit(id: number, shard: OutputShardLayout, partNumber: number, start: number, end: number): WorkUnit {
  const segments: UnitSegment[] = [];
  const alignedWanted: Array<{ segment: UnitSegment; range: WantedRange }> = [];
  const baseWanted: Array<{ segment: UnitSegment; range: WantedRange }> = [];
  const add = (t: PlacedTensor, e0: number, e1: number, extrapolate: boolean) => {
    if (e1 <= e0) return;
    const { decision, info } = t;
    const a = decision.aligned;
    const aItem = ITEMSIZE[a.tensor.dtype] as number;
    const outItem = ITEMSIZE[info.dtype] as number;
    const baseDtype = extrapolate ? (decision.base?.tensor.dtype as string) : a.tensor.dtype;
    const segment: UnitSegment = {
      tensor: info.name,
      action: extrapolate ? "extrapolate" : info.dtype === a.tensor.dtype ? "copy" : "convert",
      dtype: a.tensor.dtype,
      baseDtype,
      outDtype: info.dtype,
      elemStart: e0,
      count: e1 - e0,
      offset: info.begin + e0 * outItem - start,
      alignedOffset: 0,
      baseOffset: -1,
      alphas: extrapolate ? decision.alphas : [],
    };
    segments.push(segment);
    const file = a.shard.file;
    alignedWanted.push({
      segment,
      range: {
        file,
        offset: a.shard.dataStart + a.tensor.begin + e0 * aItem,
        length: (e1 - e0) * aItem,
        bufferOffset: 0,
      },
    });
    if (extrapolate) {
      const b = decision.base as NonNullable<typeof decision.base>;
      const bItem = ITEMSIZE[baseDtype] as number;
      baseWanted.push({
        segment,
        range: {
          file: b.shard.file,
          offset: b.shard.dataStart + b.tensor.begin + e0 * bItem,
          length: (e1 - e0) * bItem,
          bufferOffset: 0,
        },
      });
    }
  };
  // Tensors are sorted by offset and tile the data section: start at the first one that ends after `start`
  // (a scan of every tensor per unit is quadratic in shards of thousands of tensors).
  for (let i = firstEndingAfter(shard.tensors, start); i < shard.tensors.length; i++) {
    const t = shard.tensors[i] as PlacedTensor;
    const { info, decision } = t;
    if (info.begin >= end) break;
    if (info.end <= start || info.begin === info.end) continue;
    const item = ITEMSIZE[info.dtype] as number;
    const e0 = (Math.max(info.begin, start) - info.begin) / item;
    const e1 = (Math.min(info.end, end) - info.begin) / item;
    // Rows with base values are extrapolated, the rest (rows only in aligned) copied.
    const shared = decision.sharedElems;
    add(t, e0, Math.min(e1, shared), decision.action === "extrapolate");
    add(t, Math.max(e0, shared), e1, false);
  }
  // Where no segment changes dtype, each aligned range is read straight to its output position (in place);
  // otherwise ranges are packed into the aligned buffer and the kernel writes a separate output buffer.
  const sameDtypes = segments.every((s) => s.dtype === s.outDtype);
  if (sameDtypes) for (const w of alignedWanted) w.range.bufferOffset = w.segment.offset;
  const aligned = sameDtypes
    ? { reads: placeReads(alignedWanted.map((w) => w.range)), length: end - start }
    : coalesceReads(
        alignedWanted.map((w) => w.range),
        READ_GAP,
      );
  for (const w of alignedWanted) w.segment.alignedOffset = w.range.bufferOffset;
  const based = coalesceReads(
    baseWanted.map((w) => w.range),
    READ_GAP,
  );
  for (const w of baseWanted) w.segment.baseOffset = w.range.bufferOffset;
  const inPlace = sameDtypes;
  return {
    id,
    shard: shard.file,
    partNumber,
    dataStart: start,
    dataEnd: end,
    alignedReads: aligned.reads,
    alignedLength: aligned.length,
    baseReads: based.reads,
    baseLength: based.length,
    inPlace,
    segments,
  };
}

/** Index of the first tensor whose data ends after `offset` (tensors sorted by offset). */
function firstEndingAfter(tensors: readonly PlacedTensor[], offset: number): number {
  let lo = 0;
  let hi = tensors.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((tensors[mid] as PlacedTensor).info.end <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
