// `llm-expo run` and `demo` on one machine: the coordinator in this process, N `llm-expo worker`
// processes talking to it over loopback gRPC with a one-time token: the code a cluster runs.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { Coordinator } from "../coordinator/coordinator.js";
import { serveJob } from "../coordinator/serveJob.js";
import type { DeviceChoice } from "../core/device.js";
import type { Logger, LogLevel } from "../core/logger.js";
import type { ExpoReport } from "../core/report.js";
import type { PreparedJob } from "../plan/prepareJob.js";
import type { StorageSettings } from "../storage/s3Settings.js";
import { TOKEN_ENV } from "./connectionOptions.js";
import { storageFlags } from "./globalOptions.js";
import { followProgress } from "./progressBar.js";

export interface LocalRunOptions {
  workers: number;
  concurrency: number;
  device: DeviceChoice;
  storage: StorageSettings;
  log: Logger;
  logLevel: LogLevel;
  maxAttempts?: number;
  leaseTtlMs?: number;
  journal?: string;
  metricsPort?: number;
  onCoordinator?: (c: Coordinator) => void;
  /** A progress bar (terminal) or progress log lines while the job runs. */
  progress?: boolean;
}

const CLI = fileURLToPath(new URL("./main.js", import.meta.url));
/** How long workers get to exit by themselves once the job has ended. */
const EXIT_GRACE_MS = 10_000;

export async function runWithWorkers(job: PreparedJob, options: LocalRunOptions): Promise<ExpoReport[]> {
  const token = randomBytes(32).toString("hex");
  const children: ChildProcess[] = [];
  const exits: Array<Promise<string>> = [];
  let allExited!: (reason: string) => void;
  const stopped = new Promise<string>((resolve) => {
    allExited = resolve;
  });
  const spawnWorkers = (port: number) => {
    for (let i = 0; i < options.workers; i++) {
      const child = spawn(
        process.execPath,
        [
          ...process.execArgv,
          CLI,
          "worker",
          "--coordinator",
          `127.0.0.1:${port}`,
          "--worker-id",
          `local-${i}`,
          "--concurrency",
          String(options.concurrency),
          "--device",
          options.device,
          "--coordinator-timeout",
          "30",
          "--log-level",
          options.logLevel === "debug" ? "debug" : "warn",
          ...storageFlags(options.storage),
          ...(options.log.json ? ["--json"] : []),
        ],
        { env: { ...process.env, [TOKEN_ENV]: token }, stdio: ["ignore", "ignore", "pipe"] },
      );
      let lastLine = "";
      child.stderr?.on("data", (d: Buffer) => {
        process.stderr.write(d);
        const lines = d.toString().trim().split("\n");
        lastLine = lines.at(-1) ?? lastLine;
      });
      children.push(child);
      exits.push(
        new Promise((resolve) =>
          child.on("exit", (code, signal) =>
            resolve(`worker ${i} ${signal ? `killed by ${signal}` : `exit ${code}`}${lastLine ? `: ${lastLine}` : ""}`),
          ),
        ),
      );
    }
    void Promise.all(exits).then((why) => allExited(`all ${why.length} worker process(es) exited: ${why.at(-1)}`));
  };
  const waitForWorkers = async () => {
    const timer = setTimeout(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    }, EXIT_GRACE_MS);
    await Promise.all(exits);
    clearTimeout(timer);
  };
  let stopProgress = () => {};
  try {
    const reports = await serveJob(job, {
      listen: "127.0.0.1:0",
      token,
      leaseTtlMs: options.leaseTtlMs ?? 60_000,
      maxAttempts: options.maxAttempts ?? 3,
      ...(options.journal === undefined ? {} : { journal: options.journal }),
      ...(options.metricsPort === undefined ? {} : { metrics: { host: "127.0.0.1", port: options.metricsPort } }),
      storage: options.storage,
      lingerMs: 0,
      onSigterm: "abort",
      log: options.log,
      onListening: ({ grpc }) => spawnWorkers(grpc),
      onCoordinator: (c) => {
        if (options.progress) stopProgress = followProgress(c, options.log);
        options.onCoordinator?.(c);
      },
      stopped,
      drainWorkers: waitForWorkers,
    });
    return reports;
  } finally {
    stopProgress();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
}
