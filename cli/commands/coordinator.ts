import type { Argv, CommandModule } from "yargs";
import { serveJob } from "../../coordinator/serveJob.js";
import { UsageError } from "../../core/errors.js";
import { prepareToServe } from "../../plan/prepareJob.js";
import type { OptionsOf } from "../argsOf.js";
import { parseAddress, readFile, readKeyPair, readToken, TOKEN_ENV, tokenOptions } from "../connectionOptions.js";
import { type GlobalOptions, loggerFor, storageSettings } from "../globalOptions.js";
import { jobOptions, resolveJobSpec } from "../jobOptions.js";
import { leaseOptions, leaseSettings } from "../leaseOptions.js";
import { printSummary } from "../printSummary.js";
import { collectGarbage } from "../v8Heap.js";

const builder = (y: Argv<GlobalOptions>) =>
  tokenOptions(leaseOptions(jobOptions(y)))
    .option("listen", { type: "string", default: "0.0.0.0:50051", describe: "gRPC address" })
    .option("metrics-port", { type: "number", describe: "serve Prometheus /metrics on this port" })
    .option("metrics-host", { type: "string", default: "0.0.0.0" })
    .option("linger", {
      type: "number",
      default: 10,
      describe: "seconds to keep serving after the job ends (late workers, a last scrape)",
    })
    .option("allow-unauthenticated", {
      type: "boolean",
      describe: `serve without a token (only on a trusted network; default: require --token-file or ${TOKEN_ENV})`,
    })
    .option("tls-cert", { type: "string", describe: "serve TLS with this certificate (PEM)" })
    .option("tls-key", { type: "string", describe: "private key of --tls-cert (PEM)" })
    .option("tls-client-ca", {
      type: "string",
      describe: "require client certificates signed by this CA (PEM)",
    })
    // For the test suite only: compact the journal after this many records or flushes (default 1024), so that a
    // test job of a few dozen units compacts, and a kill can land while it does.
    .option("journal-compact-after", { type: "number", hidden: true });

export const coordinatorCommand: CommandModule<GlobalOptions, OptionsOf<typeof builder>> = {
  command: "coordinator",
  describe: "plan a job and serve its units to `llm-expo worker` processes over gRPC; commit the output",
  builder,
  handler: async (argv) => {
    const log = loggerFor(argv);
    const token = readToken(argv.tokenFile);
    if (token === undefined && !argv.allowUnauthenticated) {
      throw new UsageError(`no token: give --token-file or set ${TOKEN_ENV} (or --allow-unauthenticated)`);
    }
    parseAddress(argv.listen, "--listen");
    const pair = readKeyPair(argv.tlsCert, argv.tlsKey);
    const tls = pair && {
      ...pair,
      ...(argv.tlsClientCa ? { clientCa: readFile(argv.tlsClientCa, "--tls-client-ca") } : {}),
    };
    if (!tls && argv.tlsClientCa) throw new UsageError("--tls-client-ca needs --tls-cert and --tls-key");
    if (!(argv.linger >= 0)) throw new UsageError(`--linger ${argv.linger}: must be a number of seconds >= 0`);
    const compactAfter = argv.journalCompactAfter;
    if (compactAfter !== undefined && !(Number.isInteger(compactAfter) && compactAfter >= 1))
      throw new UsageError(`--journal-compact-after ${compactAfter}: must be a whole number >= 1`);
    const spec = await resolveJobSpec(argv);
    const lease = leaseSettings(argv);
    const storage = storageSettings(argv, log);
    const job = await prepareToServe(spec, { storage, forWriting: true });
    collectGarbage();
    log.info(`planned ${job.plan.units.length} units over ${job.plan.shards.length} shard(s)`, {
      units: job.plan.units.length,
    });
    const start = { time: performance.now(), cpu: process.cpuUsage() };
    const reports = await serveJob(job, {
      ...lease,
      grpc: { listen: argv.listen, token, tls },
      metrics: argv.metricsPort === undefined ? undefined : { host: argv.metricsHost, port: argv.metricsPort },
      storage,
      lingerMs: argv.linger * 1000,
      ...(compactAfter === undefined ? {} : { journalCompactAfter: compactAfter }),
      onSigterm: "suspend",
      log,
      onServing: (_, ports) =>
        log.info("coordinator listening", { listen: argv.listen, grpcPort: ports.grpc, metricsPort: ports.metrics }),
    });
    printSummary(reports, job.plan, start, Boolean(argv.json));
  },
};
