import type { WorkUnit } from "../core/plan.js";
import { settleAll } from "../core/settleAll.js";
import type { Storage } from "../storage/types.js";
import type { UnitBuffers } from "./unitBuffers.js";

/** The unit's coalesced aligned and base reads, all in parallel (one aligned read where the layout is kept), all settled. */
export async function fetchUnit(unit: WorkUnit, aligned: Storage, base: Storage, buffers: UnitBuffers): Promise<void> {
  await settleAll([
    ...unit.alignedReads.map((r) => aligned.readRange(r.file, r.offset, r.length, buffers.aligned, r.bufferOffset)),
    ...unit.baseReads.map((r) => base.readRange(r.file, r.offset, r.length, buffers.base, r.bufferOffset)),
  ]);
}
