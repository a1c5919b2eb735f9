import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "cli", "main.js");

export interface Measured {
  seconds: number;
  /** Peak resident set (VmHWM) in bytes, sampled from /proc while the process runs. */
  peakRss: number;
}

/** Runs the CLI in a child process; fails on a non-zero exit. */
export function runMeasured(args: string[]): Promise<Measured> {
  return measure([CLI, ...args]);
}

/** `run` on a make-example pair in `dir` (its sft and dpo folders) at α 0.3 into `out`, with `extra` flags. */
export function runPair(dir: string, out: string, extra: string[] = []): Promise<Measured> {
  return runMeasured([
    "run",
    "--base",
    join(dir, "sft"),
    "--aligned",
    join(dir, "dpo"),
    "--alpha",
    "0.3",
    "--out",
    out,
    ...extra,
  ]);
}

/** Runs the CLI of another build (its dist/cli/main.js) in a child process: builds compared in one session. */
export function runBuild(cli: string, args: string[]): Promise<Measured> {
  return measure([cli, ...args]);
}

/** Runs any program (another tool measured beside llm-expo) with extra environment variables. */
export function measureCommand(program: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Measured> {
  return measure(args, program, env);
}

/** Runs another compiled bench program (a file beside this one) in a child process. */
export function runProgram(file: string, args: string[]): Promise<Measured> {
  return measure([join(dirname(fileURLToPath(import.meta.url)), file), ...args]);
}

function measure(argv: string[], program = process.execPath, env: NodeJS.ProcessEnv = {}): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(program, argv, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } });
    let stderr = "";
    let peakRss = 0;
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    // Peak RSS of the whole process tree (`run` starts worker processes): each process's own peak
    // (VmHWM), summed. An upper bound of the tree's simultaneous peak.
    const peaks = new Map<number, number>();
    const sample = () => {
      for (const pid of tree(child.pid as number)) {
        try {
          const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
          if (m) peaks.set(pid, Math.max(peaks.get(pid) ?? 0, Number(m[1]) * 1024));
        } catch {
          // The process has exited between samples.
        }
      }
      peakRss = [...peaks.values()].reduce((a, b) => a + b, 0);
    };
    const timer = setInterval(sample, 20);
    child.on("close", (code) => {
      clearInterval(timer);
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0)
        reject(new Error(`${argv.slice(0, 2).join(" ")} exited ${code}: ${stderr.trim().split("\n").pop()}`));
      else resolve({ seconds, peakRss });
    });
  });
}

/** pid and its descendants, from /proc/<pid>/task/<tid>/children. */
function tree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) {
    try {
      for (const tid of readdirSync(`/proc/${all[i]}/task`)) {
        const kids = readFileSync(`/proc/${all[i]}/task/${tid}/children`, "utf8").trim();
        if (kids) all.push(...kids.split(" ").map(Number));
      }
    } catch {
      // exited
    }
  }
  return all;
}
