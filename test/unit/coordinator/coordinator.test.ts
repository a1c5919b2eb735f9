// The coordinator as its users see it: typed events for accepted, stale and failed work, read-only views of
// its progress, and the lease protocol's answers (a unit, wait, done, failed) as the table moves.
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { Coordinator, type StaleReport } from "../../../coordinator/coordinator.js";
import type { AttemptFailure } from "../../../coordinator/leaseTable.js";
import { jobSpecWith } from "../../../core/jobSpec.js";
import type { UnitReport } from "../../../core/leaseService.js";
import type { WorkUnit } from "../../../core/plan.js";
import { type PreparedJob, prepareJob } from "../../../plan/prepareJob.js";
import { LOCAL_STORAGE } from "../../support/storageSettings.js";
import { tempDir } from "../../support/tempDir.js";
import { writeCheckpoint } from "../../support/writeCheckpoint.js";

const report = (unit: WorkUnit, written = 10): UnitReport => ({
  unitId: unit.id,
  segments: [],
  parts: [],
  bytes: { aligned: unit.dataEnd - unit.dataStart, base: unit.baseLength, written },
  seconds: { fetch: 0, compute: 0, upload: 0 },
});

describe("coordinator", () => {
  let root: string;
  let n = 0;
  const job = (): Promise<PreparedJob> =>
    prepareJob(
      jobSpecWith({
        base: join(root, "sft"),
        aligned: join(root, "dpo"),
        alphas: [0.3],
        outs: [join(root, `out-${++n}`)],
        unitSize: 512,
      }),
      { storage: LOCAL_STORAGE, forWriting: true },
    );

  before(async () => {
    root = await tempDir();
    const tensors = [{ name: "w", dtype: "BF16", shape: [32, 32] }];
    await writeCheckpoint(join(root, "sft"), { "model.safetensors": tensors });
    await writeCheckpoint(join(root, "dpo"), { "model.safetensors": tensors });
  });

  it("emits what it accepts and what it ignores, and keeps its books to itself", async () => {
    const j = await job();
    const c = new Coordinator(j.spec, j.plan, j.outputs, { jobId: "t", leaseTtlMs: 60_000, maxAttempts: 2 });
    const accepted: UnitReport[] = [];
    const stale: StaleReport[] = [];
    const failed: AttemptFailure[] = [];
    c.on("unit", (r) => accepted.push(r));
    c.on("stale", (s) => stale.push(s));
    c.on("attemptFailed", (f) => failed.push(f));
    await c.start();
    const units = j.plan.units.length;
    assert.equal(units, 4);
    assert.deepEqual(c.unitCounts(), { pending: units, leased: 0, done: 0, failed: 0 });

    const first = await c.lease("w1");
    assert.equal(first.kind, "unit");
    if (first.kind !== "unit") return;
    const r = await c.complete({ workerId: "w1", leaseId: first.leaseId, report: report(first.unit), leaseNext: true });
    assert.equal(r.accepted, true);
    assert.equal(r.next?.kind, "unit", "the next lease comes with the Complete");
    assert.deepEqual(
      accepted.map((a) => a.unitId),
      [first.unit.id],
    );
    // A second Complete of the same lease: stale, ignored, reported as such.
    const again = await c.complete({
      workerId: "w2",
      leaseId: first.leaseId,
      report: report(first.unit),
      leaseNext: false,
    });
    assert.deepEqual(again, { accepted: false });
    assert.deepEqual(stale, [{ unitId: first.unit.id, leaseId: first.leaseId, workerId: "w2" }]);

    const progress = c.progress();
    progress.unitsDone = 99;
    assert.equal(c.progress().unitsDone, 1, "progress() is a copy");
    assert.equal(c.progress().bytesWritten, 10);
    const counts = c.unitCounts();
    (counts as { done: number }).done = 99;
    assert.equal(c.unitCounts().done, 1, "unitCounts() is a copy");

    // A retryable failure requeues the unit; its second failure fails the job (max attempts 2).
    const held = r.next;
    if (held?.kind !== "unit") return;
    assert.equal(await c.fail({ workerId: "w1", leaseId: held.leaseId, error: "disk", retryable: true }), true);
    let retry = await c.lease("w1");
    while (retry.kind === "unit" && retry.unit.id !== held.unit.id) retry = await c.lease("w1");
    if (retry.kind !== "unit") return assert.fail("the failed unit came back");
    await c.fail({ workerId: "w1", leaseId: retry.leaseId, error: "disk again", retryable: true });
    assert.deepEqual(
      failed.map((f) => [f.unitId, f.attempt, f.requeued]),
      [
        [held.unit.id, 1, true],
        [held.unit.id, 2, false],
      ],
    );
    assert.match((await c.finished) ?? "", /failed after 2 attempt\(s\): disk again/);
    const after = await c.lease("w3");
    assert.equal(after.kind, "failed", "workers are told the job failed");
    c.close();
    await Promise.all(j.outputs.map((o) => o.close()));
  });

  it("answers done once every unit is in, and says so in its status", async () => {
    const j = await job();
    const c = new Coordinator(j.spec, j.plan, j.outputs, { jobId: "t2", leaseTtlMs: 60_000, maxAttempts: 3 });
    await c.start();
    for (;;) {
      const l = await c.lease("w");
      if (l.kind !== "unit") break;
      await c.complete({ workerId: "w", leaseId: l.leaseId, report: report(l.unit, 0), leaseNext: false });
    }
    assert.equal(await c.finished, undefined);
    assert.deepEqual(await c.lease("w"), { kind: "done" });
    const status = c.status();
    assert.deepEqual([status.state, status.units.done, status.units.total, status.workers], ["finalizing", 4, 4, 1]);
    assert.equal(c.reports.size, 4);
    c.setOutcome("done");
    assert.equal(c.state, "done");
    c.close();
    await Promise.all(j.outputs.map((o) => o.close()));
  });

  it("leases nothing while its journal is stalled by a storage outage; a transient failure spends no attempt", async () => {
    const j = await job();
    let stalled = false;
    const journaled: string[] = [];
    const c = new Coordinator(j.spec, j.plan, j.outputs, {
      jobId: "t3",
      leaseTtlMs: 60_000,
      maxAttempts: 1,
      journal: {
        append: async (...records) => {
          journaled.push(...records.map((r) => r.type));
        },
      },
      journalStalled: () => stalled,
    });
    await c.start();
    const held = await c.lease("w");
    assert.equal(held.kind, "unit");
    stalled = true;
    assert.deepEqual(await c.lease("w"), { kind: "wait", retryMs: 250 }, "no lease while the journal is stalled");
    stalled = false;
    if (held.kind !== "unit") return;
    assert.ok(
      await c.fail({
        workerId: "w",
        leaseId: held.leaseId,
        error: "storage unreachable",
        retryable: true,
        transient: true,
      }),
    );
    assert.deepEqual(journaled, ["retry"], "journaled, so an outage the coordinator shares is found");
    // --max-attempts 1: had the failure spent the attempt, the job would have failed.
    const again = await c.lease("w");
    assert.equal(again.kind, "unit");
    if (again.kind === "unit") assert.equal(again.attempt, 1);
    assert.equal(c.status().state, "running");
    c.close();
    await Promise.all(j.outputs.map((o) => o.close()));
  });

  it("does not announce a unit done whose record the journal refused (the output lease lost): the job stops", async () => {
    const j = await job();
    let refuse = false;
    const c = new Coordinator(j.spec, j.plan, j.outputs, {
      jobId: "t4",
      leaseTtlMs: 60_000,
      maxAttempts: 2,
      journal: {
        append: async () => {
          if (refuse) throw new Error("the output lease passed to another coordinator");
        },
      },
    });
    const done: number[] = [];
    c.on("unit", (r) => done.push(r.unitId));
    await c.start();
    const first = await c.lease("w");
    const second = await c.lease("w");
    if (first.kind !== "unit" || second.kind !== "unit") return assert.fail("two units leased");
    await c.complete({ workerId: "w", leaseId: first.leaseId, report: report(first.unit), leaseNext: false });
    refuse = true;
    await c.complete({ workerId: "w", leaseId: second.leaseId, report: report(second.unit), leaseNext: false });
    assert.deepEqual(done, [first.unit.id], "only the journaled unit is announced");
    assert.equal((await c.lease("w")).kind, "failed");
    assert.match(c.journalFailure?.message ?? "", /passed to another coordinator/);
    c.close();
    await Promise.all(j.outputs.map((o) => o.close()));
  });
});
