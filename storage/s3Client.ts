// One S3 client per endpoint configuration, shared by every S3 location in the process: keep-alive
// sockets sized to the concurrency, path-style where custom endpoints need it, and request
// checksums only where the API requires them (the SDK's newer default CRC headers break several
// S3-compatible servers).
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { S3Client } from "@aws-sdk/client-s3";

export interface S3Settings {
  endpoint?: string;
  forcePathStyle: boolean;
  region: string;
  maxSockets: number;
  /** Send SHA-256 part checksums to the server (x-amz-checksum-sha256). */
  partChecksums: boolean;
}

/** Settings from the environment (the CLI's --s3-* flags set these variables for child processes too). */
export function s3Settings(env: NodeJS.ProcessEnv = process.env): S3Settings {
  const endpoint = env.LLM_EXPO_S3_ENDPOINT || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const host = endpoint ? new URL(endpoint).hostname : "";
  const literalHost = host === "localhost" || /^[\d.]+$/.test(host) || host.startsWith("[");
  const pathStyle = env.LLM_EXPO_S3_PATH_STYLE;
  return {
    endpoint,
    forcePathStyle:
      pathStyle === undefined || pathStyle === "" ? literalHost : pathStyle === "true" || pathStyle === "1",
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1",
    maxSockets: Math.max(8, Number(env.LLM_EXPO_S3_MAX_SOCKETS) || 64),
    partChecksums: env.LLM_EXPO_S3_PART_CHECKSUMS !== "off",
  };
}

// The SDK warns that future releases need Node 22; this release (pinned in the lockfile) runs on 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const clients = new Map<string, S3Client>();

/** The shared client for these settings; the SDK is imported on first use. */
export async function s3Client(settings: S3Settings = s3Settings()): Promise<S3Client> {
  const key = JSON.stringify(settings);
  let client = clients.get(key);
  if (!client) {
    const [{ S3Client }, { NodeHttpHandler }] = await Promise.all([
      import("@aws-sdk/client-s3"),
      import("@smithy/node-http-handler"),
    ]);
    const agent = { keepAlive: true, maxSockets: settings.maxSockets };
    client = new S3Client({
      endpoint: settings.endpoint,
      forcePathStyle: settings.forcePathStyle,
      region: settings.region,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      // Standard retry mode retries throttling (503 SlowDown) and connection errors with backoff.
      retryMode: "standard",
      maxAttempts: 6,
      requestHandler: new NodeHttpHandler({
        httpAgent: new HttpAgent(agent),
        httpsAgent: new HttpsAgent(agent),
        connectionTimeout: 10_000,
        requestTimeout: 300_000,
      }),
    });
    clients.set(key, client);
  }
  return client;
}

export function destroyS3Clients(): void {
  for (const c of clients.values()) c.destroy();
  clients.clear();
}
