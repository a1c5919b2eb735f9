// One job's coordinator from start to end, phase by phase (jobLifecycle.ts): resume from the journal or open
// the uploads, serve the lease protocol over gRPC (and metrics), wait for the units, then commit the output
// (finalize) or abort it, or suspend on SIGTERM. `llm-expo coordinator` runs this for a cluster; `llm-expo
// run` for its local worker processes.
import { INDEX_FILE, SINGLE_FILE } from "../checkpoint/types.js";
import { JobError, LeaseLostError, StorageUnavailableError, UsageError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import { type ExpoReport, REPORT_FILE } from "../core/report.js";
import { TOOL } from "../core/tool.js";
import type { MetricsServer } from "../metrics/serveMetrics.js";
import { closeJob, type PlannedJob } from "../plan/prepareJob.js";
import { openStorage } from "../storage/openStorage.js";
import type { StorageSettings } from "../storage/s3Settings.js";
import type { Storage } from "../storage/types.js";
import { abortUploads } from "./abortUploads.js";
import { Coordinator } from "./coordinator.js";
import { fencedStorage } from "./fencedStorage.js";
import { finalize } from "./finalize.js";
import { jobIdentity } from "./jobIdentity.js";
import { JobLifecycle, type JobSignal, type SigtermPolicy, signalEffect } from "./jobLifecycle.js";
import { JOURNAL_NAME, Journal } from "./journal.js";
import { DEFAULT_OUTPUT_LEASE_TTL_MS, describeHolder, OutputLease } from "./outputLease.js";
import { type Resume, replayJournal } from "./replayJournal.js";
import type { GrpcServeOptions, GrpcServer } from "./serveGrpc.js";

export interface ServeOptions {
  /** The lease protocol over gRPC for worker processes; none when the workers run in this process. */
  grpc?: GrpcServeOptions;
  /** /metrics on host:port (port 0: any free port); none when undefined. */
  metrics?: { host: string; port: number };
  /**
   * The output lease (outputLease.ts): its TTL, and whether a coordinator that finds it held waits for it
   * (default) or refuses at once (--no-wait, exit 2). Default TTL DEFAULT_OUTPUT_LEASE_TTL_MS, waiting.
   */
  outputLease?: { ttlMs: number; wait: boolean };
  /** Folder or S3 prefix of the journal; default <first output>/.expo */
  journal?: string;
  /** Compact the journal after this many records or flushes (default 1024; tests make it small). */
  journalCompactAfter?: number;
  storage: StorageSettings;
  leaseTtlMs: number;
  maxAttempts: number;
  /** Keep serving this long after the outcome: late workers learn it, Prometheus scrapes the end. */
  lingerMs: number;
  onSigterm: SigtermPolicy;
  log: Logger;
  /** Called once the job is served: its coordinator, and the ports bound (gRPC when served, metrics). */
  onServing?: (coordinator: Coordinator, ports: { grpc?: number; metrics?: number }) => void;
  onCoordinator?: (c: Coordinator) => void;
  /** Resolves with a reason when the job can no longer finish (e.g. every local worker exited). */
  stopped?: Promise<string>;
  /**
   * Awaited once the outcome is known, while the server still answers (e.g. until local workers have
   * learnt it and exited): before uploads are aborted, and after the commit before shutting down.
   */
  drainWorkers?: () => Promise<void>;
}

/** Thrown when SIGTERM or a storage outage suspended the job: journal and uploads are kept for a restart. */
export class SuspendedError extends JobError {}

/** Why the serving phase ended. */
type Stop = { kind: "abort" | "suspend" | "superseded"; reason: string };

const SUSPEND_REASON = "coordinator stopped by SIGTERM (the job resumes when it is started again)";
const OUTAGE_SUFFIX = "; the journal and the uploads are kept: start the job again to resume it";

export async function serveJob(job: PlannedJob, options: ServeOptions): Promise<ExpoReport[]> {
  const { spec, plan } = job;
  const log = options.log;
  const identity = jobIdentity(spec, plan.inputVersions);
  // The lease lives in the first output's .expo area (where the journal lives unless --journal moves it): every
  // coordinator of a job writes there, whatever its journal.
  const leaseStorage = openStorage(`${(job.outputs[0] ?? { location: "." }).location}/.expo`, options.storage);
  const journalStorage = options.journal === undefined ? leaseStorage : openStorage(options.journal, options.storage);
  const leaseOptions = options.outputLease ?? { ttlMs: DEFAULT_OUTPUT_LEASE_TTL_MS, wait: true };
  const lifecycle = new JobLifecycle((from, to) => log.debug("job phase", { from, to }));
  let grpc: GrpcServer | undefined;
  let metrics: MetricsServer | undefined;
  // A stop asked for by a signal, by the local workers' exit or by the lease's loss; the first one counts.
  let stop: Stop | undefined;
  let stopWaiter = (_: Stop) => {};
  const stopRequested = new Promise<Stop>((resolve) => {
    stopWaiter = resolve;
  });
  const requestStop = (s: Stop) => {
    stop ??= s;
    stopWaiter(stop);
  };
  const outputLease = new OutputLease({
    storage: leaseStorage,
    jobId: identity.jobId,
    ttlMs: leaseOptions.ttlMs,
    log,
    // Found by a renewal: workers must go to the new owner (a gRPC outage sends them back to the Service).
    onLost: (e) => {
      grpc?.kill();
      requestStop({ kind: "superseded", reason: e.message });
    },
  });
  const waiting = new AbortController();
  let endLinger = () => {};
  const onSignal = (signal: JobSignal) => {
    const effect = signalEffect(lifecycle.phase, signal, options.onSigterm);
    if (lifecycle.phase === "acquiring") {
      requestStop({
        kind: "abort",
        reason: `interrupted by ${signal} while waiting for the output lease: nothing written`,
      });
      waiting.abort();
    } else if (effect === "abort") requestStop({ kind: "abort", reason: `interrupted by ${signal}: uploads aborted` });
    else if (effect === "suspend") {
      // Stop answering before the job is marked stopped: workers must see an outage and wait for the
      // restart, not a reply saying the job failed.
      grpc?.kill();
      requestStop({ kind: "suspend", reason: SUSPEND_REASON });
    } else if (effect === "endLinger") endLinger();
    else
      log.warn(
        `${signal} ignored while ${lifecycle.phase === "finalizing" ? "committing the output" : lifecycle.phase}`,
      );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const closeStorages = async () => {
    await closeJob(job);
    // After the outputs: the lease's folder goes last, once nothing else is in it.
    await journalStorage.close();
    if (leaseStorage !== journalStorage) await leaseStorage.close();
  };

  // acquiring: one coordinator per output; another one's lease is waited for (or refused with --no-wait).
  try {
    await outputLease.acquire(leaseOptions.wait, waiting.signal);
  } catch (e) {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    lifecycle.to("ended");
    await closeStorages();
    if (stop) throw new JobError(stop.reason);
    throw e;
  }
  lifecycle.to("opening");
  // Fencing: whatever this coordinator changes at the output or in its journal waits for the lease's check.
  const fence = () => outputLease.check();
  const outputs = job.outputs.map((o) => fencedStorage(o, fence));
  const fencedJob: PlannedJob = { ...job, outputs };
  const journal = new Journal(fencedStorage(journalStorage, fence).appendLog(JOURNAL_NAME), {
    ...(options.journalCompactAfter === undefined
      ? {}
      : { compactAfterRecords: options.journalCompactAfter, compactAfterFlushes: options.journalCompactAfter }),
  });
  /** Before the coordinator exists: the lease is released and everything closed. */
  const endEarly = async () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await journal.close();
    await outputLease.release().catch(() => outputLease.stop());
    lifecycle.to("ended");
    await closeStorages();
  };
  let resume: Resume | undefined;
  try {
    // Before anything is owned: a journal of another job (or of changed inputs) is refused with everything kept.
    const contents = await journal.read();
    resume = contents ? replayJournal(journal.where, contents, plan, identity) : undefined;
    // A coordinator that waited for the lease looks again: the one it waited for may have committed meanwhile.
    const committedNow = outputLease.waitedFor ? await Promise.all(job.outputs.map(holdsCommit)) : job.committed;
    if (
      !resume &&
      outputLease.waitedFor?.jobId === identity.jobId &&
      committedNow.length > 0 &&
      committedNow.every((c) => c)
    ) {
      // The same job (same spec, same inputs) was finished by the coordinator this one waited for.
      log.info(
        `job ${identity.jobId} was completed by the coordinator that held the output lease (${describeHolder(outputLease.waitedFor)}); nothing to do`,
        { jobId: identity.jobId },
      );
      const reports = await Promise.all(job.outputs.map(readReport));
      await endEarly();
      return reports;
    }
    // A committed output is refused unless --overwrite, or unless this job's journal is still there: then this
    // job made the commit, and a coordinator lost before it removed its journal left the rest to finish.
    const committed = committedNow.findIndex((c) => c);
    if (committed >= 0 && !resume && !spec.overwrite) {
      throw new UsageError(`${spec.outs[committed]}: already holds a checkpoint (use --overwrite to replace it)`);
    }
    if (resume && committedNow.length > 0 && committedNow.every((c) => c)) {
      // Every output holds its commit point and the journal is this job's: an earlier coordinator made the
      // commit and was lost while removing the journal (which may be partly gone, so its units cannot be
      // trusted to be complete). What is left to do is that removal and the strays; the reports are written.
      log.info(`job ${identity.jobId} was committed by an earlier coordinator; removing its journal`, {
        jobId: identity.jobId,
      });
      await journal.remove();
      await abortUploads(plan, outputs, []);
      const reports = await Promise.all(job.outputs.map(readReport));
      await endEarly();
      return reports;
    }
  } catch (e) {
    await endEarly();
    throw e;
  }
  const coordinator = new Coordinator(spec, plan, job.outputs, {
    jobId: identity.jobId,
    leaseTtlMs: options.leaseTtlMs,
    maxAttempts: options.maxAttempts,
    journal,
    // In this process only the journal writes to storage while units are served.
    journalStalled: () => options.storage.retry.inOutage,
  });
  options.onCoordinator?.(coordinator);
  coordinator.on("attemptFailed", (f) =>
    f.transient
      ? log.warn(`unit ${f.unitId} handed back, no attempt spent (storage unreachable): ${f.error}`)
      : log.warn(`unit ${f.unitId} attempt ${f.attempt} failed: ${f.error}`, { requeued: f.requeued }),
  );
  coordinator.on("unit", (r) => log.debug("unit done", { unitId: r.unitId }));
  coordinator.on("stale", (s) => log.debug("report for a lease no longer current ignored", { ...s }));

  void options.stopped?.then((reason) => requestStop({ kind: "abort", reason }));

  let reports: ExpoReport[];
  try {
    // opening: the journal's uploads and finished units, or new uploads and the journal's first record.
    if (resume) {
      await coordinator.start(resume);
      log.info(
        `resuming job ${identity.jobId} from ${journal.where}: ${resume.reports.size} of ${plan.units.length} units already done`,
        { jobId: identity.jobId, unitsDone: resume.reports.size },
      );
    } else {
      if (spec.overwrite) {
        // The old commit point goes first, so the folder never looks complete while it is rewritten.
        for (const o of outputs) for (const f of [INDEX_FILE, SINGLE_FILE]) await o.delete(f);
      }
      await coordinator.start();
      await journal.append({
        type: "start",
        version: 2,
        jobId: identity.jobId,
        specHash: identity.specHash,
        tool: TOOL,
        createdAt: new Date().toISOString(),
        inputs: plan.inputVersions,
        uploads: coordinator.uploadIds().map((u) => ({ ...u })),
      });
    }
    if (stop) throw stopError(stop);

    lifecycle.to("serving");
    // Loaded only when served: a local run has neither, and gRPC and prom-client cost start-up time.
    if (options.grpc) grpc = await (await import("./serveGrpc.js")).serveGrpc(coordinator, options.grpc);
    if (options.metrics) {
      const [{ coordinatorMetrics }, { serveMetrics }] = await Promise.all([
        import("./coordinatorMetrics.js"),
        import("../metrics/serveMetrics.js"),
      ]);
      metrics = await serveMetrics(
        coordinatorMetrics(coordinator, options.storage.retry),
        options.metrics.host,
        options.metrics.port,
      );
    }
    log.debug("coordinator serving", { jobId: identity.jobId, grpcPort: grpc?.port, metricsPort: metrics?.port });
    options.onServing?.(coordinator, { grpc: grpc?.port, metrics: metrics?.port });
    const outcome = await Promise.race([
      coordinator.finished.then((error) => ({ kind: "finished" as const, error })),
      stopRequested,
    ]);
    if (outcome.kind !== "finished") {
      coordinator.cancel(outcome.reason);
      throw stopError(outcome);
    }
    if (outcome.error !== undefined) {
      const cause = coordinator.journalFailure;
      throw cause instanceof StorageUnavailableError || cause instanceof LeaseLostError
        ? cause
        : new JobError(outcome.error);
    }

    lifecycle.to("finalizing");
    reports = await finalize(fencedJob, coordinator.reports, coordinator.uploadIds());
    coordinator.setOutcome("done");
    await journal.remove();
    // Uploads an earlier attempt left open under the shards' names (the job's own are complete now).
    await abortUploads(plan, outputs, []);
    // Nothing is written after the commit: the output is free for the next coordinator while this one lingers.
    await releaseLease();
  } catch (caught) {
    // Storage out for longer than --storage-timeout: nothing can be aborted or removed there now, and nothing
    // needs to be: like SIGTERM, the job is suspended with its journal and uploads, and a rerun resumes it.
    const e =
      caught instanceof StorageUnavailableError ? new SuspendedError(`${caught.message}${OUTAGE_SUFFIX}`) : caught;
    const message = e instanceof Error ? e.message : String(e);
    coordinator.setOutcome("failed", message);
    if (e instanceof LeaseLostError) {
      // Another coordinator owns the output now: its uploads, its journal. Nothing here is touched again.
      lifecycle.to("superseded");
      grpc?.kill();
      await shutdown(false);
      throw e;
    }
    if (e instanceof SuspendedError) {
      lifecycle.to("suspending");
      grpc?.kill();
    } else {
      lifecycle.to("aborting");
      await options.drainWorkers?.();
      const uploads = coordinator.uploadIds();
      await abortUploads(plan, outputs, uploads);
      await journal.remove().catch(() => undefined);
      if (grpc) await sleep(options.lingerMs);
      // A part upload that was in flight at the first abort can still land (S3): abort again.
      await abortUploads(plan, outputs, uploads);
    }
    await shutdown(true);
    // Refusals met before any data was written (e.g. no write permission when opening the uploads) stay usage errors.
    if (e instanceof JobError || e instanceof UsageError) throw e;
    throw new JobError(message);
  }
  // The output is committed: nothing below may turn the job into a failure.
  lifecycle.to("lingering");
  try {
    await options.drainWorkers?.();
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      endLinger = resolve;
      if (options.lingerMs > 0) timer = setTimeout(resolve, options.lingerMs);
      else resolve();
    });
    // Ended by a signal: the timer must not keep the process alive for the rest of the linger.
    clearTimeout(timer);
  } finally {
    await shutdown(true);
  }
  return reports;

  async function releaseLease(): Promise<void> {
    await outputLease.release().catch((e: unknown) => {
      outputLease.stop();
      log.warn(
        `the output lease on ${outputLease.where} could not be released (${e instanceof Error ? e.message : String(e)}): another coordinator takes the job over once it expires`,
      );
    });
  }

  /** `release`: give the output lease up (not when it was lost: it is another coordinator's now). */
  async function shutdown(release: boolean): Promise<void> {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    coordinator.close();
    // The job is over: what a worker still reports (a unit in hand when it stopped) is not logged after its end.
    coordinator.removeAllListeners();
    await Promise.all([grpc?.shutdown(), metrics?.close(), journal.close()]);
    if (release) await releaseLease();
    else outputLease.stop();
    await closeStorages();
    lifecycle.to("ended");
  }
}

function stopError(stop: Stop): Error {
  if (stop.kind === "superseded") return new LeaseLostError(stop.reason);
  return stop.kind === "suspend" ? new SuspendedError(stop.reason) : new JobError(stop.reason);
}

/** Whether an output holds its commit point (the index, or the single file). */
async function holdsCommit(output: Storage): Promise<boolean> {
  return ((await output.stat(INDEX_FILE)) ?? (await output.stat(SINGLE_FILE))) !== undefined;
}

async function readReport(output: Storage): Promise<ExpoReport> {
  return JSON.parse((await output.readSmall(REPORT_FILE)).toString("utf8")) as ExpoReport;
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
