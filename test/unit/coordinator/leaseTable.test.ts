// The lease table's contract, on a fake clock: leases expire unless heartbeated, expired units go
// back to the queue, reports for leases no longer current change nothing, and a unit that fails
// --max-attempts times fails the job with its error.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LeaseTable } from "../../../coordinator/leaseTable.js";

function table(units: number, maxAttempts = 3) {
  const clock = { now: 1_000 };
  const t = new LeaseTable(
    Array.from({ length: units }, (_, i) => i),
    { ttlMs: 100, maxAttempts, now: () => clock.now },
  );
  return { t, clock };
}

describe("lease table", () => {
  it("leases units in order, once each, and is finished when all are complete", () => {
    const { t } = table(3);
    const grants = [t.lease(), t.lease(), t.lease()];
    assert.deepEqual(
      grants.map((g) => g?.unitId),
      [0, 1, 2],
    );
    assert.equal(t.lease(), undefined);
    assert.deepEqual(t.counts(), { pending: 0, leased: 3, done: 0, failed: 0 });
    for (const g of grants) assert.ok(t.complete(g?.leaseId as string));
    assert.ok(t.finished);
    assert.deepEqual(t.counts(), { pending: 0, leased: 0, done: 3, failed: 0 });
  });

  it("an expired lease goes back to the queue; the old holder's Complete is then ignored", () => {
    const { t, clock } = table(1);
    const first = t.lease();
    assert.ok(first);
    clock.now += 101;
    const expired = t.expire();
    assert.deepEqual(expired, [{ unitId: 0, attempt: 1, error: "lease expired (attempt 1)", requeued: true }]);
    const second = t.lease();
    assert.equal(second?.unitId, 0);
    assert.equal(second?.attempt, 2);
    assert.equal(t.complete(first.leaseId), false, "stale Complete ignored");
    assert.equal(t.heartbeat(first.leaseId), undefined, "stale heartbeat refused");
    assert.equal(t.fail(first.leaseId, "late", true), undefined, "stale Fail ignored");
    assert.deepEqual(t.counts(), { pending: 0, leased: 1, done: 0, failed: 0 });
    assert.ok(t.complete(second?.leaseId as string));
    assert.equal(t.retries, 1);
  });

  it("heartbeats keep a lease alive past its first deadline", () => {
    const { t, clock } = table(1);
    const g = t.lease();
    for (let i = 0; i < 5; i++) {
      clock.now += 80;
      assert.ok(t.heartbeat(g?.leaseId as string));
      assert.deepEqual(t.expire(), []);
    }
    assert.ok(t.complete(g?.leaseId as string));
  });

  it("a unit failing max-attempts times fails the job with its error; a permanent failure at once", () => {
    const { t } = table(2, 2);
    const a = t.lease();
    t.fail(a?.leaseId as string, "disk on fire", true);
    t.lease(); // unit 1
    const again = t.lease();
    assert.equal(again?.unitId, 0);
    const last = t.fail(again?.leaseId as string, "disk still on fire", true);
    assert.deepEqual(last, { unitId: 0, attempt: 2, error: "disk still on fire", requeued: false });
    assert.deepEqual(t.failure, { unitId: 0, error: "disk still on fire" });
    assert.equal(t.lease(), undefined, "nothing more is leased");

    const p = table(1, 5).t;
    p.fail(p.lease()?.leaseId as string, "non-finite values", false);
    assert.equal(p.failure?.error, "non-finite values");
  });

  it("journal replay: finished units are not leased again, spent attempts count", () => {
    const { t } = table(3, 2);
    t.markDone(1);
    t.restoreAttempts(2, 1);
    assert.equal(t.lease()?.unitId, 0);
    const g = t.lease();
    assert.equal(g?.unitId, 2);
    assert.equal(g?.attempt, 2);
    assert.equal(t.lease(), undefined);
    assert.deepEqual(t.counts(), { pending: 0, leased: 2, done: 1, failed: 0 });
  });

  it("a transient failure (storage unreachable) hands the unit back without spending the attempt", () => {
    const { t } = table(1, 1);
    for (let i = 0; i < 5; i++) {
      const g = t.lease();
      assert.equal(g?.attempt, 1, "still the first attempt");
      assert.deepEqual(t.fail(g?.leaseId as string, "storage unreachable", true, true), {
        unitId: 0,
        attempt: 0,
        error: "storage unreachable",
        requeued: true,
        transient: true,
      });
    }
    assert.equal(t.failure, undefined, "with --max-attempts 1, five outages did not fail the job");
    assert.equal(t.retries, 0, "not counted as retries");
    const last = t.lease();
    assert.ok(t.complete(last?.leaseId as string));
    assert.ok(t.finished);
  });

  it("a replayed queue of 100k units leases in O(1) per unit", () => {
    const n = 100_000;
    const t = new LeaseTable(
      Array.from({ length: n }, (_, i) => i),
      { ttlMs: 60_000, maxAttempts: 3 },
    );
    for (let i = 0; i < n; i += 2) t.markDone(i);
    let leased = 0;
    for (let g = t.lease(); g; g = t.lease()) {
      assert.equal(g.unitId % 2, 1, "done units are skipped");
      leased++;
    }
    assert.equal(leased, n / 2);
  });
});
