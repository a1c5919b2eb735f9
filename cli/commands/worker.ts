import { readFileSync } from "node:fs";
import { hostname, totalmem } from "node:os";
import type { Argv, CommandModule } from "yargs";
import { JobError, UsageError } from "../../core/errors.js";
import { selectDevice } from "../../kernel/selectDevice.js";
import { type MetricsServer, serveMetrics } from "../../metrics/serveMetrics.js";
import { CoordinatorClient } from "../../worker/coordinatorClient.js";
import { faultHooks, parseFaultSpec } from "../../worker/faultHooks.js";
import { runWorker } from "../../worker/runWorker.js";
import { workerMetrics } from "../../worker/workerMetrics.js";
import type { OptionsOf } from "../argsOf.js";
import { parseAddress, readFile, readKeyPair, readToken, tokenOptions } from "../connectionOptions.js";
import { cpuCost } from "../cpuCost.js";
import { positive } from "../executionOptions.js";
import { type GlobalOptions, loggerFor, storageSettings } from "../globalOptions.js";
import { formatBytes, parseSize } from "../parseSize.js";

/** Exit status after SIGTERM/SIGINT: the units in hand were finished or released, the job goes on. */
export const STOPPED_EXIT_CODE = 143;

const builder = (y: Argv<GlobalOptions>) =>
  tokenOptions(y)
    .option("coordinator", { type: "string", demandOption: true, describe: "coordinator HOST:PORT" })
    .option("worker-id", { type: "string", describe: "name in the coordinator's logs (default: host-pid)" })
    .option("concurrency", { type: "number", default: 2, describe: "units in flight at most" })
    .option("memory-budget", {
      type: "string",
      describe: "bytes the unit buffers may take, e.g. 8GiB (default: half the memory limit)",
    })
    .option("device", { choices: ["auto", "cpu", "cuda"] as const, default: "auto" as const })
    .option("coordinator-timeout", {
      type: "number",
      default: 300,
      describe: "seconds to keep retrying an unreachable coordinator",
    })
    .option("drain-timeout", {
      type: "number",
      default: 20,
      describe: "on SIGTERM: seconds to finish the units in hand before releasing them",
    })
    .option("metrics-port", { type: "number", describe: "serve Prometheus /metrics on this port" })
    .option("metrics-host", { type: "string", default: "0.0.0.0" })
    .option("tls", { type: "boolean", describe: "connect with TLS (system CAs unless --tls-ca)" })
    .option("tls-ca", { type: "string", describe: "CA of the coordinator's certificate (PEM); implies --tls" })
    .option("tls-cert", { type: "string", describe: "client certificate (PEM), for mutual TLS" })
    .option("tls-key", { type: "string", describe: "private key of --tls-cert (PEM)" })
    .option("tls-server-name", {
      type: "string",
      describe: "name on the coordinator's certificate, when not the address's host",
    })
    // For the test suite only: announced loudly when given (worker/faultHooks.ts).
    .option("inject-faults", { type: "string", hidden: true });

export const workerCommand: CommandModule<GlobalOptions, OptionsOf<typeof builder>> = {
  command: "worker",
  describe: "lease units from a coordinator, extrapolate them, write the parts; exit 0 when the job is done",
  builder,
  handler: async (argv) => {
    const log = loggerFor(argv);
    parseAddress(argv.coordinator, "--coordinator");
    const concurrency = positive(argv.concurrency, "--concurrency");
    const memoryBudget = argv.memoryBudget === undefined ? defaultMemoryBudget() : budget(argv.memoryBudget);
    if (!(argv.coordinatorTimeout > 0))
      throw new UsageError(`--coordinator-timeout ${argv.coordinatorTimeout}: must be > 0`);
    const device = selectDevice(argv.device);
    const faults = argv.injectFaults === undefined ? undefined : parseFaultSpec(argv.injectFaults);
    if (faults) log.warn(`FAULT INJECTION ACTIVE (--inject-faults ${argv.injectFaults}): test use only`, { faults });
    // Keep-alive sockets for every unit in flight: an aligned read, base reads and a part upload each.
    const storage = storageSettings(argv, log, process.env, Math.max(64, concurrency * 6));
    const clientPair = readKeyPair(argv.tlsCert, argv.tlsKey);
    const useTls = Boolean(argv.tls || argv.tlsCa || clientPair);
    const client = new CoordinatorClient({
      address: argv.coordinator,
      token: readToken(argv.tokenFile),
      timeoutMs: argv.coordinatorTimeout * 1000,
      onOutage: (m) => log.warn(m),
      ...(useTls
        ? {
            tls: {
              ...(argv.tlsCa ? { ca: readFile(argv.tlsCa, "--tls-ca") } : {}),
              ...clientPair,
              ...(argv.tlsServerName ? { serverName: argv.tlsServerName } : {}),
            },
          }
        : {}),
    });
    const metrics = workerMetrics(storage.retry);
    let server: MetricsServer | undefined;
    if (argv.metricsPort !== undefined)
      server = await serveMetrics(metrics.registry, argv.metricsHost, argv.metricsPort);
    const stop = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (stop.signal.aborted) return;
      log.warn(`${signal}: leasing nothing more, finishing or releasing the units in hand`);
      stop.abort();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    const workerId = argv.workerId ?? `${hostname()}-${process.pid}`;
    try {
      // What this worker costs: its CPU per GiB it moved (read + written), logged when the job is done.
      const cpu = process.cpuUsage();
      let moved = 0;
      const outcome = await runWorker(client, {
        workerId,
        device,
        storage,
        concurrency,
        memoryBudget,
        stop: stop.signal,
        drainMs: argv.drainTimeout * 1000,
        observer: {
          started: (unit) => {
            metrics.observer.started(unit);
            log.debug("unit started", { unitId: unit.id });
          },
          finished: (report, accepted) => {
            metrics.observer.finished(report, accepted);
            moved += report.bytes.aligned + report.bytes.base + report.bytes.written;
            log.debug(accepted ? "unit done" : "unit done, but re-leased meanwhile: report ignored", {
              unitId: report.unitId,
              seconds: report.seconds,
            });
          },
          failed: (unit, error) => {
            metrics.observer.failed(unit, error);
            log.warn(`unit ${unit.id} failed: ${error}`);
          },
        },
        ...(faults ? { hooks: faultHooks(faults) } : {}),
        onStart: (job, inFlight) =>
          log.info("worker ready", {
            workerId,
            jobId: job.jobId,
            device,
            unitsInFlight: inFlight,
            memoryBudget: formatBytes(memoryBudget),
            metricsPort: server?.port,
          }),
      });
      if (outcome.kind === "failed") throw new JobError(`the job failed: ${outcome.error}`);
      if (outcome.kind === "stopped") {
        log.warn(`stopped: ${outcome.released} unit(s) released to other workers`);
        process.exitCode = STOPPED_EXIT_CODE;
        return;
      }
      log.info("job done", { workerId, bytesMoved: moved, ...cpuCost(cpu, moved) });
    } finally {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      client.close();
      await server?.close();
    }
  },
};

function budget(text: string): number {
  try {
    return parseSize(text);
  } catch (e) {
    throw new UsageError(`--memory-budget: ${(e as Error).message}`);
  }
}

/** Half of the container's memory limit (cgroup v2), or of the machine's memory. */
function defaultMemoryBudget(): number {
  let limit = totalmem();
  try {
    const max = readFileSync("/sys/fs/cgroup/memory.max", "utf8").trim();
    if (/^\d+$/.test(max)) limit = Math.min(limit, Number(max));
  } catch {
    // no cgroup v2 limit visible
  }
  return Math.floor(limit / 2);
}
