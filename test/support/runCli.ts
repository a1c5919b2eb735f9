import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "cli", "main.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `llm-expo` binary (compiled) in a child process. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The arguments of a job command: `command --base B --aligned A [--alpha α --out O]`. */
export function jobArgs(command: string, base: string, aligned: string, out?: string, alpha = "0.3"): string[] {
  return [
    command,
    "--base",
    base,
    "--aligned",
    aligned,
    ...(out === undefined ? [] : ["--alpha", alpha, "--out", out]),
  ];
}
