import type { RangeRead } from "../core/plan.js";

/** A byte range a segment needs from an input file; `bufferOffset` is filled in by coalesceReads. */
export interface WantedRange {
  file: string;
  offset: number;
  length: number;
  bufferOffset: number;
}

/**
 * Ranges that touch, overlap (tied weights) or lie within `gap` bytes of each other (a zip entry's local
 * header between two storages) become one read; each wanted range learns where its bytes land in the
 * unit's buffer. Returns the reads and the buffer length.
 */
export function coalesceReads(wanted: WantedRange[], gap: number): { reads: RangeRead[]; length: number } {
  const order = [...wanted].sort((x, y) => (x.file < y.file ? -1 : x.file > y.file ? 1 : x.offset - y.offset));
  const reads: RangeRead[] = [];
  let length = 0;
  for (const w of order) {
    const last = reads[reads.length - 1];
    if (last && last.file === w.file && w.offset <= last.offset + last.length + gap) {
      const end = Math.max(last.offset + last.length, w.offset + w.length);
      length += end - (last.offset + last.length);
      last.length = end - last.offset;
      w.bufferOffset = last.bufferOffset + (w.offset - last.offset);
    } else {
      reads.push({ file: w.file, offset: w.offset, length: w.length, bufferOffset: length });
      w.bufferOffset = length;
      length += w.length;
    }
  }
  return { reads, length };
}
