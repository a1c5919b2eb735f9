import type { RangeRead } from "../core/plan.js";
import type { WantedRange } from "./coalesceReads.js";

/**
 * Reads that land each wanted range at the buffer offset it already has (its place in the output): ranges
 * contiguous both in the file and in the buffer share one read. The buffer then has the output's layout, so
 * the unit is computed in place, whatever gaps (zip headers, dropped tensors) lie between them in the file.
 */
export function placeReads(wanted: readonly WantedRange[]): RangeRead[] {
  const order = [...wanted].sort((x, y) => x.bufferOffset - y.bufferOffset);
  const reads: RangeRead[] = [];
  for (const w of order) {
    const last = reads[reads.length - 1];
    if (
      last &&
      last.file === w.file &&
      last.offset + last.length === w.offset &&
      last.bufferOffset + last.length === w.bufferOffset
    ) {
      last.length += w.length;
    } else {
      reads.push({ file: w.file, offset: w.offset, length: w.length, bufferOffset: w.bufferOffset });
    }
  }
  return reads;
}
