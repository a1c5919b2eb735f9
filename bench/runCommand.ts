import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
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

/** Runs another compiled bench program (a file beside this one) in a child process. */
export function runProgram(file: string, args: string[]): Promise<Measured> {
  return measure([join(dirname(fileURLToPath(import.meta.url)), file), ...args]);
}

function measure(argv: string[]): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, argv, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let peakRss = 0;
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const sample = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        if (m) peakRss = Math.max(peakRss, Number(m[1]) * 1024);
      } catch {
        // The process has exited between samples.
      }
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
