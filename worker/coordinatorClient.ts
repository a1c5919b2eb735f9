// The worker's side of the lease protocol: LeaseService over gRPC. Rides out a coordinator restart:
// calls that find it unreachable are retried with backoff for up to `timeoutMs`, and carry on with
// the restarted coordinator as long as it runs the same job. Once the coordinator has said every unit
// is done, its disappearance means the job is over, not an outage.
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { JobError, UsageError } from "../core/errors.js";
import type {
  CompleteRequest,
  CompleteResult,
  FailRequest,
  JobContext,
  JobState,
  JobStatus,
  LeaseReply,
  LeaseService,
} from "../core/leaseService.js";
import { coordinatorDefinition } from "../proto/serviceDefinitions.js";
import {
  jobContextFromWire,
  leaseReplyFromWire,
  reportToWire,
  stateFromWire,
  statusFromWire,
  type WireJobContext,
  type WireLeaseReply,
  type WireStatus,
} from "../proto/wire.js";

export interface ClientTls {
  /** CA that signed the coordinator's certificate (default: the system's roots). */
  ca?: Buffer;
  /** A client certificate, for coordinators that require one. */
  cert?: Buffer;
  key?: Buffer;
  /** The name the coordinator's certificate carries, when it differs from the address's host. */
  serverName?: string;
}

export interface ClientOptions {
  /** host:port */
  address: string;
  token?: string;
  tls?: ClientTls;
  /** How long the coordinator may stay unreachable before the worker gives up. */
  timeoutMs: number;
  /** Told about each outage once, when it starts and when it ends. */
  onOutage?: (message: string) => void;
  /**
   * Extra grpc-js channel options, e.g. `{ "grpc.use_local_subchannel_pool": 1 }` so that clients in one
   * process open connections of their own instead of sharing one.
   */
  channelOptions?: grpc.ChannelOptions;
}

const CALL_DEADLINE_MS = 30_000;
const RETRYABLE = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.CANCELLED,
]);

export class CoordinatorClient implements LeaseService {
  private readonly client: grpc.Client;
  private readonly metadata = new grpc.Metadata();
  private jobId = "";
  private lastState: JobState = "running";

  constructor(private readonly options: ClientOptions) {
    const credentials = options.tls
      ? grpc.credentials.createSsl(options.tls.ca ?? null, options.tls.key ?? null, options.tls.cert ?? null)
      : grpc.credentials.createInsecure();
    this.client = new grpc.Client(options.address, credentials, {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2000,
      "grpc.keepalive_time_ms": 30_000,
      ...(options.tls?.serverName ? { "grpc.ssl_target_name_override": options.tls.serverName } : {}),
      ...options.channelOptions,
    });
    if (options.token !== undefined) this.metadata.set("authorization", `Bearer ${options.token}`);
  }

  async describeJob(workerId: string): Promise<JobContext> {
    const reply = await this.call<WireJobContext>("DescribeJob", { workerId });
    if (!reply) throw new JobError(`coordinator at ${this.options.address} has finished the job and is gone`);
    const context = jobContextFromWire(reply);
    this.jobId = context.jobId;
    return context;
  }

  async lease(workerId: string): Promise<LeaseReply> {
    const reply = await this.call<WireLeaseReply>("Lease", { workerId, jobId: this.jobId });
    if (!reply) return { kind: "done" };
    const lease = leaseReplyFromWire(reply);
    if (lease.kind === "done") this.lastState = "finalizing";
    return lease;
  }

  async heartbeat(leaseId: string, workerId: string): Promise<boolean> {
    const reply = await this.call<{ current: boolean; state: number }>("Heartbeat", { leaseId, workerId });
    return this.noteState(reply)?.current ?? false;
  }

  async complete({ leaseId, report, workerId, leaseNext }: CompleteRequest): Promise<CompleteResult> {
    const reply = await this.call<{ accepted: boolean; state: number; next?: WireLeaseReply | null }>("Complete", {
      leaseId,
      workerId,
      report: reportToWire(report),
      leaseNext,
    });
    // Gone after the job's units were all done: nothing more to lease.
    if (!reply) return { accepted: false, ...(leaseNext ? { next: { kind: "done" as const } } : {}) };
    this.noteState(reply);
    if (!leaseNext || !reply.next) return { accepted: reply.accepted };
    const next = leaseReplyFromWire(reply.next);
    if (next.kind === "done") this.lastState = "finalizing";
    return { accepted: reply.accepted, next };
  }

  async fail({ leaseId, error, retryable, transient, workerId }: FailRequest): Promise<boolean> {
    const reply = await this.call<{ accepted: boolean; state: number }>("Fail", {
      leaseId,
      workerId,
      error,
      retryable,
      transient: transient === true,
    });
    return this.noteState(reply)?.accepted ?? false;
  }

  async status(): Promise<JobStatus> {
    const reply = await this.call<WireStatus>("Status", {});
    if (!reply) throw new JobError(`coordinator at ${this.options.address} has finished the job and is gone`);
    return statusFromWire(reply);
  }

  close(): void {
    this.client.close();
  }

  private noteState<T extends { state: number }>(reply: T | undefined): T | undefined {
    const state = reply && stateFromWire(reply.state);
    if (state) this.lastState = state;
    return reply;
  }

  /** One unary call with retries; undefined when the coordinator is gone after the job's units were all done. */
  private async call<T>(method: string, request: object): Promise<T | undefined> {
    const m = coordinatorDefinition[method];
    if (!m) throw new Error(`no method ${method}`);
    const address = this.options.address;
    let outageStart: number | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        const reply = await new Promise<T>((resolve, reject) =>
          this.client.makeUnaryRequest(
            m.path,
            m.requestSerialize,
            m.responseDeserialize,
            request,
            this.metadata,
            { deadline: Date.now() + CALL_DEADLINE_MS },
            (e, v) => (e ? reject(e) : resolve(v as T)),
          ),
        );
        if (outageStart !== undefined) this.options.onOutage?.(`coordinator at ${address} reachable again`);
        return reply;
      } catch (e) {
        const err = e as grpc.ServiceError;
        if (err.code === grpc.status.UNAUTHENTICATED) {
          throw new UsageError(
            `coordinator at ${address} refused this worker: ${err.details} (check --token-file or LLM_EXPO_TOKEN)`,
          );
        }
        if (err.code === grpc.status.FAILED_PRECONDITION)
          throw new JobError(`coordinator at ${address}: ${err.details}`);
        if (!RETRYABLE.has(err.code)) throw new JobError(`coordinator at ${address}: ${method}: ${err.details}`);
        if (this.lastState !== "running") return undefined;
        const now = Date.now();
        if (outageStart === undefined) {
          outageStart = now;
          this.options.onOutage?.(`coordinator at ${address} unreachable (${err.details}); retrying`);
        }
        if (now - outageStart >= this.options.timeoutMs) {
          throw new JobError(
            `coordinator at ${address} unreachable for ${Math.round((now - outageStart) / 1000)} s: ${err.details}`,
          );
        }
        await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2));
      }
    }
  }
}
