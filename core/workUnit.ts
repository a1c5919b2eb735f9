// A work unit as a worker receives it: one part of an output shard, the byte ranges it reads and its segments.

/**
 * extrapolate: out = f(aligned, base); copy: the aligned bytes as they are (same dtype);
 * convert: the aligned values rounded to outDtype (a copied float tensor whose dtype changes).
 */
export type SegmentAction = "extrapolate" | "copy" | "convert";

export interface UnitSegment {
  tensor: string;
  action: SegmentAction;
  /** Dtype of the aligned input. */
  dtype: string;
  /** Dtype of the base input (extrapolate; otherwise equal to dtype). */
  baseDtype: string;
  /** Dtype written to the output. */
  outDtype: string;
  /** First element of the tensor in this segment, and how many. */
  elemStart: number;
  count: number;
  /** Byte offset of the segment in the unit's output buffer. */
  offset: number;
  /** Byte offset of the segment in the unit's aligned buffer. */
  alignedOffset: number;
  /** Byte offset of the segment's base data in the unit's base buffer (-1 unless extrapolated). */
  baseOffset: number;
  /** Alpha per output (empty unless extrapolated). */
  alphas: number[];
}

/** One ranged read of an input file into a unit's buffer; nearby ranges share one read. */
export interface RangeRead {
  file: string;
  /** Absolute byte offset in the input file. */
  offset: number;
  length: number;
  bufferOffset: number;
}

export interface WorkUnit {
  id: number;
  /** The output shard file this unit is a part of. */
  shard: string;
  partNumber: number;
  /** Data-relative byte range of the output shard. */
  dataStart: number;
  dataEnd: number;
  alignedReads: RangeRead[];
  /** Bytes of the aligned buffer (the reads, with the small gaps between them read along). */
  alignedLength: number;
  baseReads: RangeRead[];
  /** Bytes of the base buffer. */
  baseLength: number;
  /** The aligned buffer holds the output's layout and dtypes (each read lands at its output offset): with one α, in place. */
  inPlace: boolean;
  segments: UnitSegment[];
}
