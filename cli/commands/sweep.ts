import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Argv, CommandModule } from "yargs";
import { JobError, UsageError } from "../../core/errors.js";
import type { SweepResult } from "../../core/sweep.js";
import { selectDevice } from "../../kernel/selectDevice.js";
import { type MetricsServer, serveMetrics } from "../../metrics/serveMetrics.js";
import { closeJob, type PreparedJob, prepareJob } from "../../plan/prepareJob.js";
import { openStorage } from "../../storage/openStorage.js";
import { candidateState } from "../../sweep/candidateState.js";
import { checkEvaluator } from "../../sweep/checkEvaluator.js";
import { checkReportLocation } from "../../sweep/checkReportLocation.js";
import { concludeSweep } from "../../sweep/concludeSweep.js";
import { evaluateCandidates } from "../../sweep/evaluateCandidates.js";
import { expandCommand } from "../../sweep/expandCommand.js";
import { parseAlphaGrid } from "../../sweep/parseAlphaGrid.js";
import { sweepCandidates } from "../../sweep/sweepCandidates.js";
import { sweepIdentity } from "../../sweep/sweepIdentity.js";
import { SWEEP_JOURNAL_NAME, SweepJournal, type SweepRecord } from "../../sweep/sweepJournal.js";
import { sweepMetrics } from "../../sweep/sweepMetrics.js";
import { SweepProgress } from "../../sweep/sweepProgress.js";
import type { OptionsOf } from "../argsOf.js";
import { executionOptions, memoryBudget, positive } from "../executionOptions.js";
import { type GlobalOptions, loggerFor, storageSettings } from "../globalOptions.js";
import { jobOptions, parseAlpha, resolveJobSpec } from "../jobOptions.js";
import { leaseOptions, leaseSettings } from "../leaseOptions.js";
import { localUnitsInFlight, runLocally } from "../runLocally.js";
import { linger, lingerSeconds, printSweepSummary, requireReport, sweepReportOptions } from "../sweepOptions.js";

const builder = (y: Argv<GlobalOptions>) =>
  sweepReportOptions(executionOptions(leaseOptions(jobOptions(y))))
    .option("alpha-grid", {
      type: "string",
      // Takes "-0.5:0.5:0.25" as the value (yargs would read a leading "-0" as flags otherwise).
      nargs: 1,
      describe: "START:STOP:STEP: α from START to STOP inclusive (with --out-template), besides any --alpha",
    })
    .option("evaluate", {
      type: "string",
      describe:
        "shell command scoring one model ({model}, {alpha} replaced; env EXPO_MODEL, EXPO_ALPHA, EXPO_RESULT): one JSON object with a numeric score, in $EXPO_RESULT or as the last stdout line",
    })
    .option("eval-concurrency", { type: "number", default: 1, describe: "evaluations running at once" })
    .option("eval-timeout", {
      type: "number",
      describe: "seconds one evaluation may take; then it is killed and counts as a failed attempt",
    })
    .option("metrics-port", {
      type: "number",
      describe: "serve the sweep's Prometheus /metrics (scores by α, evaluations) on 127.0.0.1",
    });

export const sweepCommand: CommandModule<GlobalOptions, OptionsOf<typeof builder>> = {
  command: "sweep",
  describe: "write a candidate per α in one pass, score each and the aligned model with --evaluate, report the best",
  builder,
  handler: async (argv) => {
    const log = loggerFor(argv);
    const evaluate = argv.evaluate;
    if (evaluate === undefined || evaluate.trim() === "")
      throw new UsageError(
        "missing --evaluate 'CMD' (the shell command that scores one model, e.g. './score.sh {model}')",
      );
    const reportLocation = requireReport(argv.report);
    const grid = argv.alphaGrid === undefined ? [] : parseAlphaGrid(argv.alphaGrid);
    for (const a of grid) parseAlpha(a, `--alpha-grid ${argv.alphaGrid} gives`);
    if (grid.length > 0 && (argv.out?.length ?? 0) > 0)
      throw new UsageError("--alpha-grid names its outputs with --out-template (one per α), not --out");
    const spec = await resolveJobSpec(
      grid.length > 0 ? { ...argv, alpha: [...(argv.alpha ?? []), ...grid.map(String)] } : argv,
    );
    const workers = positive(argv.workers, "--workers");
    const concurrency = positive(argv.concurrency, "--concurrency");
    const evalConcurrency = positive(argv.evalConcurrency, "--eval-concurrency");
    if (argv.evalTimeout !== undefined && !(argv.evalTimeout > 0))
      throw new UsageError(`--eval-timeout ${argv.evalTimeout}: must be a number of seconds > 0`);
    const timeoutMs = argv.evalTimeout === undefined ? undefined : Math.round(argv.evalTimeout * 1000);
    const lingerFor = lingerSeconds(argv.linger);
    const device = selectDevice(argv.device);
    const budget = memoryBudget(argv.memoryBudget);
    const lease = leaseSettings(argv);
    const storage = storageSettings(argv, log);

    // Everything is checked before anything is written: inputs and candidates, the evaluator, the report
    // location, the journal of an earlier run.
    const all = await prepareJob(spec, { storage, forWriting: false });
    const candidates = sweepCandidates(spec, storage);
    const reportStorage = openStorage(reportLocation, storage);
    let toWrite: number[];
    let sweepId: string;
    try {
      checkEvaluator(expandCommand(evaluate, candidates[0] as { model: string; alpha: number }), process.env);
      await checkReportLocation(reportStorage, [all.base.storage, all.aligned.storage], all.outputs);
      toWrite = await candidatesToWrite(all);
      sweepId = sweepIdentity(
        spec,
        { base: all.base.storage.location, aligned: all.aligned.storage.location, versions: all.plan.inputVersions },
        evaluate,
      );
    } finally {
      await closeJob(all);
    }
    const journal = new SweepJournal(reportStorage.appendLog(SWEEP_JOURNAL_NAME));
    let records = await journal.read();
    if (records?.length && !spec.overwrite && (records[0] as { sweepId?: string }).sweepId !== sweepId) {
      throw new UsageError(
        `${journal.where}: the journal of another sweep (other inputs, job options or --evaluate): remove it to start over, or --overwrite`,
      );
    }
    const job =
      toWrite.length > 0
        ? await prepareJob(
            {
              ...spec,
              alphas: toWrite.map((k) => spec.alphas[k] as number),
              outs: toWrite.map((k) => spec.outs[k] as string),
            },
            { storage, forWriting: true },
          )
        : undefined;
    // Refused here, before anything is written, when not even one unit fits the budget.
    if (job) {
      try {
        localUnitsInFlight(job, { workers, concurrency, memoryBudget: budget });
      } catch (e) {
        await closeJob(job);
        throw e;
      }
    }
    /** The local run closes the job's storages once it has them; until then, this command does. */
    let jobHandedOver = false;

    const progress = new SweepProgress(candidates);
    let metrics: MetricsServer | undefined;
    let scratch: string | undefined;
    let phase: "writing" | "evaluating" | "concluding" | "lingering" = "writing";
    const stopEvaluations = new AbortController();
    let endLinger = () => {};
    const lingerEnded = new Promise((resolve) => {
      endLinger = () => resolve(undefined);
    });
    let interruptedBy: string | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (phase === "evaluating") {
        interruptedBy ??= signal;
        log.warn(`${signal}: stopping the evaluations in flight (what is scored is journaled)`);
        stopEvaluations.abort();
      } else if (phase === "lingering") endLinger();
      else log.warn(`${signal} ignored while writing the report`);
    };
    try {
      if (argv.metricsPort !== undefined) {
        metrics = await serveMetrics(sweepMetrics(progress), "127.0.0.1", argv.metricsPort);
        log.info("sweep metrics listening", { metricsPort: metrics.port });
      }
      if (spec.overwrite && records?.length) {
        await journal.remove();
        records = undefined;
      }
      if (!records?.length)
        await journal.append({ type: "start", version: 1, sweepId, createdAt: new Date().toISOString() });
      if (job) {
        log.info(
          `writing ${toWrite.length} of ${spec.alphas.length} candidate(s) in one pass (${job.plan.units.length} units)`,
          { alphas: job.spec.alphas },
        );
        jobHandedOver = true;
        await runLocally(job, {
          ...lease,
          workers,
          concurrency,
          memoryBudget: budget,
          device,
          storage,
          log,
          progress: true,
        });
      } else {
        log.info(`every candidate is written already (${spec.alphas.length}): evaluating`);
      }

      scratch = await mkdtemp(join(tmpdir(), "llm-expo-sweep-"));
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      phase = "evaluating";
      const outcome = await evaluateCandidates({
        candidates,
        evaluate,
        env: process.env,
        scratch,
        concurrency: evalConcurrency,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        journaled: journaledResults(records ?? []),
        journal,
        progress,
        signal: stopEvaluations.signal,
        log,
      });
      if (outcome.interrupted) {
        const scored = outcome.results.length;
        throw new JobError(
          `interrupted by ${interruptedBy ?? "a signal"}: ${scored} of ${candidates.length} model(s) scored and journaled in ${journal.where}; run the same command again to resume`,
        );
      }
      phase = "concluding";
      const conclusion = await concludeSweep({
        reportStorage,
        candidates,
        results: outcome.results,
        failures: outcome.failures,
        keep: argv.keep,
        open: (location) => openStorage(location, storage),
        progress,
        log,
      });
      // Kept while anything failed: a rerun evaluates only what has no score.
      if (outcome.failures.length === 0) await journal.remove();
      printSweepSummary(conclusion, reportStorage.location, Boolean(argv.json));
      phase = "lingering";
      if (metrics) await linger(lingerFor, lingerEnded, log);
      if (outcome.failures.length > 0) {
        const list = outcome.failures.map((f) => `α = ${f.alpha} (${f.error})`).join(", ");
        throw new JobError(`${outcome.failures.length} evaluation(s) failed: ${list}; the report covers the others`);
      }
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await journal.close();
      await metrics?.close();
      if (scratch) await rm(scratch, { recursive: true, force: true });
      await reportStorage.close();
      if (job && !jobHandedOver) await closeJob(job);
    }

    /** Outputs to write: absent ones, or all with --overwrite; a foreign checkpoint is refused. */
    async function candidatesToWrite(prepared: PreparedJob): Promise<number[]> {
      const write: number[] = [];
      for (const [k, out] of prepared.outputs.entries()) {
        const alpha = spec.alphas[k] as number;
        const state = await candidateState(out, {
          alpha,
          spec,
          base: prepared.base.storage.location,
          aligned: prepared.aligned.storage.location,
          inputVersions: prepared.plan.inputVersions,
          indexed: prepared.aligned.indexed,
        });
        if (state.kind === "foreign" && !spec.overwrite) {
          throw new UsageError(
            `${spec.outs[k]}: already holds ${state.why}, not this sweep's candidate for α = ${alpha} (--overwrite replaces it)`,
          );
        }
        if (state.kind !== "ours" || spec.overwrite) write.push(k);
        else log.info(`candidate α = ${alpha} is written already: ${out.location}`);
      }
      return write;
    }
  },
};

/** Scores journaled by an earlier run of the same sweep, by α. */
function journaledResults(records: readonly SweepRecord[]): Map<number, SweepResult> {
  const out = new Map<number, SweepResult>();
  for (const r of records) {
    if (r.type !== "evaluated") continue;
    out.set(r.alpha, {
      alpha: r.alpha,
      model: r.model,
      score: r.score,
      metrics: r.metrics,
      seconds: r.seconds,
    });
  }
  return out;
}
