// Coordinator and worker processes of the real CLI for multi-process tests: started with JSON logs,
// their log lines collected, their ports read from the "listening"/"ready" lines.
import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { CLI } from "./runCli.js";

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

export class CliProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stderr = "";
  stdout = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [CLI, ...args, "--json", "--log-level", "debug"], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let partial = "";
    this.child.stderr?.on("data", (d: Buffer) => {
      this.stderr += d;
      partial += d;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) {
        try {
          this.lines.push(JSON.parse(l) as LogLine);
        } catch {
          this.lines.push({ level: "raw", msg: l });
        }
      }
    });
    this.child.stdout?.on("data", (d: Buffer) => {
      this.stdout += d;
    });
    this.exited = new Promise((resolve) => this.child.on("exit", (code, signal) => resolve({ code, signal })));
  }

  /** The first log line matching, waiting up to timeoutMs. */
  async waitFor(match: (l: LogLine) => boolean, timeoutMs = 30_000, what = "a log line"): Promise<LogLine> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null || Date.now() > end) {
        throw new Error(`no ${what} (exit ${this.child.exitCode ?? this.child.signalCode}); stderr:\n${this.stderr}`);
      }
      await sleep(20);
    }
  }

  count(match: (l: LogLine) => boolean): number {
    return this.lines.filter(match).length;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** `llm-expo coordinator` on 127.0.0.1 (port 0 unless given), once it listens. */
export async function startCoordinator(
  jobArgs: string[],
  options: { port?: number; metrics?: boolean; env?: NodeJS.ProcessEnv; extra?: string[]; readyMs?: number } = {},
): Promise<{ proc: CliProcess; grpcPort: number; metricsPort?: number }> {
  const proc = new CliProcess(
    [
      "coordinator",
      ...jobArgs,
      "--listen",
      `127.0.0.1:${options.port ?? 0}`,
      ...(options.metrics ? ["--metrics-port", "0", "--metrics-host", "127.0.0.1"] : []),
      // A coordinator restarted after a kill -9 waits out its predecessor's output lease: 2 s, not 30.
      "--output-lease-ttl",
      "2",
      ...(options.extra ?? []),
    ],
    options.env,
  );
  const line = await proc.waitFor(
    (l) => l.msg === "coordinator listening",
    options.readyMs ?? 60_000,
    "coordinator listening line",
  );
  return {
    proc,
    grpcPort: line.grpcPort as number,
    ...(typeof line.metricsPort === "number" ? { metricsPort: line.metricsPort } : {}),
  };
}

/** `llm-expo worker` against 127.0.0.1:port. */
export function startWorker(port: number, extra: string[] = [], env: NodeJS.ProcessEnv = {}): CliProcess {
  return new CliProcess(["worker", "--coordinator", `127.0.0.1:${port}`, ...extra], env);
}
