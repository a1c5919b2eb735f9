import type { Argv, CommandModule } from "yargs";
import { selectDevice } from "../../kernel/selectDevice.js";
import { closeJob, prepareToServe } from "../../plan/prepareJob.js";
import type { OptionsOf } from "../argsOf.js";
import { executionOptions, memoryBudget, positive } from "../executionOptions.js";
import { type GlobalOptions, loggerFor, storageSettings } from "../globalOptions.js";
import { jobOptions, resolveJobSpec } from "../jobOptions.js";
import { leaseOptions, leaseSettings } from "../leaseOptions.js";
import { formatBytes } from "../parseSize.js";
import { printSummary } from "../printSummary.js";
import { localUnitsInFlight, runLocally } from "../runLocally.js";
import { collectGarbage } from "../v8Heap.js";

const builder = (y: Argv<GlobalOptions>) => executionOptions(leaseOptions(jobOptions(y)));

export const runCommand: CommandModule<GlobalOptions, OptionsOf<typeof builder>> = {
  command: "run",
  describe: "extrapolate: write θ1 + α(θ1 − θ0) for each --alpha",
  builder,
  handler: async (argv) => {
    const log = loggerFor(argv);
    const spec = await resolveJobSpec(argv);
    const workers = positive(argv.workers, "--workers");
    const concurrency = positive(argv.concurrency, "--concurrency");
    const budget = memoryBudget(argv.memoryBudget);
    // Fails here, before anything is written, when --device cuda cannot be honoured.
    const device = selectDevice(argv.device);
    const lease = leaseSettings(argv);
    const storage = storageSettings(argv, log);
    const job = await prepareToServe(spec, { storage, forWriting: true });
    collectGarbage();
    const { plan } = job;
    // Refused here, before the plan is announced, when not even one unit fits the budget.
    let inFlight: number;
    try {
      inFlight = localUnitsInFlight(job, { workers, concurrency, memoryBudget: budget });
    } catch (e) {
      await closeJob(job);
      throw e;
    }
    log.info(
      `planned ${plan.units.length} units over ${plan.shards.length} shard(s): read ${formatBytes(plan.bytes.alignedRead + plan.bytes.baseRead)}, write ${formatBytes(plan.bytes.writtenPerOutput)} x ${plan.outputs.length}`,
      {
        units: plan.units.length,
        unitsInFlight: inFlight,
        tensorsExtrapolated: plan.tensors.extrapolated,
        tensorsCopied: plan.tensors.copied,
      },
    );
    const start = { time: performance.now(), cpu: process.cpuUsage() };
    const reports = await runLocally(job, {
      ...lease,
      workers,
      concurrency,
      memoryBudget: budget,
      device,
      storage,
      log,
      ...(argv.metricsPort === undefined ? {} : { metricsPort: argv.metricsPort }),
      progress: true,
    });
    printSummary(reports, plan, start, Boolean(argv.json));
  },
};
