// The worker's lease loop against an in-process coordinator (no transport): every unit is done
// exactly once with no observer attached, at most --concurrency units are in flight, and a stop
// request finishes or releases what the worker holds.
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { Coordinator } from "../../../coordinator/coordinator.js";
import type { LeaseService } from "../../../core/leaseService.js";
import type { PreparedJob } from "../../../plan/prepareJob.js";
import { runWorker } from "../../../worker/runWorker.js";
import { prepareLocalJob } from "../../support/localJob.js";
import { runCli } from "../../support/runCli.js";
import { LOCAL_STORAGE } from "../../support/storageSettings.js";
import { tempDir } from "../../support/tempDir.js";

describe("runWorker", () => {
  let root: string;
  let outs = 0;
  const job = (): Promise<PreparedJob> => prepareLocalJob(root, join(root, `out-${++outs}`), 128 * 1024);
  const close = (j: PreparedJob) =>
    Promise.all([j.aligned.storage.close(), j.base.storage.close(), ...j.outputs.map((o) => o.close())]);
  const coordinator = async (j: PreparedJob) => {
    const c = new Coordinator(j.spec, j.plan, j.outputs, { jobId: "test", leaseTtlMs: 60_000, maxAttempts: 3 });
    await c.start();
    return c;
  };

  before(async () => {
    root = await tempDir();
    const r = await runCli(["make-example", root, "--size", "2MiB", "--seed", "3"]);
    assert.equal(r.code, 0, r.stderr);
  });

  it("does every unit once, with at most --concurrency in flight, leasing the next unit with each Complete", async () => {
    const j = await job();
    const c = await coordinator(j);
    let inFlight = 0;
    let most = 0;
    let viaComplete = 0;
    const counting: LeaseService = {
      describeJob: (w) => c.describeJob(w),
      lease: async (w) => {
        const r = await c.lease(w);
        if (r.kind === "unit") most = Math.max(most, ++inFlight);
        return r;
      },
      heartbeat: (l, w) => c.heartbeat(l, w),
      complete: async (request) => {
        inFlight--;
        const result = await c.complete(request);
        if (result.next?.kind === "unit") {
          most = Math.max(most, ++inFlight);
          viaComplete++;
        }
        return result;
      },
      fail: (request) => c.fail(request),
    };
    const outcome = await runWorker(counting, { workerId: "w", device: "cpu", storage: LOCAL_STORAGE, concurrency: 3 });
    c.close();
    await close(j);
    assert.deepEqual(outcome, { kind: "done" });
    assert.equal(c.reports.size, j.plan.units.length);
    assert.ok(j.plan.units.length > 6);
    assert.equal(most, 3);
    assert.equal(viaComplete, j.plan.units.length - 3, "after the first three, every unit came with a Complete");
  });

  it("asked to stop, leases nothing more and finishes the units in hand", async () => {
    const j = await job();
    const c = await coordinator(j);
    const stop = new AbortController();
    let leased = 0;
    const stopping: LeaseService = {
      describeJob: (w) => c.describeJob(w),
      lease: async (w) => {
        const r = await c.lease(w);
        if (r.kind === "unit" && ++leased === 2) stop.abort();
        return r;
      },
      heartbeat: (l, w) => c.heartbeat(l, w),
      complete: (request) => c.complete(request),
      fail: (request) => c.fail(request),
    };
    const outcome = await runWorker(stopping, {
      workerId: "w",
      device: "cpu",
      storage: LOCAL_STORAGE,
      concurrency: 2,
      stop: stop.signal,
    });
    c.close();
    await close(j);
    assert.deepEqual(outcome, { kind: "stopped", released: 0 });
    assert.equal(leased, 2);
    assert.equal(c.reports.size, 2, "both units in hand were finished");
    assert.equal(c.unitCounts().pending, j.plan.units.length - 2);
  });
});
