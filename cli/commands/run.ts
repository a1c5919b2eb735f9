import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { UsageError } from "../../checkpoint/errors.js";
import type { ExpoReport } from "../../coordinator/buildReport.js";
import { prepareJob } from "../../coordinator/prepareJob.js";
import { type DeviceChoice, selectDevice } from "../../kernel/selectDevice.js";
import { type JobArgs, jobOptions, resolveJobSpec } from "../jobOptions.js";
import { type LeaseArgs, leaseOptions, leaseSettings } from "../leaseOptions.js";
import { createLogger, type Level } from "../logger.js";
import { formatBytes } from "../parseSize.js";
import { followProgress } from "../progressBar.js";
import { runWithWorkers } from "../runWithWorkers.js";

interface RunArgs extends JobArgs, LeaseArgs {
  metricsPort?: number;
  json?: boolean;
  logLevel: Level;
  device: DeviceChoice;
  workers: number;
  concurrency: number;
}

export function executionOptions<T>(y: Argv<T>) {
  return y
    .option("device", { choices: ["auto", "cpu", "cuda"] as const, default: "auto" as const })
    .option("workers", { type: "number", default: 1, describe: "worker processes" })
    .option("concurrency", {
      type: "number",
      default: 2,
      describe: "units in flight per worker (each holds its own buffers)",
    })
    .option("metrics-port", { type: "number", describe: "serve the coordinator's Prometheus /metrics on 127.0.0.1" });
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: "run",
  describe: "extrapolate: write θ1 + α(θ1 − θ0) for each --alpha",
  builder: (y) => executionOptions(leaseOptions(jobOptions(y))) as unknown as Argv<RunArgs>,
  handler: async (argv: ArgumentsCamelCase<RunArgs>) => {
    const log = createLogger({ json: argv.json, level: argv.logLevel });
    const spec = await resolveJobSpec(argv);
    // Fails here, before anything is written, when --device cuda cannot be honoured.
    selectDevice(argv.device);
    const settings = leaseSettings(argv);
    // Keep-alive sockets for every unit in flight: an aligned read, base reads and a part upload each.
    process.env.LLM_EXPO_S3_MAX_SOCKETS ??= String(Math.max(16, argv.workers * argv.concurrency * 6));
    const job = await prepareJob(spec);
    const { plan } = job;
    log.info(
      `planned ${plan.units.length} units over ${plan.shards.length} shard(s): read ${formatBytes(plan.bytes.alignedRead + plan.bytes.baseRead)}, write ${formatBytes(plan.bytes.writtenPerOutput)} x ${plan.outputs.length}`,
      { units: plan.units.length, tensorsExtrapolated: plan.tensors.extrapolated, tensorsCopied: plan.tensors.copied },
    );
    const started = performance.now();
    let stop = () => {};
    const reports = await runWithWorkers(job, {
      ...settings,
      workers: positive(argv.workers, "--workers"),
      concurrency: positive(argv.concurrency, "--concurrency"),
      device: argv.device,
      log,
      logLevel: argv.logLevel,
      ...(argv.metricsPort === undefined ? {} : { metricsPort: argv.metricsPort }),
      onCoordinator: (c) => {
        stop = followProgress(c, log);
      },
    }).finally(() => stop());
    const seconds = (performance.now() - started) / 1000;
    printSummary(reports, seconds, plan.bytes.alignedRead + plan.bytes.baseRead, Boolean(argv.json));
  },
};

export function positive(n: number, flag: string): number {
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} ${n}: must be a whole number >= 1`);
  return n;
}

export function printSummary(reports: ExpoReport[], seconds: number, bytesRead: number, json: boolean): void {
  if (json) {
    const summary = reports.map((r) => ({
      output: r.output.location,
      alpha: r.parameters.alpha,
      model: r.statistics.model,
    }));
    process.stdout.write(`${JSON.stringify({ seconds, bytesRead, outputs: summary })}\n`);
    return;
  }
  for (const r of reports) {
    const m = r.statistics.model;
    process.stdout.write(
      `wrote ${r.output.location} (alpha ${r.parameters.alpha}, ${r.parameters.arith}): ${m.tensorsExtrapolated} tensors extrapolated, ${m.tensorsCopied} copied; ` +
        `|θ0| ${m.normBase.toPrecision(6)}  |θ1| ${m.normAligned.toPrecision(6)}  |θ2| ${m.normOutput.toPrecision(6)}  |Δ|/|θ0| ${m.relativeShift.toExponential(3)}\n`,
    );
  }
  process.stdout.write(
    `read ${formatBytes(bytesRead)} in ${seconds.toFixed(2)} s (${formatBytes(bytesRead / Math.max(seconds, 1e-6))}/s)\n`,
  );
}
