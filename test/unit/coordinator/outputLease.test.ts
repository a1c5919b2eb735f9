// The output lease's protocol on a real folder: taken exclusively, renewed, refused or waited for while held,
// taken over only once it stopped changing for its TTL, and fencing that tells a superseded owner it lost.
// Expiry is driven by each lease's own clock (given here), never by sleeping.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type LeaseRecord, leaseName, OutputLease } from "../../../coordinator/outputLease.js";
import { LeaseLostError, UsageError } from "../../../core/errors.js";
import { type LogFields, silentLogger } from "../../../core/logger.js";
import { LocalStorage } from "../../../storage/localStorage.js";
import { tempDir } from "../../support/tempDir.js";
import { waitUntil } from "../../support/waitUntil.js";

/** A clock that only moves when told. */
function manualClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function lease(
  dir: string,
  options: { jobId?: string; ttlMs?: number; now?: () => number; onInfo?: (m: string) => void },
) {
  return new OutputLease({
    storage: new LocalStorage(dir),
    jobId: options.jobId ?? "job-a",
    ttlMs: options.ttlMs ?? 1000,
    pollMs: 5,
    log: { ...silentLogger, info: (m: string, _?: LogFields) => options.onInfo?.(m) },
    ...(options.now ? { now: options.now } : {}),
  });
}

function recordOf(dir: string, epoch: number): LeaseRecord {
  return JSON.parse(readFileSync(join(dir, leaseName(epoch)), "utf8")) as LeaseRecord;
}

function leaseFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith("lease-")) : [];
}

describe("output lease", () => {
  it("is taken at once when free: epoch 1, with who holds it", async () => {
    const dir = join(await tempDir(), "out", ".expo");
    const a = lease(dir, {});
    await a.acquire(true);
    assert.equal(a.state, "held");
    const r = recordOf(dir, 1);
    assert.equal(r.epoch, 1);
    assert.equal(r.jobId, "job-a");
    assert.equal(r.pid, process.pid);
    assert.equal(r.ttlMs, 1000);
    await a.check();
    await a.release();
    assert.equal(a.state, "released");
    assert.deepEqual(leaseFiles(dir), []);
  });

  it("is renewed while held: its record keeps changing", async () => {
    const dir = join(await tempDir(), ".expo");
    const a = lease(dir, { ttlMs: 300 });
    await a.acquire(true);
    await waitUntil(() => recordOf(dir, 1).renewals >= 2, "two renewals");
    await a.release();
  });

  it("--no-wait: a held lease is refused with one line naming its holder, nothing written", async () => {
    const dir = join(await tempDir(), ".expo");
    const a = lease(dir, {});
    await a.acquire(true);
    const b = lease(dir, { jobId: "job-b" });
    await assert.rejects(
      b.acquire(false),
      (e: Error) =>
        e instanceof UsageError &&
        e.message.includes(`pid ${process.pid}`) &&
        e.message.includes("(epoch 1)") &&
        e.message.includes("--no-wait"),
    );
    assert.equal(b.state, "idle");
    assert.deepEqual(leaseFiles(dir), [leaseName(1)]);
    await a.release();
  });

  it("a waiting coordinator says who holds it and takes the lease once it is released", async () => {
    const dir = join(await tempDir(), ".expo");
    const a = lease(dir, {});
    await a.acquire(true);
    let said = "";
    const b = lease(dir, { onInfo: (m) => (said ||= m) });
    const taken = b.acquire(true);
    await waitUntil(() => said.startsWith("waiting: the output lease") || undefined, "b waiting");
    assert.match(said, new RegExp(`held by .* pid ${process.pid}, since .* \\(epoch 1\\)`));
    await a.release();
    await taken;
    assert.equal(b.state, "held");
    assert.equal(b.waitedFor?.jobId, "job-a");
    await b.release();
  });

  it("an owner that stopped renewing is taken over after its TTL, and its next check finds it superseded", async () => {
    const dir = join(await tempDir(), ".expo");
    const a = lease(dir, { ttlMs: 1000 });
    await a.acquire(true);
    a.stop(); // paused: no more renewals
    const clock = manualClock();
    let watching = false;
    const b = lease(dir, {
      now: () => (watching ? clock.advance(100) : clock.now()),
      onInfo: () => {
        watching = true;
      },
    });
    await b.acquire(true);
    assert.equal(b.epoch, 2);
    assert.deepEqual(leaseFiles(dir), [leaseName(2)], "the new owner cleans up the older epoch");
    await assert.rejects(
      a.check(),
      (e: Error) =>
        e instanceof LeaseLostError &&
        /passed to .* \(epoch 2\): this coordinator stops without touching/.test(e.message),
    );
    assert.equal(a.state, "lost");
    await a.release(); // a lost lease is not released: the new owner's object stays
    assert.deepEqual(leaseFiles(dir), [leaseName(2)]);
    await b.release();
  });

  it("an owner whose renewals went stale takes the next epoch before writing, when nobody else did", async () => {
    const dir = join(await tempDir(), ".expo");
    const clock = manualClock();
    const a = lease(dir, { ttlMs: 1000, now: clock.now });
    await a.acquire(true);
    a.stop();
    clock.advance(900);
    await a.check();
    assert.equal(a.epoch, 2);
    assert.deepEqual(leaseFiles(dir), [leaseName(2)]);
    await a.release();
  });

  it("a stale owner whose epoch vanished while it took the next one (taken over and released meanwhile) undoes its create and stops", async () => {
    const dir = join(await tempDir(), ".expo");
    const clock = manualClock();
    // Another coordinator, between the stale owner's ownership check and its create of epoch 2: it took epoch 2,
    // finished the job and released, removing every epoch. Played once, on the folder itself.
    let meanwhile: (() => void) | undefined = () => rmSync(join(dir, leaseName(1)));
    const storage = new (class extends LocalStorage {
      override async createExclusive(name: string, data: Buffer): Promise<boolean> {
        if (name === leaseName(2) && meanwhile) {
          meanwhile();
          meanwhile = undefined;
        }
        return super.createExclusive(name, data);
      }
    })(dir);
    const a = new OutputLease({ storage, jobId: "job-a", ttlMs: 1000, pollMs: 5, log: silentLogger, now: clock.now });
    await a.acquire(true);
    a.stop();
    clock.advance(900);
    await assert.rejects(
      a.check(),
      (e: Error) => e instanceof LeaseLostError && /released by a later owner/.test(e.message),
    );
    assert.equal(a.state, "lost");
    assert.equal(meanwhile, undefined, "the other coordinator acted inside the re-take");
    assert.deepEqual(leaseFiles(dir), [], "the epoch it created is gone again");
  });

  it("an epoch number used again after every lease was released does not fool an old owner", async () => {
    const dir = join(await tempDir(), ".expo");
    const a = lease(dir, {});
    await a.acquire(true);
    a.stop();
    // Another coordinator took over, finished and released; then a third one started afresh at epoch 1.
    const clock = manualClock();
    let watching = false;
    const b = lease(dir, { now: () => (watching ? clock.advance(100) : 0), onInfo: () => (watching = true) });
    await b.acquire(true);
    await b.release();
    const c = lease(dir, {});
    await c.acquire(true);
    assert.equal(c.epoch, 1);
    await assert.rejects(a.check(), LeaseLostError);
    await c.check();
    await c.release();
  });

  it("of four coordinators racing for a free lease exactly one gets it", async () => {
    const dir = join(await tempDir(), ".expo");
    const contenders = Array.from({ length: 4 }, () => lease(dir, {}));
    const results = await Promise.allSettled(contenders.map((l) => l.acquire(false)));
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    assert.equal(contenders.filter((l) => l.state === "held").length, 1);
    await Promise.all(contenders.map((l) => l.release()));
  });
});
