// The storage retry policy on a clock the test controls: what an outage explains is retried with capped,
// jittered exponential backoff until the storage timeout (counted from the operation's first failure), then
// fails as StorageUnavailableError naming the cause; answers about the request fail at once; the process's
// outage is one start and one end however many operations wait it out; retries and outage time are counted.
// And the same policy applied to every call of a real Storage (RetryingStorage over a local folder).
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ObjectChangedError, StorageUnavailableError, UsageError } from "../../../core/errors.js";
import { isRetryable } from "../../../storage/isRetryable.js";
import { LocalStorage } from "../../../storage/localStorage.js";
import { RetryingStorage } from "../../../storage/retryingStorage.js";
import { describeS3Error } from "../../../storage/s3Errors.js";
import { StorageRetry, type StorageRetryObserver } from "../../../storage/storageRetry.js";
import { tempDir } from "../../support/tempDir.js";

/** Time moves only when the policy sleeps; jitter is fixed at its midpoint. */
function testClock() {
  const clock = {
    t: 0,
    slept: [] as number[],
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.slept.push(ms);
      clock.t += ms;
    },
    random: () => 0.5,
  };
  return clock;
}

function recorder() {
  const events: string[] = [];
  const observer: StorageRetryObserver = {
    outageStarted: ({ operation, error }) => events.push(`start ${operation}: ${error.message}`),
    outageEnded: ({ retries, recovered }) => events.push(`end ${recovered ? "recovered" : "gave up"} ${retries}`),
  };
  return { events, observer };
}

const refused = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9000"), { code: "ECONNREFUSED" });

describe("storage errors: retryable or final", () => {
  const sdk = (name: string, status: number) => ({ name, message: name, $metadata: { httpStatusCode: status } });
  const cases: Array<[string, unknown, boolean]> = [
    ["connection refused", refused(), true],
    ["connection reset", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }), true],
    ["DNS failure", Object.assign(new Error("getaddrinfo ENOTFOUND s3"), { code: "ENOTFOUND" }), true],
    ["DNS try again", Object.assign(new Error("getaddrinfo EAI_AGAIN s3"), { code: "EAI_AGAIN" }), true],
    ["socket timeout", Object.assign(new Error("timed out"), { name: "TimeoutError" }), true],
    ["body cut mid-stream", Object.assign(new Error("short read"), { stream: true }), true],
    ["503 SlowDown", describeS3Error(sdk("SlowDown", 503), "PutObject", "s3://b/k"), true],
    ["500 InternalError", describeS3Error(sdk("InternalError", 500), "UploadPart", "s3://b/k"), true],
    ["429 throttled", describeS3Error(sdk("TooManyRequests", 429), "GetObject", "s3://b/k"), true],
    ["throttling by name", describeS3Error(sdk("ThrottlingException", 400), "GetObject", "s3://b/k"), true],
    ["501 not implemented", describeS3Error(sdk("NotImplemented", 501), "ListMultipartUploads", "s3://b"), false],
    ["403 access denied", describeS3Error(sdk("AccessDenied", 403), "PutObject", "s3://b/k"), false],
    ["404 not found", describeS3Error(sdk("NoSuchKey", 404), "GetObject", "s3://b/k"), false],
    ["412 changed input", describeS3Error(sdk("PreconditionFailed", 412), "GetObject", "s3://b/k"), false],
    ["400 bad digest", describeS3Error(sdk("BadDigest", 400), "UploadPart", "s3://b/k"), false],
    ["disk full", Object.assign(new Error("no space"), { code: "ENOSPC" }), false],
    ["a usage error", new UsageError("bad"), false],
    ["a changed input", new ObjectChangedError("changed"), false],
  ];
  for (const [what, error, retryable] of cases) {
    it(`${what}: ${retryable ? "retried" : "final"}`, () => assert.equal(isRetryable(error), retryable));
  }
});

describe("storage retry policy", () => {
  it("retries an outage with capped exponential backoff and jitter, and reports one start and one end", async () => {
    const clock = testClock();
    const { events, observer } = recorder();
    const retry = new StorageRetry({ timeoutMs: 60_000, observer, clock });
    let calls = 0;
    const result = await retry.run("write_part", "s3://b/k", async () => {
      if (++calls <= 8) throw refused();
      return "written";
    });
    assert.equal(result, "written");
    // 100 ms doubling, capped at 5 s, times the jitter factor (0.5 + random/2 = 0.75 here).
    assert.deepEqual(
      clock.slept,
      [100, 200, 400, 800, 1600, 3200, 5000, 5000].map((d) => d * 0.75),
    );
    assert.deepEqual(events, ["start write_part: connect ECONNREFUSED 127.0.0.1:9000", "end recovered 8"]);
    assert.equal(retry.retries().get("write_part"), 8);
    assert.equal(retry.retries().get("read"), 0, "every operation is counted from 0");
    assert.equal(retry.outageSeconds(), clock.slept.reduce((a, b) => a + b, 0) / 1000);
    assert.equal(retry.inOutage, false);
  });

  it("gives up after the storage timeout with StorageUnavailableError naming the cause", async () => {
    const clock = testClock();
    const { events, observer } = recorder();
    const retry = new StorageRetry({ timeoutMs: 10_000, observer, clock });
    await assert.rejects(
      retry.run("journal_append", "s3://b/.expo", async () => {
        throw describeS3Error(refused(), "PutObject", "s3://b/.expo/journal-00000085.jsonl");
      }),
      (e: Error) =>
        e instanceof StorageUnavailableError &&
        /^storage unreachable for 10 s \(--storage-timeout 10 s\): s3:\/\/b\/\.expo\/journal-00000085\.jsonl: PutObject Error: connect ECONNREFUSED/.test(
          e.message,
        ),
    );
    assert.equal(clock.t, 10_000, "the last wait is cut to the deadline");
    assert.equal(events.length, 2);
    assert.match(events[1] as string, /^end gave up/);
  });

  it("fails at once on an answer about the request, without an outage", async () => {
    const clock = testClock();
    const { events, observer } = recorder();
    const retry = new StorageRetry({ timeoutMs: 10_000, observer, clock });
    const denied = describeS3Error(
      { name: "AccessDenied", $metadata: { httpStatusCode: 403 } },
      "PutObject",
      "s3://b/k",
    );
    let calls = 0;
    await assert.rejects(
      retry.run("write_small", "s3://b/k", async () => {
        calls++;
        throw denied;
      }),
      (e) => e === denied,
    );
    assert.equal(calls, 1);
    assert.deepEqual(events, []);
    assert.equal(clock.t, 0);
  });

  it("one outage for the process however many operations wait it out; it ends when the last one is through", async () => {
    const { events, observer } = recorder();
    // Waits end only when the test says so.
    const waiting: Array<() => void> = [];
    const clock = {
      now: () => 0,
      random: () => 0.5,
      sleep: () => new Promise<void>((resolve) => waiting.push(resolve)),
    };
    const retry = new StorageRetry({ timeoutMs: 60_000, observer, clock });
    let down = true;
    const op = (n: number) =>
      retry.run("read", `s3://b/${n}`, async () => {
        if (down) throw refused();
        return n;
      });
    const running = [op(1), op(2), op(3)];
    while (waiting.length < 3) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(retry.inOutage, true);
    down = false;
    for (const resume of waiting.splice(0)) resume();
    assert.deepEqual(await Promise.all(running), [1, 2, 3]);
    assert.deepEqual(events, ["start read: connect ECONNREFUSED 127.0.0.1:9000", "end recovered 3"]);
    assert.equal(retry.inOutage, false);
  });

  it("every call of a Storage goes through it (RetryingStorage)", async () => {
    const dir = await tempDir();
    mkdirSync(join(dir, "data"));
    writeFileSync(join(dir, "data", "x.bin"), "hello");
    const clock = testClock();
    const retry = new StorageRetry({ timeoutMs: 60_000, clock });
    // A local folder whose reads fail twice the way a network filesystem in trouble does.
    const inner = new LocalStorage(join(dir, "data"));
    let failures = 2;
    const flaky = Object.assign(Object.create(inner) as LocalStorage, {
      readSmall: async (name: string) => {
        if (failures-- > 0) throw Object.assign(new Error("timed out"), { code: "ETIMEDOUT" });
        return inner.readSmall(name);
      },
    });
    const storage = new RetryingStorage(flaky, retry);
    assert.equal((await storage.readSmall("x.bin")).toString(), "hello");
    assert.equal(retry.retries().get("read_small"), 2);
    // Final answers stay final: a missing file is not an outage.
    await assert.rejects(storage.readSmall("missing.bin"), /ENOENT/);
    assert.equal(retry.retries().get("read_small"), 2);
  });
});
