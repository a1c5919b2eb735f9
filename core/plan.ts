// The plan: what the coordinator hands to workers. Plain data, so it can cross a process boundary.

export interface UnitSegment {
  tensor: string;
  dtype: string;
  action: "extrapolate" | "copy";
  /** First element of the tensor in this segment, and how many. */
  elemStart: number;
  count: number;
  /** Byte offset of the segment in the unit's aligned (and output) buffer. */
  offset: number;
  /** Byte offset of the segment's base data in the unit's base buffer (-1 when copied). */
  baseOffset: number;
  /** Alpha per output (empty when copied). */
  alphas: number[];
}

/** One ranged read of the base checkpoint; adjacent segments share one read. */
export interface BaseRead {
  file: string;
  /** Absolute byte offset in the base shard file. */
  offset: number;
  length: number;
  bufferOffset: number;
}

export interface WorkUnit {
  id: number;
  /** The aligned shard file, which is also the output shard file name. */
  shard: string;
  partNumber: number;
  /** Data-relative byte range of the output (and aligned) shard. */
  dataStart: number;
  dataEnd: number;
  /** Absolute offset of dataStart in the aligned shard file: one ranged read covers the unit. */
  alignedOffset: number;
  segments: UnitSegment[];
  baseReads: BaseRead[];
  /** Bytes of the base buffer (sum of baseReads). */
  baseLength: number;
}

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

export interface ShardPlan {
  file: string;
  /** Aligned shard's data start (8 + N) and data length. */
  alignedDataStart: number;
  dataLength: number;
  unitIds: number[];
}

export interface JobPlan {
  outputs: OutputPlan[];
  shards: ShardPlan[];
  units: WorkUnit[];
  /** The effective unit size after the object-store limits were applied. */
  unitSize: number;
  /** Largest aligned range and base buffer of any unit: what a worker's buffers must hold. */
  maxUnitBytes: number;
  maxBaseBytes: number;
  bytes: { alignedRead: number; baseRead: number; writtenPerOutput: number };
  /** Input versions recorded at planning: every read is pinned to them. */
  inputVersions: { base: Record<string, string>; aligned: Record<string, string> };
  tensors: { extrapolated: number; copied: number };
}

/** Output file offset where a unit's part starts (part 1 starts at 0 and carries the header). */
export function partOffset(unit: WorkUnit, shard: OutputShard): number {
  return unit.partNumber === 1 ? 0 : shard.header.length + unit.dataStart;
}
