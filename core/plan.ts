// The plan: what the coordinator hands to workers, one unit at a time. Plain data, but for its units, which are kept
// packed (workUnits.ts) and cross a process boundary one by one.
//
// Units are byte ranges of the OUTPUT shards (multipart parts). Each unit lists the aligned and base
// byte ranges it reads and, per segment (a piece of one tensor), where its elements sit in the unit's
// aligned, base and output buffers and in which dtype each is stored. Where no dtype changes, the aligned
// reads land at the output's offsets, so one α is computed in place; when the output is laid out as the
// aligned checkpoint (the usual safetensors case) that is exactly one aligned read per unit.
import type { WorkUnit } from "./workUnit.js";
import type { WorkUnits } from "./workUnits.js";

export type { RangeRead, SegmentAction, UnitSegment, WorkUnit } from "./workUnit.js";

export interface OutputShard {
  file: string;
  /** Serialized safetensors header (8-byte length + padded JSON) of this output's shard. */
  header: Buffer;
  size: number;
}

export interface OutputPlan {
  location: string;
  alpha: number;
  shards: OutputShard[];
}

/** A tensor of an output shard: output dtype, data-relative byte range. */
export interface OutputTensor {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface ShardPlan {
  /** The output shard file. */
  file: string;
  /** Its tensors in data order. */
  tensors: OutputTensor[];
  /** Bytes of the output shard's data section. */
  dataLength: number;
  unitIds: number[];
}

/** Where the output's tensors live: the index written at commit (or one model.safetensors). */
export interface OutputLayout {
  /** true: model.safetensors.index.json is written (last, the commit point); false: one model.safetensors. */
  indexed: boolean;
  /** Index metadata carried from the aligned checkpoint's index (total_size is set at commit). */
  indexMetadata: Record<string, unknown>;
  weightMap: Record<string, string>;
  /** Bytes of every output tensor (the index's total_size). */
  totalSize: number;
  /** The output has the aligned checkpoint's shards, tensor order and data offsets. */
  sameAsAligned: boolean;
}

export type CheckpointFormat = "safetensors" | "torch";

/** What differs between the two checkpoints and how the job handles it: `plan` prints it, the report keeps it. */
export interface Compatibility {
  formats: { base: CheckpointFormat; aligned: CheckpointFormat };
  /** Tensors whose base or output dtype differs from the aligned dtype. */
  dtypes: Array<{ tensor: string; aligned: string; base?: string; out: string }>;
  /** Vocabulary-indexed tensors whose first dimension differs (configs' vocab_size differ). */
  resized: Array<{
    tensor: string;
    alignedRows: number;
    baseRows: number;
    extrapolatedRows: number;
    copiedRows: number;
  }>;
  /** Float tensors copied from aligned by --include, --exclude or an α = 0 rule. */
  excluded: string[];
  /** Aligned tensors left out of the output by --drop. */
  dropped: string[];
  /** Tensors only in aligned, copied (selected by --exclude or --include). */
  alignedOnly: string[];
  /** Tensors only in base (e.g. a tied lm_head the aligned model does not store): skipped. */
  baseOnly: string[];
  /** Groups of tensors of one input that share their bytes (tied weights in a .bin); each written on its own. */
  tied: string[][];
}

export interface JobPlan {
  outputs: OutputPlan[];
  shards: ShardPlan[];
  units: WorkUnits;
  layout: OutputLayout;
  /** The effective unit size after the object-store limits were applied. */
  unitSize: number;
  /** Largest output range, aligned buffer and base buffer of any unit: what a worker's buffers must hold. */
  maxUnitBytes: number;
  maxAlignedBytes: number;
  maxBaseBytes: number;
  /** Every unit is computed in place (with one α the output buffer is the aligned buffer). */
  inPlace: boolean;
  bytes: { alignedRead: number; baseRead: number; writtenPerOutput: number };
  /** Input versions recorded at planning: every read is pinned to them. */
  inputVersions: { base: Record<string, string>; aligned: Record<string, string> };
  tensors: { extrapolated: number; copied: number };
  compatibility: Compatibility;
}

/** Output file offset where a unit's part starts (part 1 starts at 0 and carries the header). */
export function partOffset(unit: WorkUnit, shard: OutputShard): number {
  return unit.partNumber === 1 ? 0 : shard.header.length + unit.dataStart;
}
