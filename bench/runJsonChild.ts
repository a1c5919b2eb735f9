// Runs another compiled bench program (a file beside this one) as a process of its own and returns the JSON
// line it prints last: how the benchmarks measure a side (a load generator, a fresh coordinator) apart from
// the process that drives them.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export function runJsonChild<T>(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<T> {
  const program = join(dirname(fileURLToPath(import.meta.url)), file);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, program, ...args], {
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
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`${file} exited ${code}: ${stderr.trim().split("\n").pop()}`));
      else resolve(JSON.parse(stdout.trim().split("\n").pop() as string) as T);
    });
  });
}
