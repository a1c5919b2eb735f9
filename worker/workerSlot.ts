// A slot of a worker: one set of unit buffers and a chain of leases run on them, one unit after another —
// this unit, then the next ones its Complete replies grant (one round trip per unit) — until a reply has no
// unit for it or the worker no longer wants more.
import type { LeaseReply } from "../core/leaseService.js";
import type { UnitBuffers } from "../engine/unitBuffers.js";
import type { JobStorage } from "./openJobStorage.js";
import { type HeldLease, type LeaseContext, runLease } from "./runLease.js";

/** How a slot's chain ended: nothing more for it, or the coordinator's word that the job is over. */
export type SlotEnd = { kind: "idle" } | { kind: "done" } | { kind: "failed"; error: string };

export class WorkerSlot {
  private holding?: HeldLease;

  constructor(
    private readonly ctx: LeaseContext,
    private readonly storage: JobStorage,
    private readonly buffers: UnitBuffers,
  ) {}

  /** The lease the slot is working on, if any (the worker releases it when it cannot wait any longer). */
  get current(): HeldLease | undefined {
    return this.holding;
  }

  /**
   * Runs `first` and the leases that follow it while `wantMore()` says so; a unit granted when it no longer
   * does is handed back at once. Rejects only when the coordinator cannot be reached any more.
   */
  async run(first: HeldLease, wantMore: () => boolean): Promise<SlotEnd> {
    const io = { ...this.storage, buffers: this.buffers };
    let lease: HeldLease | undefined = first;
    try {
      while (lease) {
        this.holding = lease;
        const next: LeaseReply | undefined = await runLease(this.ctx, lease, io, wantMore());
        this.holding = undefined;
        lease = undefined;
        if (next?.kind === "done") return { kind: "done" };
        if (next?.kind === "failed") return { kind: "failed", error: next.error };
        if (next?.kind !== "unit") return { kind: "idle" };
        if (wantMore()) lease = next;
        else
          await this.ctx.service.fail({
            workerId: this.ctx.workerId,
            leaseId: next.leaseId,
            error: "worker stopping",
            retryable: true,
          });
      }
      return { kind: "idle" };
    } finally {
      this.holding = undefined;
    }
  }
}
