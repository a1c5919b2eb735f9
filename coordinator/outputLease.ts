// One writer per output: the lease a coordinator holds on its output's .expo area while it owns the job.
//
// The lease is a series of objects lease-<epoch>.json; the owner is the one that created the highest epoch, and
// an epoch is taken by creating its object exclusively (Storage.createExclusive: link() locally, PutObject
// If-None-Match * on S3), so two coordinators can never both own one epoch. The owner rewrites its object every
// TTL/3 (a renewal count goes up). A coordinator that finds a lease waits (or, --no-wait, refuses) until the
// holder releases it (deletes its object) or lets it expire: expiry is judged by watching the holder's object
// stay unchanged for the holder's TTL on the watcher's own monotonic clock, so no two machines' clocks are ever
// compared (the cost: a newcomer always waits one full TTL for a holder that died).
//
// Fencing: before each of its writes the owner checks (check()) that the highest epoch is still its own object
// (its random owner id inside, so an epoch number reused after every lease was released cannot fool it), and
// that its last successful renewal started less than 0.8 TTL ago by its own clock: a watcher cannot have seen
// that renewal expire yet. Past that, it takes the next epoch before writing again, which fails if anyone
// else took it; and if its previous epoch's object is gone once it has (another owner came, finished and
// released meanwhile), it deletes what it created and stops. What this cannot rule out is a pause (SIGSTOP, a VM freeze) of more than a TTL between a check
// and the write it guards: object stores have no fencing tokens across keys. That write lands stale, and the
// owner stops at its next check.
//
// States (the table TRANSITIONS below):
//
//   idle ──▶ waiting ──▶ held ──▶ released
//     │         │          └────▶ lost (superseded: the caller stops without writing)
//     └─────────┴──▶ idle (refused with --no-wait, or the wait aborted)
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { LeaseLostError, StorageUnavailableError, UsageError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { Storage } from "../storage/types.js";

/** What a lease object holds. */
export interface LeaseRecord {
  epoch: number;
  /** Random id of the coordinator process that holds it. */
  owner: string;
  jobId: string;
  host: string;
  pid: number;
  pod?: string;
  /** When this holder took the lease (its clock: for people, never compared). */
  since: string;
  ttlMs: number;
  /** Goes up at every renewal: what a watcher sees change while the holder lives. */
  renewals: number;
}

export type LeaseState = "idle" | "waiting" | "held" | "released" | "lost";

export interface OutputLeaseOptions {
  /** The output's .expo area. */
  storage: Storage;
  jobId: string;
  ttlMs: number;
  log: Logger;
  /** Called once when a renewal finds the lease taken over (the next check() throws too). */
  onLost?: (error: LeaseLostError) => void;
  /** Monotonic milliseconds; tests give a clock of their own. */
  now?: () => number;
  /** How often a waiting coordinator looks at the holder's object; default a quarter of the holder's TTL, ≤ 1 s. */
  pollMs?: number;
}

/** Default lease TTL: a coordinator killed with -9 is replaced after at most this (plus a poll). */
export const DEFAULT_OUTPUT_LEASE_TTL_MS = 30_000;

const TRANSITIONS: Readonly<Record<LeaseState, readonly LeaseState[]>> = {
  idle: ["waiting"],
  waiting: ["held", "idle"],
  held: ["released", "lost"],
  released: [],
  lost: [],
};

const LEASE_NAME = /^lease-(\d{10})\.json$/;
/** A waiting coordinator says again who holds the lease this often. */
const WAIT_LOG_MS = 30_000;
/** Share of the TTL within which the owner's last renewal must have started for a write to go ahead. */
const FRESH = 0.8;

export function leaseName(epoch: number): string {
  return `lease-${String(epoch).padStart(10, "0")}.json`;
}

/** "host h pid p (pod x) since t (epoch n)": who holds a lease, for the waiting and refusal lines. */
export function describeHolder(r: LeaseRecord): string {
  return `${r.host} pid ${r.pid}${r.pod ? ` (pod ${r.pod})` : ""}, since ${r.since} (epoch ${r.epoch})`;
}

export class OutputLease {
  private current: LeaseState = "idle";
  private record?: LeaseRecord;
  /** Monotonic time the last successful write of our object started. */
  private renewedAt = 0;
  private timer?: NodeJS.Timeout;
  private serial: Promise<unknown> = Promise.resolve();
  private queuedCheck?: Promise<void>;
  private lostError?: LeaseLostError;
  private readonly now: () => number;
  private readonly owner = randomBytes(12).toString("hex");
  /** Whether acquire() found the lease held by another coordinator and waited for it. */
  waitedFor?: LeaseRecord;

  constructor(private readonly options: OutputLeaseOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  get state(): LeaseState {
    return this.current;
  }

  get epoch(): number | undefined {
    return this.record?.epoch;
  }

  /** Where the lease lives, for messages. */
  get where(): string {
    return this.options.storage.location;
  }

  /**
   * Takes the lease: at once when nobody holds it, else once its holder releases it or lets it expire.
   * `wait: false` refuses (UsageError, nothing written) instead of waiting; `signal` ends a wait (an Error).
   */
  async acquire(wait: boolean, signal?: AbortSignal): Promise<void> {
    this.to("waiting");
    let watched: { record: LeaseRecord; since: number } | undefined;
    let lastLog = Number.NEGATIVE_INFINITY;
    try {
      for (;;) {
        const { highest } = await this.observe();
        if (highest === undefined) {
          if (await this.take(1)) return;
          continue;
        }
        const same =
          watched?.record.epoch === highest.epoch &&
          watched.record.owner === highest.owner &&
          watched.record.renewals === highest.renewals;
        if (!same) watched = { record: highest, since: this.now() };
        if (this.now() - (watched as { since: number }).since >= highest.ttlMs) {
          // Unchanged for its holder's whole TTL: expired. Losing this race means someone else took it: watch theirs.
          if (await this.take(highest.epoch + 1)) return;
          continue;
        }
        const line = `the output lease on ${this.where} is held by ${describeHolder(highest)}`;
        if (!wait) throw new UsageError(`${line}: the job is running there (--no-wait given)`);
        this.waitedFor = highest;
        if (this.now() - lastLog >= WAIT_LOG_MS) {
          this.options.log.info(`waiting: ${line}`, { holder: highest });
          lastLog = this.now();
        }
        await sleep(this.options.pollMs ?? Math.min(1000, highest.ttlMs / 4), signal);
        if (signal?.aborted) throw new Error(`stopped while waiting for the output lease on ${this.where}`);
      }
    } catch (e) {
      this.to("idle");
      throw e;
    }
  }

  /**
   * Fencing: resolves when this coordinator still owns the output, throws LeaseLostError when another one
   * took it over. Checks asked for while one is queued share it.
   */
  check(): Promise<void> {
    if (this.lostError) return Promise.reject(this.lostError);
    if (this.current !== "held") return Promise.reject(new Error(`output lease on ${this.where}: ${this.current}`));
    this.queuedCheck ??= this.exclusive(async () => {
      this.queuedCheck = undefined;
      await this.verify();
    });
    return this.queuedCheck;
  }

  /** Gives the lease up (deletes our object) if we still hold it; a lost lease is left to its new owner. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    if (this.current !== "held") return;
    await this.exclusive(async () => {
      const { highest } = await this.observe();
      this.to("released");
      if (highest?.owner === this.owner) await this.options.storage.delete(leaseName(highest.epoch));
      // A folder that only the lease (and its renewals' temporaries) kept there goes with it.
      await this.options.storage.removeIfEmpty();
    });
  }

  /** Stops renewing (the process is ending without releasing, e.g. after losing the lease). */
  stop(): void {
    clearInterval(this.timer);
  }

  /** Creates `epoch` exclusively; true when it is ours now. */
  private async take(epoch: number): Promise<boolean> {
    const retaking = this.current === "held";
    const record: LeaseRecord = {
      epoch,
      owner: this.owner,
      jobId: this.options.jobId,
      host: hostname(),
      pid: process.pid,
      ...(podName() ? { pod: podName() } : {}),
      since: this.record?.since ?? new Date().toISOString(),
      ttlMs: this.options.ttlMs,
      renewals: 0,
    };
    const started = this.now();
    const storage = this.options.storage;
    if (!(await storage.createExclusive(leaseName(epoch), encode(record)))) {
      // Ours all the same when it was our own create whose reply was lost (and retried).
      const there = await this.read(epoch);
      if (there?.owner !== this.owner) return false;
    } else if (await storage.createExclusive(leaseName(epoch), encode(record))) {
      // The same create again succeeded: the store ignores If-None-Match, and the lease cannot keep two
      // coordinators apart there.
      this.options.log.warn(
        `${this.where}: this store ignores If-None-Match (conditional PutObject): the output lease cannot stop a second coordinator of this job from writing at the same time; do not start a job twice on it`,
      );
    }
    this.record = record;
    this.renewedAt = started;
    if (this.current === "waiting") {
      this.to("held");
      this.timer = setInterval(() => void this.exclusive(() => this.renew()).catch(() => undefined), this.ttl() / 3);
      this.timer.unref();
      this.options.log.info(`took the output lease on ${this.where} (epoch ${epoch})`, { epoch });
    } else {
      this.options.log.debug("output lease taken again", { epoch });
    }
    // Older epochs are this owner's to clean up (their holders stop at their next check); when taking the next
    // epoch of its own, verify() still needs the previous one and cleans up after.
    if (!retaking) await this.removeBelow(epoch);
    return true;
  }

  /** Rewrites our object with one more renewal, unless the lease was taken over. */
  private async renew(): Promise<void> {
    if (this.current !== "held" || !this.record) return;
    const started = this.now();
    await this.ensureOwner();
    const record = { ...this.record, renewals: this.record.renewals + 1 };
    await this.options.storage.writeSmall(leaseName(record.epoch), encode(record));
    this.record = record;
    this.renewedAt = started;
  }

  private async verify(): Promise<void> {
    const fresh = this.now() - this.renewedAt < FRESH * this.ttl();
    await this.ensureOwner();
    if (fresh) return;
    // Renewals have not landed for a while (storage out, the process paused): a watcher may be about to
    // take the lease. Taking the next epoch first settles who goes on.
    const record = this.record as LeaseRecord;
    if (!(await this.take(record.epoch + 1))) {
      this.lose((await this.read(record.epoch + 1)) ?? record);
    }
    // Created, but our old epoch is gone: someone took the output over and released it while this process was
    // paused after its check above. Undo the create and stop.
    if ((await this.read(record.epoch))?.owner !== this.owner) {
      await this.options.storage.delete(leaseName(record.epoch + 1));
      await this.options.storage.removeIfEmpty();
      this.lose(undefined);
    }
    await this.removeBelow(record.epoch + 1);
  }

  private async removeBelow(epoch: number): Promise<void> {
    const storage = this.options.storage;
    for (const e of await this.epochs()) if (e < epoch) await storage.delete(leaseName(e)).catch(() => undefined);
  }

  /** Throws LeaseLostError unless the highest epoch is still our object. */
  private async ensureOwner(): Promise<void> {
    if (this.lostError) throw this.lostError;
    const { highest } = await this.observe();
    if (highest?.owner === this.owner) return;
    this.lose(highest);
  }

  private lose(by: LeaseRecord | undefined): never {
    clearInterval(this.timer);
    this.to("lost");
    const to = by
      ? `passed to ${describeHolder(by)}`
      : "was released by a later owner (the job was finished or stopped there)";
    this.lostError = new LeaseLostError(
      `the output lease on ${this.where} ${to}: this coordinator stops without touching the output`,
    );
    this.options.onLost?.(this.lostError);
    throw this.lostError;
  }

  /** The highest epoch's record; listed and read again when it vanished in between (a release, a cleanup). */
  private async observe(): Promise<{ highest?: LeaseRecord }> {
    for (let attempt = 0; ; attempt++) {
      const epochs = await this.epochs();
      const top = epochs[epochs.length - 1];
      if (top === undefined) return {};
      const record = await this.read(top);
      if (record) return { highest: record };
      if (attempt >= 5) return {};
    }
  }

  private async epochs(): Promise<number[]> {
    const names = await this.options.storage.list().catch((e: unknown) => {
      // No folder yet: no lease.
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [] as string[];
      throw e;
    });
    return names
      .flatMap((n) => {
        const m = LEASE_NAME.exec(n);
        return m ? [Number(m[1])] : [];
      })
      .sort((a, b) => a - b);
  }

  /** The record of `epoch`; undefined when there is none (or not a whole one). */
  private async read(epoch: number): Promise<LeaseRecord | undefined> {
    try {
      return JSON.parse((await this.options.storage.readSmall(leaseName(epoch))).toString("utf8")) as LeaseRecord;
    } catch (e) {
      // Gone (or not JSON): no record. An outage is not an answer.
      if (e instanceof StorageUnavailableError) throw e;
      return undefined;
    }
  }

  private ttl(): number {
    return this.record?.ttlMs ?? this.options.ttlMs;
  }

  private to(next: LeaseState): void {
    if (!TRANSITIONS[this.current].includes(next))
      throw new Error(`output lease on ${this.where}: no transition ${this.current} → ${next}`);
    this.current = next;
  }

  /** Renewals, checks and releases one at a time: each reads the lease and may write it. */
  private exclusive<T>(step: () => Promise<T>): Promise<T> {
    const run = this.serial.then(step, step);
    this.serial = run.catch(() => undefined);
    return run;
  }
}

function encode(r: LeaseRecord): Buffer {
  return Buffer.from(`${JSON.stringify(r)}\n`);
}

function podName(): string | undefined {
  return process.env.POD_NAME ?? (process.env.KUBERNETES_SERVICE_HOST ? process.env.HOSTNAME : undefined);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
