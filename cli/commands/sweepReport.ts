import type { Argv, CommandModule } from "yargs";
import { JobError, UsageError } from "../../core/errors.js";
import type { SweepFailure, SweepResult } from "../../core/sweep.js";
import { type MetricsServer, serveMetrics } from "../../metrics/serveMetrics.js";
import { openStorage } from "../../storage/openStorage.js";
import { collectResults } from "../../sweep/collectResults.js";
import { concludeSweep } from "../../sweep/concludeSweep.js";
import { pollUntil } from "../../sweep/pollUntil.js";
import { RESULTS_FOLDER, sweepCandidates } from "../../sweep/sweepCandidates.js";
import { sweepMetrics } from "../../sweep/sweepMetrics.js";
import { SweepProgress } from "../../sweep/sweepProgress.js";
import type { OptionsOf } from "../argsOf.js";
import { type GlobalOptions, loggerFor, storageSettings } from "../globalOptions.js";
import { jobOptions, resolveJobSpec } from "../jobOptions.js";
import { linger, lingerSeconds, printSweepSummary, requireReport, sweepReportOptions } from "../sweepOptions.js";

const builder = (y: Argv<GlobalOptions>) =>
  sweepReportOptions(jobOptions(y))
    .option("wait-timeout", {
      type: "number",
      default: 0,
      describe: "seconds to wait for missing results (evaluations still running); 0: report what is there",
    })
    .option("poll", { type: "number", default: 15, describe: "seconds between looks at the results" })
    .option("metrics-port", { type: "number", describe: "serve the sweep's Prometheus /metrics on this port" })
    .option("metrics-host", { type: "string", default: "0.0.0.0" });

/**
 * The report Job of a sweep on Kubernetes: the evaluation pods wrote their answers to
 * <report>/results/alpha-<α>.json; this waits for them (up to --wait-timeout), writes sweep.json and sweep.svg
 * and applies --keep, exactly as `llm-expo sweep` does at its end. A missing or unreadable answer is a failure.
 */
export const sweepReportCommand: CommandModule<GlobalOptions, OptionsOf<typeof builder>> = {
  command: "sweep-report",
  describe: "(Kubernetes) read the evaluations' results from <report>/results, write the sweep's report, apply --keep",
  builder,
  handler: async (argv) => {
    const log = loggerFor(argv);
    const spec = await resolveJobSpec(argv);
    const report = requireReport(argv.report).replace(/\/+$/, "");
    if (!(argv.waitTimeout >= 0) || !(argv.poll > 0))
      throw new UsageError("--wait-timeout must be seconds >= 0 and --poll seconds > 0");
    const lingerFor = lingerSeconds(argv.linger);
    const storage = storageSettings(argv, log);
    const candidates = sweepCandidates(spec, storage);
    const reportStorage = openStorage(report, storage);
    const results = openStorage(`${report}/${RESULTS_FOLDER}`, storage);
    await reportStorage.checkWritable();
    const progress = new SweepProgress(candidates);
    let metrics: MetricsServer | undefined;
    let endLinger = () => {};
    const lingerEnded = new Promise((resolve) => {
      endLinger = () => resolve(undefined);
    });
    const onSignal = () => endLinger();
    try {
      if (argv.metricsPort !== undefined) {
        metrics = await serveMetrics(sweepMetrics(progress), argv.metricsHost, argv.metricsPort);
        log.info("sweep metrics listening", { metricsPort: metrics.port });
      }
      let found = new Map<number, SweepResult | SweepFailure>();
      await pollUntil(
        async () => {
          found = await collectResults(results, candidates);
          for (const outcome of found.values()) {
            if ("score" in outcome) progress.done(outcome);
            else progress.failed(outcome);
          }
          return found.size === candidates.length ? true : undefined;
        },
        { timeoutMs: argv.waitTimeout * 1000, pollMs: argv.poll * 1000 },
      );
      const outcomes = candidates.map(
        (c): SweepResult | SweepFailure =>
          found.get(c.alpha) ?? {
            alpha: c.alpha,
            model: c.model,
            error: `no result at ${results.location}/${c.resultName}${argv.waitTimeout > 0 ? ` after ${argv.waitTimeout} s` : ""} (the evaluation of index ${c.index} failed or has not finished: see its pod's logs)`,
            stderr: [],
          },
      );
      const failures = outcomes.filter((o): o is SweepFailure => !("score" in o));
      for (const f of failures) progress.failed(f);
      const conclusion = await concludeSweep({
        reportStorage,
        candidates,
        results: outcomes.filter((o): o is SweepResult => "score" in o),
        failures,
        keep: argv.keep,
        open: (location) => openStorage(location, storage),
        progress,
        log,
      });
      printSweepSummary(conclusion, reportStorage.location, Boolean(argv.json));
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      if (metrics) await linger(lingerFor, lingerEnded, log);
      if (failures.length > 0) {
        const list = failures.map((f) => `α = ${f.alpha} (${f.error})`).join(", ");
        throw new JobError(`${failures.length} evaluation(s) failed: ${list}; the report covers the others`);
      }
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await metrics?.close();
      await Promise.all([reportStorage.close(), results.close()]);
    }
  },
};
