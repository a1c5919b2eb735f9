import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Argv, CommandModule } from "yargs";
import { JobError, UsageError } from "../../core/errors.js";
import { closeJob, prepareJob } from "../../plan/prepareJob.js";
import { candidateState } from "../../sweep/candidateState.js";
import { pollUntil } from "../../sweep/pollUntil.js";
import { RESULTS_FOLDER, sweepCandidates } from "../../sweep/sweepCandidates.js";
import type { OptionsOf } from "../argsOf.js";
import { type GlobalOptions, loggerFor, storageSettings } from "../globalOptions.js";
import { jobOptions, resolveJobSpec } from "../jobOptions.js";
import { requireReport } from "../sweepOptions.js";

const builder = (y: Argv<GlobalOptions>) =>
  jobOptions(y)
    .option("report", { type: "string", describe: "the sweep's report location (folder or s3:// prefix)" })
    .option("index", {
      type: "number",
      demandOption: true,
      describe: "which model: 0 the aligned one (the baseline), k the job's k-th output",
    })
    .option("env-out", {
      type: "string",
      demandOption: true,
      describe: "where to write EXPO_MODEL, EXPO_ALPHA, EXPO_RESULT (and EXPO_INDEX) as shell exports",
    })
    .option("timeout", { type: "number", default: 86400, describe: "seconds to wait for the candidate's commit" })
    .option("poll", { type: "number", default: 10, describe: "seconds between looks at the candidate" });

/**
 * The init container of a sweep's evaluation pod on Kubernetes: waits until the coordinator has committed the
 * pod's candidate (its index or single file, with an expo-report.json of this job and these inputs), then
 * writes the evaluator's environment to a file the evaluation container sources.
 */
export const sweepWaitCommand: CommandModule<GlobalOptions, OptionsOf<typeof builder>> = {
  command: "sweep-wait",
  describe: "(Kubernetes) wait for one sweep candidate to be committed; write its evaluator environment",
  builder,
  handler: async (argv) => {
    const log = loggerFor(argv);
    const spec = await resolveJobSpec(argv);
    const report = requireReport(argv.report).replace(/\/+$/, "");
    if (!(argv.timeout > 0) || !(argv.poll > 0)) throw new UsageError("--timeout and --poll must be seconds > 0");
    const storage = storageSettings(argv, log);
    const candidates = sweepCandidates(spec, storage);
    const candidate = candidates[argv.index];
    if (!Number.isInteger(argv.index) || candidate === undefined)
      throw new UsageError(`--index ${argv.index}: expected 0 (the baseline) to ${candidates.length - 1}`);
    const job = await prepareJob(spec, { storage, forWriting: false });
    try {
      const k = candidate.output;
      if (k !== undefined) {
        const out = job.outputs[k];
        if (!out) throw new Error(`no output ${k}`);
        let said = "";
        const ready = await pollUntil(
          async () => {
            const state = await candidateState(out, {
              alpha: candidate.alpha,
              spec,
              base: job.base.storage.location,
              aligned: job.aligned.storage.location,
              inputVersions: job.plan.inputVersions,
              indexed: job.aligned.indexed,
            });
            if (state.kind === "ours") return true;
            const now = state.kind === "absent" ? "not committed yet" : `holds ${state.why}`;
            if (now !== said) log.info(`waiting for candidate α = ${candidate.alpha} at ${out.location}: ${now}`);
            said = now;
            return undefined;
          },
          { timeoutMs: argv.timeout * 1000, pollMs: argv.poll * 1000 },
        );
        if (!ready)
          throw new JobError(
            `candidate α = ${candidate.alpha} at ${out.location} not committed after ${argv.timeout} s`,
          );
      }
      const env = {
        EXPO_INDEX: String(candidate.index),
        EXPO_ALPHA: String(candidate.alpha),
        EXPO_MODEL: candidate.model,
        EXPO_RESULT: `${report}/${RESULTS_FOLDER}/${candidate.resultName}`,
      };
      await mkdir(dirname(argv.envOut), { recursive: true });
      await writeFile(
        argv.envOut,
        Object.entries(env)
          .map(([k, v]) => `export ${k}='${v.replaceAll("'", `'\\''`)}'\n`)
          .join(""),
      );
      log.info(
        `candidate ready: ${candidate.alpha === 0 ? "the aligned model (baseline)" : `α = ${candidate.alpha}`}`,
        env,
      );
    } finally {
      await closeJob(job);
    }
  },
};
