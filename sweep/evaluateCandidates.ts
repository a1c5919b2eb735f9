// Every model of the sweep through the user's evaluator, --eval-concurrency at a time: what the journal
// already scored is taken from it, each other model is evaluated (a failure is tried once more), and every
// outcome is journaled as it comes. Ctrl-C (the signal) stops the evaluations in flight and starts no more:
// what was journaled stays for the rerun.
import { join } from "node:path";
import PQueue from "p-queue";
import type { Logger } from "../core/logger.js";
import type { SweepFailure, SweepResult } from "../core/sweep.js";
import { expandCommand } from "./expandCommand.js";
import { runEvaluator } from "./runEvaluator.js";
import type { Candidate } from "./sweepCandidates.js";
import type { SweepJournal } from "./sweepJournal.js";
import type { SweepProgress } from "./sweepProgress.js";

export interface EvaluateOptions {
  candidates: readonly Candidate[];
  /** The --evaluate template, with {model} and {alpha}. */
  evaluate: string;
  /** The environment every evaluator starts from (EXPO_MODEL, EXPO_ALPHA, EXPO_RESULT are added). */
  env: NodeJS.ProcessEnv;
  /** A private folder for the $EXPO_RESULT files. */
  scratch: string;
  concurrency: number;
  timeoutMs?: number;
  /** Results journaled by an earlier run, by α (only those of the same model). */
  journaled: ReadonlyMap<number, SweepResult>;
  journal: SweepJournal;
  progress: SweepProgress;
  signal: AbortSignal;
  log: Logger;
}

export interface EvaluationsOutcome {
  results: SweepResult[];
  failures: SweepFailure[];
  /** The signal stopped the evaluations before every model had an outcome. */
  interrupted: boolean;
}

/** One retry: an evaluator that fails twice is reported. */
const ATTEMPTS = 2;

export async function evaluateCandidates(o: EvaluateOptions): Promise<EvaluationsOutcome> {
  const results: SweepResult[] = [];
  const failures: SweepFailure[] = [];
  const queue = new PQueue({ concurrency: o.concurrency });
  // A journal that cannot be written ends the sweep (after the evaluations in flight).
  let broken: unknown;
  for (const c of o.candidates) {
    const earlier = o.journaled.get(c.alpha);
    if (earlier && earlier.model === c.model) {
      results.push(earlier);
      o.progress.done(earlier);
      continue;
    }
    void queue
      .add(async () => {
        if (o.signal.aborted || broken !== undefined) return;
        const outcome = await evaluate(c, o);
        if (outcome === undefined) return;
        if ("score" in outcome) {
          results.push(outcome);
          o.progress.done(outcome);
        } else {
          failures.push(outcome);
          o.progress.failed(outcome);
        }
      })
      .catch((e: unknown) => {
        broken ??= e;
      });
  }
  await queue.onIdle();
  if (broken !== undefined) throw broken;
  results.sort((a, b) => a.alpha - b.alpha);
  failures.sort((a, b) => a.alpha - b.alpha);
  return { results, failures, interrupted: o.signal.aborted && results.length + failures.length < o.candidates.length };
}

/** One model, up to ATTEMPTS runs; undefined when interrupted. */
async function evaluate(c: Candidate, o: EvaluateOptions): Promise<SweepResult | SweepFailure | undefined> {
  const what = c.alpha === 0 ? "the aligned model (α = 0, baseline)" : `α = ${c.alpha}`;
  const resultFile = join(o.scratch, `result-${c.index}.json`);
  for (let attempt = 1; ; attempt++) {
    o.progress.running(c.alpha);
    o.log.info(`evaluating ${what}${attempt > 1 ? ` (attempt ${attempt})` : ""}: ${c.model}`, {
      alpha: c.alpha,
      model: c.model,
      attempt,
    });
    const run = await runEvaluator({
      command: expandCommand(o.evaluate, { model: c.model, alpha: c.alpha }),
      env: { ...o.env, EXPO_MODEL: c.model, EXPO_ALPHA: String(c.alpha), EXPO_RESULT: resultFile },
      resultFile,
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
      signal: o.signal,
      onStderrLine: (line) => o.log.debug(`evaluator α = ${c.alpha}: ${line}`, { alpha: c.alpha }),
    });
    if (run.ok) {
      const result: SweepResult = {
        alpha: c.alpha,
        model: c.model,
        score: run.evaluation.score,
        metrics: run.evaluation.metrics,
        seconds: run.seconds,
      };
      await o.journal.append({ type: "evaluated", attempts: attempt, ...result });
      o.log.info(`scored ${what}: ${result.score} in ${run.seconds.toFixed(1)} s`, {
        alpha: c.alpha,
        score: result.score,
        seconds: run.seconds,
      });
      return result;
    }
    if (run.interrupted) return undefined;
    const failure: SweepFailure = { alpha: c.alpha, model: c.model, error: run.error, stderr: run.stderr.slice(-10) };
    if (attempt < ATTEMPTS) {
      o.log.warn(`evaluator failed for ${what} (${run.error}); trying once more`, { alpha: c.alpha });
      continue;
    }
    await o.journal.append({ type: "failed", ...failure });
    o.log.error(`evaluation of ${what} failed twice: ${run.error}`, { alpha: c.alpha, stderr: failure.stderr });
    return failure;
  }
}
