// The coordinator's gRPC server: the lease protocol (proto/llm_expo/v1) with the shared token
// checked on every call, and the standard health service (unauthenticated, for probes).
import { createHash, timingSafeEqual } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { COORDINATOR_SERVICE, coordinatorDefinition, healthDefinition } from "../proto/serviceDefinitions.js";
import {
  jobContextToWire,
  leaseReplyToWire,
  reportFromWire,
  stateToWire,
  statusToWire,
  type WireUnitReport,
} from "../proto/wire.js";
import type { Coordinator } from "./coordinator.js";

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** Client certificates signed by this CA are required (mutual TLS). */
  clientCa?: Buffer;
}

export interface GrpcServeOptions {
  /** host:port; port 0 picks a free one. */
  listen: string;
  /** undefined: no authentication (only where explicitly allowed). */
  token?: string;
  tls?: TlsFiles;
}

export interface GrpcServer {
  /** The port actually bound. */
  port: number;
  /** Stops once the calls in flight are answered (forced after 2 s). */
  shutdown(): Promise<void>;
  /** Stops at once: calls in flight are cancelled, so clients see an outage rather than an answer. */
  kill(): void;
}

type Handler = (request: never, worker: string) => Promise<unknown>;

export async function serveGrpc(coordinator: Coordinator, options: GrpcServeOptions): Promise<GrpcServer> {
  const server = new grpc.Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024 });
  const expected = options.token === undefined ? undefined : digest(options.token);
  const authorized = (metadata: grpc.Metadata): boolean => {
    if (!expected) return true;
    const value = metadata.get("authorization")[0];
    const given = typeof value === "string" && value.startsWith("Bearer ") ? value.slice(7) : "";
    return timingSafeEqual(digest(given), expected);
  };
  const unary =
    (handler: Handler): grpc.handleUnaryCall<unknown, unknown> =>
    (call, callback) => {
      if (!authorized(call.metadata)) {
        callback({ code: grpc.status.UNAUTHENTICATED, details: "missing or wrong token" });
        return;
      }
      const request = call.request as { workerId?: string; jobId?: string };
      if (request.jobId && request.jobId !== coordinator.jobId) {
        callback({
          code: grpc.status.FAILED_PRECONDITION,
          details: `this coordinator runs job ${coordinator.jobId}, not ${request.jobId}`,
        });
        return;
      }
      handler(call.request as never, request.workerId || call.getPeer()).then(
        (reply) => callback(null, reply),
        (e: unknown) => callback({ code: grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e) }),
      );
    };
  const state = () => stateToWire(coordinator.state);
  const handlers: Record<string, Handler> = {
    DescribeJob: async (_r, worker) => jobContextToWire(await coordinator.describeJob(worker)),
    Lease: async (_r, worker) => leaseReplyToWire(await coordinator.lease(worker)),
    Heartbeat: async (r: { leaseId: string }, worker) => ({
      current: await coordinator.heartbeat(r.leaseId, worker),
      state: state(),
    }),
    Complete: async (r: { leaseId: string; report: WireUnitReport; leaseNext: boolean }, worker) => {
      const { accepted, next } = await coordinator.complete({
        workerId: worker,
        leaseId: r.leaseId,
        report: reportFromWire(r.report),
        leaseNext: r.leaseNext,
      });
      return { accepted, state: state(), ...(next ? { next: leaseReplyToWire(next) } : {}) };
    },
    Fail: async (r: { leaseId: string; error: string; retryable: boolean; transient: boolean }, worker) => ({
      accepted: await coordinator.fail({
        workerId: worker,
        leaseId: r.leaseId,
        error: r.error,
        retryable: r.retryable,
        transient: r.transient,
      }),
      state: state(),
    }),
    Status: async () => statusToWire(coordinator.status()),
  };
  server.addService(
    coordinatorDefinition,
    Object.fromEntries(Object.entries(handlers).map(([name, h]) => [name, unary(h)])),
  );
  server.addService(healthDefinition, healthService());

  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(
        options.tls.clientCa ?? null,
        [{ private_key: options.tls.key, cert_chain: options.tls.cert }],
        options.tls.clientCa !== undefined,
      )
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.listen, credentials, (e, p) => (e ? reject(listenError(options.listen, e)) : resolve(p))),
  );
  return {
    port,
    kill: () => server.forceShutdown(),
    shutdown: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

const SERVING = 1;

/** grpc.health.v1: SERVING for the whole server ("") and the coordinator service while it serves. */
function healthService(): grpc.UntypedServiceImplementation {
  const known = (service: string) => service === "" || service === COORDINATOR_SERVICE;
  return {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      if (!known(call.request.service)) {
        callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
        return;
      }
      callback(null, { status: SERVING });
    },
    Watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
      // The status never changes while the server runs: send it once and hold the stream open.
      call.write({ status: known(call.request.service) ? SERVING : 3 });
    },
  };
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

function listenError(listen: string, e: Error): Error {
  return new Error(`cannot listen on ${listen}: ${e.message}`);
}
