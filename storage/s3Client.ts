// One S3 client per endpoint configuration, shared by every S3 location in the process: keep-alive
// sockets sized to the concurrency, path-style where custom endpoints need it, and request
// checksums only where the API requires them (the SDK's newer default CRC headers break several
// S3-compatible servers).
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { S3Client } from "@aws-sdk/client-s3";
import type { S3Settings } from "./s3Settings.js";

// The SDK warns that future releases need Node 22; this release (pinned in the lockfile) runs on 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const clients = new Map<string, S3Client>();

/** The shared client for these settings; the SDK is imported on first use. */
export async function s3Client(settings: S3Settings): Promise<S3Client> {
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
      // One try per call: storage/storageRetry.ts retries (throttling, 5xx, connection errors) for every backend
      // alike, for as long as --storage-timeout, and tracks the outage; a second layer of retries here would
      // multiply the attempts and hide the outage from it.
      maxAttempts: 1,
      // Failures reach the caller as errors (described in storage/s3Errors.ts); the SDK's own log stays silent
      // but for its warnings. Not the one on every failed streaming upload (a part sent as several chunks): it
      // says the SDK cannot retry it, and storage/storageRetry.ts retries the whole write with a fresh stream.
      logger: {
        debug: () => {},
        info: () => {},
        error: () => {},
        warn: (...content: unknown[]) => {
          if (!String(content[0]).includes("non-retryable streaming request")) console.warn(...content);
        },
      },
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
