import type { WorkUnit } from "../core/plan.js";
import type { Storage } from "../storage/types.js";
import { settleAll } from "./settleAll.js";
import type { UnitBuffers } from "./unitBuffers.js";

/** One ranged read of the aligned bytes and one per coalesced base range, all in parallel, all settled. */
export async function fetchUnit(unit: WorkUnit, aligned: Storage, base: Storage, buffers: UnitBuffers): Promise<void> {
  await settleAll([
    aligned.readRange(unit.shard, unit.alignedOffset, unit.dataEnd - unit.dataStart, buffers.aligned, 0),
    ...unit.baseReads.map((r) => base.readRange(r.file, r.offset, r.length, buffers.base, r.bufferOffset)),
  ]);
}
