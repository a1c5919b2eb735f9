// One job's coordinator from start to end: resume from the journal or open the uploads, serve the
// lease protocol over gRPC (and metrics), wait for the units, then commit the output (finalize) or
// abort it. `llm-expo coordinator` runs this for a cluster; `llm-expo run` for its local worker
// processes.
import { JobError, UsageError } from "../checkpoint/errors.js";
import { INDEX_FILE, SINGLE_FILE } from "../checkpoint/types.js";
import type { Logger } from "../cli/logger.js";
import { type MetricsServer, serveMetrics } from "../metrics/serveMetrics.js";
import type { ExpoReport } from "./buildReport.js";
import { Coordinator } from "./coordinator.js";
import { coordinatorMetrics } from "./coordinatorMetrics.js";
import { abortUploads, finalize } from "./finalize.js";
import { jobIdentity } from "./jobIdentity.js";
import { Journal } from "./journal.js";
import type { AttemptFailure } from "./leaseTable.js";
import { TOOL } from "./planJob.js";
import type { PreparedJob } from "./prepareJob.js";
import { replayJournal } from "./replayJournal.js";
import { type GrpcServer, serveGrpc, type TlsFiles } from "./serveGrpc.js";

export interface ServeOptions {
  /** gRPC host:port (port 0: any free port). */
  listen: string;
  token?: string;
  tls?: TlsFiles;
  /** /metrics on host:port (port 0: any free port); none when undefined. */
  metrics?: { host: string; port: number };
  /** Folder or S3 prefix of the journal; default <first output>/.expo */
  journal?: string;
  leaseTtlMs: number;
  maxAttempts: number;
  /** Keep serving this long after the outcome: late workers learn it, Prometheus scrapes the end. */
  lingerMs: number;
  /** SIGTERM: "abort" the job (local runs), or "suspend" it: stop serving, keep journal and uploads. */
  onSigterm: "abort" | "suspend";
  log: Logger;
  onListening?: (ports: { grpc: number; metrics?: number }) => void;
  onCoordinator?: (c: Coordinator) => void;
  /** Resolves with a reason when the job can no longer finish (e.g. every local worker exited). */
  stopped?: Promise<string>;
  /**
   * Awaited once the outcome is known, while the server still answers (e.g. until local workers have
   * learnt it and exited): before uploads are aborted, and after the commit before shutting down.
   */
  drainWorkers?: () => Promise<void>;
}

/** Thrown when SIGTERM suspended the job: journal and uploads are kept for a restart. */
export class SuspendedError extends JobError {}

export async function serveJob(job: PreparedJob, options: ServeOptions): Promise<ExpoReport[]> {
  const { spec, plan } = job;
  const log = options.log;
  const identity = jobIdentity(spec, plan.inputVersions);
  const journal = Journal.open(options.journal ?? `${(job.outputs[0] ?? { location: "." }).location}/.expo`);
  const records = await journal.read();
  const resume = records?.length ? replayJournal(journal.where, records, plan, identity) : undefined;
  const coordinator = new Coordinator(spec, plan, job.outputs, {
    jobId: identity.jobId,
    leaseTtlMs: options.leaseTtlMs,
    maxAttempts: options.maxAttempts,
    journal,
  });
  options.onCoordinator?.(coordinator);
  coordinator.on("attemptFailed", (f: AttemptFailure) =>
    log.warn(`unit ${f.unitId} attempt ${f.attempt} failed: ${f.error}`, { requeued: f.requeued }),
  );
  coordinator.on("unit", (r: { unitId: number }) => log.debug("unit done", { unitId: r.unitId }));
  coordinator.on("stale", (s: { unitId?: number; workerId: string }) =>
    log.debug("report for a lease no longer current ignored", s),
  );
  let suspended = false;
  let grpc: GrpcServer | undefined;
  let metrics: MetricsServer | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signal === "SIGTERM" && options.onSigterm === "suspend") {
      suspended = true;
      // Stop answering before the job is marked stopped: workers must see an outage and wait for the
      // restart, not a reply saying the job failed.
      grpc?.kill();
      coordinator.cancel("coordinator stopped by SIGTERM (the job resumes when it is started again)");
    } else {
      coordinator.cancel(`interrupted by ${signal}: uploads aborted`);
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    if (resume) {
      await coordinator.start(resume);
      log.info(
        `resuming job ${identity.jobId} from ${journal.where}: ${resume.reports.size} of ${plan.units.length} units already done`,
        {
          jobId: identity.jobId,
          unitsDone: resume.reports.size,
        },
      );
    } else {
      if (spec.overwrite) {
        // The old commit point goes first, so the folder never looks complete while it is rewritten.
        for (const o of job.outputs) for (const f of [INDEX_FILE, SINGLE_FILE]) await o.delete(f);
      }
      await coordinator.start();
      await journal.append({
        type: "start",
        version: 1,
        jobId: identity.jobId,
        specHash: identity.specHash,
        tool: TOOL,
        createdAt: new Date().toISOString(),
        inputs: plan.inputVersions,
        uploads: coordinator.uploadIds(),
      });
    }
    // A SIGTERM while the uploads were being opened: suspend without ever serving.
    if (suspended) throw new SuspendedError((await coordinator.finished) ?? "coordinator stopped by SIGTERM");
    grpc = await serveGrpc(coordinator, { listen: options.listen, token: options.token, tls: options.tls });
    if (options.metrics) {
      const registry = coordinatorMetrics(coordinator, job.aligned);
      metrics = await serveMetrics(registry, options.metrics.host, options.metrics.port);
    }
    log.debug("coordinator listening", { jobId: identity.jobId, grpcPort: grpc.port, metricsPort: metrics?.port });
    options.onListening?.({ grpc: grpc.port, metrics: metrics?.port });
    void options.stopped?.then((reason) => coordinator.cancel(reason));

    const failure = await coordinator.finished;
    if (failure) {
      if (suspended) throw new SuspendedError(failure);
      throw new JobError(failure);
    }
    const reports = await finalize(coordinator, job.aligned, job.base);
    coordinator.setOutcome("done");
    await journal.remove();
    await options.drainWorkers?.();
    await linger(options.lingerMs);
    return reports;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    coordinator.setOutcome("failed", message);
    if (!(e instanceof SuspendedError)) {
      await options.drainWorkers?.();
      await abortUploads(coordinator);
      await journal.remove().catch(() => undefined);
      if (grpc) await linger(options.lingerMs);
      // A part upload that was in flight at the first abort can still land (S3): abort again.
      await abortUploads(coordinator);
    }
    // Refusals met before any data was written (e.g. no write permission when opening the uploads) stay usage errors.
    if (e instanceof JobError || e instanceof UsageError) throw e;
    throw new JobError(message);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    coordinator.close();
    await Promise.all([grpc?.shutdown(), metrics?.close(), journal.close()]);
    await Promise.all([job.aligned.storage.close(), job.base.storage.close(), ...job.outputs.map((o) => o.close())]);
  }
}

function linger(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
