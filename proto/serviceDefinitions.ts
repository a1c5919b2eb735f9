// The gRPC service definitions of proto/, built from the .proto files with protobufjs at start-up
// (no generated code to keep in step): grpc-js serves and calls them, and the messages cross the
// boundary as the plain objects typed in wire.ts.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import protobuf from "protobufjs";

/** proto/ in the source tree; the compiled module sits in dist/proto/. */
const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "proto");

export const COORDINATOR_SERVICE = "llm_expo.v1.Coordinator";
export const HEALTH_SERVICE = "grpc.health.v1.Health";

const root = protobuf.loadSync([
  join(PROTO_DIR, "llm_expo", "v1", "coordinator.proto"),
  join(PROTO_DIR, "grpc", "health", "v1", "health.proto"),
]);
root.resolveAll();

// Decoded messages as plain objects: 64-bit integers as numbers (sizes and offsets stay far below
// 2^53), enums as numbers, every field present, and a oneof's member named in its group field.
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: Number, defaults: true, oneofs: true };

function method(service: protobuf.Service, name: string): MethodDefinition<unknown, unknown> {
  const m = service.methods[name];
  if (!m?.resolvedRequestType || !m.resolvedResponseType) throw new Error(`${service.fullName}.${name} not resolved`);
  const request = m.resolvedRequestType;
  const response = m.resolvedResponseType;
  return {
    path: `/${service.fullName.replace(/^\./, "")}/${name}`,
    requestStream: Boolean(m.requestStream),
    responseStream: Boolean(m.responseStream),
    // Encoded straight from the plain objects (wire.ts gives every field its proto type: numbers for
    // 64-bit integers and enums, Buffers for bytes): fromObject() would copy each message first.
    requestSerialize: (v: unknown) => Buffer.from(request.encode(v as protobuf.Message).finish()),
    requestDeserialize: (b: Buffer) => request.toObject(request.decode(b), TO_OBJECT),
    responseSerialize: (v: unknown) => Buffer.from(response.encode(v as protobuf.Message).finish()),
    responseDeserialize: (b: Buffer) => response.toObject(response.decode(b), TO_OBJECT),
    originalName: name,
  };
}

function definition(fullName: string): ServiceDefinition {
  const service = root.lookupService(fullName);
  return Object.fromEntries(Object.keys(service.methods).map((name) => [name, method(service, name)]));
}

export const coordinatorDefinition = definition(COORDINATOR_SERVICE);
export const healthDefinition = definition(HEALTH_SERVICE);
