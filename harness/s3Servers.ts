// Real S3 servers on 127.0.0.1 for the integration suite: s3rver (from npm, always available) and
// MinIO (built by .ci/run with `go install`; found through MINIO_BIN or ~/.cache/llm-expo/bin).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { StorageSettings } from "../storage/s3Settings.js";
import { StorageRetry } from "../storage/storageRetry.js";
import { createBuckets, createReadOnlyUser, findTool } from "./minioAdmin.js";

/** How this process reaches the server from inside (openStorage), as the CLI would from the server's env. */
export function s3StorageSettings(server: S3Server): StorageSettings {
  return {
    s3: { endpoint: server.endpoint, forcePathStyle: true, region: "us-east-1", maxSockets: 64, partChecksums: true },
    retry: new StorageRetry({ timeoutMs: 30_000 }),
  };
}

export interface S3Server {
  name: "s3rver" | "minio";
  endpoint: string;
  /** Environment for a client with full access. */
  env: Record<string, string>;
  /** Environment for a client that may only read (MinIO only). */
  readOnlyEnv?: Record<string, string>;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

export async function startS3rver(buckets: string[]): Promise<S3Server> {
  const dir = await mkdtemp(join(tmpdir(), "llm-expo-s3rver-"));
  const bin = join(dirname(require.resolve("s3rver/package.json")), "bin", "s3rver.js");
  const args = [
    "--openssl-legacy-provider",
    bin,
    "-d",
    dir,
    "-a",
    "127.0.0.1",
    "-p",
    "0",
    ...buckets.flatMap((b) => ["--configure-bucket", b]),
  ];
  // s3rver's list-objects continuation tokens use a cipher OpenSSL 3 keeps in its legacy provider.
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const onData = (d: Buffer) => {
      out += d;
      const m = /listening on [\d.]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", (code) => reject(new Error(`s3rver exited ${code}: ${out}`)));
  });
  child.stdout?.resume();
  child.stderr?.resume();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    name: "s3rver",
    endpoint,
    env: {
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: "us-east-1",
    },
    stop: () => stopProcess(child, dir),
  };
}

/** MinIO, which a test may also kill -9 and start again on the same port and data folder. */
export interface MinioServer extends S3Server {
  name: "minio";
  port: number;
  /** kill -9; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data folder; resolves once it answers its readiness probe. */
  restart(): Promise<void>;
}

/**
 * MinIO on a port the kernel picks (--address 127.0.0.1:0, read back from its "API:" line): no two test
 * processes on the machine can be handed the same one, as they could when each drew one at random from a range.
 */
export async function startMinio(buckets: string[]): Promise<MinioServer | undefined> {
  const bin = findTool("MINIO_BIN", "minio");
  if (!bin) return undefined;
  const dir = await mkdtemp(join(tmpdir(), "llm-expo-minio-"));
  const root = { user: "expoadmin", password: "expoadmin-secret" };
  const env = { ...process.env, MINIO_ROOT_USER: root.user, MINIO_ROOT_PASSWORD: root.password, MINIO_BROWSER: "off" };
  const launch = (port: number) => {
    const child = spawn(bin, ["server", "--address", `127.0.0.1:${port}`, join(dir, "data")], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const listening = new Promise<number>((resolve, reject) => {
      const onData = (d: Buffer) => {
        out += d;
        const m = /API: http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.on("exit", (code, signal) => reject(new Error(`MinIO exited (${signal ?? code}): ${out.slice(-2000)}`)));
    });
    // Not awaited when MinIO is killed later on: that rejection is expected.
    listening.catch(() => undefined);
    return { child, listening };
  };
  let current = launch(0);
  const port = await current.listening;
  const endpoint = `http://127.0.0.1:${port}`;
  const ready = async () => {
    for (let i = 0; ; i++) {
      if (current.child.exitCode !== null || current.child.signalCode !== null) await current.listening;
      const ok = await fetch(`${endpoint}/minio/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (i > 600) throw new Error("MinIO did not become ready in 60 s");
      await sleep(100);
    }
  };
  await ready();
  const clientEnv = {
    AWS_ACCESS_KEY_ID: root.user,
    AWS_SECRET_ACCESS_KEY: root.password,
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: "us-east-1",
  };
  await createBuckets(clientEnv, buckets);
  const readOnly = await createReadOnlyUser(endpoint, root);
  const kill = async () => {
    const { child } = current;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  };
  return {
    name: "minio",
    port,
    endpoint,
    env: clientEnv,
    readOnlyEnv: { ...clientEnv, AWS_ACCESS_KEY_ID: readOnly.user, AWS_SECRET_ACCESS_KEY: readOnly.password },
    kill,
    restart: async () => {
      await kill();
      // The port was MinIO's until a moment ago; another process binding it in between is possible but
      // unlikely (the kernel hands out ports at random and skips those with connections in TIME_WAIT). A
      // start that finds it taken is tried again for a while.
      for (let attempt = 0; ; attempt++) {
        current = launch(port);
        try {
          await current.listening;
          break;
        } catch (e) {
          if (attempt >= 50 || !/address already in use/i.test((e as Error).message)) throw e;
          await sleep(200);
        }
      }
      await ready();
    },
    stop: async () => {
      await stopProcess(current.child, dir);
    },
  };
}

async function stopProcess(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
  await rm(dir, { recursive: true, force: true });
}
