// One run of the user's evaluator for one model: the command through /bin/sh in its own process group
// (so a timeout or Ctrl-C ends everything it started), the contract's variables in its environment, its
// answer read from $EXPO_RESULT or else the last line of its stdout. Never throws for the evaluator's own
// failures: they come back as { ok: false } with the last lines of its stderr.
import { spawn } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import type { Evaluation } from "../core/sweep.js";
import { parseEvaluatorResult } from "./parseEvaluatorResult.js";

export interface EvaluatorRun {
  /** The command line, {model} and {alpha} already replaced. */
  command: string;
  /** The whole environment of the evaluator (the caller adds EXPO_MODEL, EXPO_ALPHA, EXPO_RESULT). */
  env: NodeJS.ProcessEnv;
  /** The file $EXPO_RESULT names; removed before the run so that a stale answer is never read. */
  resultFile: string;
  timeoutMs?: number;
  /** Ends the run (its whole process group) early: Ctrl-C. */
  signal?: AbortSignal;
  onStderrLine?: (line: string) => void;
}

export type EvaluatorOutcome =
  | { ok: true; evaluation: Evaluation; seconds: number }
  | { ok: false; error: string; stderr: string[]; seconds: number; interrupted: boolean };

const STDERR_LINES = 20;
/** After SIGTERM, how long the evaluator gets to exit before SIGKILL. */
const KILL_GRACE_MS = 5000;

export async function runEvaluator(run: EvaluatorRun): Promise<EvaluatorOutcome> {
  await rm(run.resultFile, { force: true });
  const started = performance.now();
  const child = spawn("/bin/sh", ["-c", run.command], {
    detached: true,
    env: run.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stderr: string[] = [];
  let lastStdout = "";
  let stdoutPartial = "";
  let stderrPartial = "";
  const keep = (line: string) => {
    stderr.push(line);
    if (stderr.length > STDERR_LINES) stderr.shift();
    run.onStderrLine?.(line);
  };
  child.stdout.on("data", (d: Buffer) => {
    const lines = (stdoutPartial + d.toString("utf8")).split("\n");
    stdoutPartial = lines.pop() ?? "";
    for (const l of lines) if (l.trim() !== "") lastStdout = l.trim();
  });
  child.stderr.on("data", (d: Buffer) => {
    const lines = (stderrPartial + d.toString("utf8")).split("\n");
    stderrPartial = lines.pop() ?? "";
    for (const l of lines) keep(l);
  });
  let stopped: "timeout" | "interrupted" | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const stop = (why: "timeout" | "interrupted") => {
    if (stopped || child.exitCode !== null || child.signalCode !== null) return;
    stopped = why;
    killGroup(child.pid, "SIGTERM");
    killTimer = setTimeout(() => killGroup(child.pid, "SIGKILL"), KILL_GRACE_MS);
  };
  const timer = run.timeoutMs === undefined ? undefined : setTimeout(() => stop("timeout"), run.timeoutMs);
  const onAbort = () => stop("interrupted");
  run.signal?.addEventListener("abort", onAbort);
  if (run.signal?.aborted) onAbort();
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(timer);
  clearTimeout(killTimer);
  run.signal?.removeEventListener("abort", onAbort);
  // Whatever the shell left behind in its group goes with it (and with it the pipes it may hold open).
  killGroup(child.pid, "SIGKILL");
  if (!exit.error) await closed;
  if (stderrPartial.trim() !== "") keep(stderrPartial);
  if (stdoutPartial.trim() !== "") lastStdout = stdoutPartial.trim();
  const seconds = (performance.now() - started) / 1000;
  const failed = (error: string) => ({
    ok: false as const,
    error,
    stderr: [...stderr],
    seconds,
    interrupted: stopped === "interrupted",
  });
  if (exit.error) return failed(`cannot start /bin/sh: ${exit.error.message}`);
  if (stopped === "timeout") return failed(`timed out after ${Number(((run.timeoutMs ?? 0) / 1000).toPrecision(3))} s`);
  if (stopped === "interrupted") return failed("interrupted");
  if (exit.code !== 0) return failed(exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`);
  const fromFile = await readFile(run.resultFile, "utf8").catch(() => "");
  const parsed =
    fromFile.trim() !== ""
      ? parseEvaluatorResult(fromFile.trim(), "$EXPO_RESULT")
      : lastStdout !== ""
        ? parseEvaluatorResult(lastStdout, "the last line of stdout")
        : { ok: false as const, error: "no result: $EXPO_RESULT is empty and nothing was printed on stdout" };
  return parsed.ok ? { ok: true, evaluation: parsed.evaluation, seconds } : failed(parsed.error);
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone already
  }
}
