import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Argv, CommandModule } from "yargs";
import { DEFAULT_UNIT_SIZE, jobSpecWith } from "../../core/jobSpec.js";
import { makeExamplePair } from "../../example/makeExamplePair.js";
import { verifyOutput } from "../../inspect/verifyOutput.js";
import { selectDevice } from "../../kernel/selectDevice.js";
import { prepareJob } from "../../plan/prepareJob.js";
import type { OptionsOf } from "../argsOf.js";
import { type GlobalOptions, loggerFor, storageSettings } from "../globalOptions.js";
import { formatBytes, parseSize } from "../parseSize.js";
import { runLocally } from "../runLocally.js";

const builder = (y: Argv<GlobalOptions>) =>
  y
    .option("dir", {
      type: "string",
      describe: "where to put the pair and the output (folder or s3://bucket/prefix); default: a temp folder",
    })
    .option("size", { type: "string", default: "64MiB" })
    .option("alpha", { type: "number", default: 0.3 })
    .option("keep", {
      type: "boolean",
      default: false,
      describe: "keep the temp folder",
    });

export const demoCommand: CommandModule<GlobalOptions, OptionsOf<typeof builder>> = {
  command: "demo",
  describe: "make an example pair in a temp folder, extrapolate it, verify it and print the report summary",
  builder,
  handler: async (argv) => {
    const log = loggerFor(argv);
    const storage = storageSettings(argv, log);
    const temporary = argv.dir === undefined;
    const dir = argv.dir?.replace(/\/+$/, "") ?? (await mkdtemp(join(tmpdir(), "llm-expo-demo-")));
    try {
      const pair = await makeExamplePair({ dir, size: parseSize(argv.size), seed: 1, storage });
      log.info(`example pair: ${pair.sft} and ${pair.dpo} (${formatBytes(pair.bytesPerModel)} each)`);
      const out = `${dir}/expo-${argv.alpha}`;
      const job = await prepareJob(
        jobSpecWith({
          base: pair.sft,
          aligned: pair.dpo,
          alphas: [argv.alpha],
          outs: [out],
          unitSize: DEFAULT_UNIT_SIZE / 4,
        }),
        { storage, forWriting: true },
      );
      const started = performance.now();
      const [report] = await runLocally(job, {
        workers: 1,
        concurrency: 2,
        memoryBudget: undefined,
        device: selectDevice("auto"),
        storage,
        log,
        progress: true,
      });
      const seconds = (performance.now() - started) / 1000;
      const check = await verifyOutput({
        base: pair.sft,
        aligned: pair.dpo,
        out,
        sample: 1,
        seed: 1,
        concurrency: 1,
        // Outputs are the same bits on either device; the CPU is always there.
        device: "cpu",
        storage,
      });
      const m = report?.statistics.model;
      if (!m) throw new Error("no report");
      if (argv.json) {
        process.stdout.write(`${JSON.stringify({ dir, out, seconds, model: m, verified: check.ok })}\n`);
      } else {
        const top = Object.entries(report.statistics.tensors)
          .sort((a, b) => b[1].relativeShift - a[1].relativeShift)
          .slice(0, 3);
        process.stdout.write(
          `ExPO demo: θ2 = θ1 + ${argv.alpha}·(θ1 − θ0) on a Llama-shaped pair (${formatBytes(pair.bytesPerModel)} per model)\n` +
            `  output      ${out}${temporary && !argv.keep ? " (removed at exit; --keep keeps it)" : ""}\n` +
            `  tensors     ${m.tensorsExtrapolated} extrapolated, ${m.tensorsCopied} copied, in ${seconds.toFixed(2)} s\n` +
            `  norms       |θ0| ${m.normBase.toPrecision(6)}  |θ1| ${m.normAligned.toPrecision(6)}  |θ2| ${m.normOutput.toPrecision(6)}\n` +
            `  shift       |θ1 − θ0|/|θ0| = ${m.relativeShift.toExponential(3)} (alignment moves weights very little)\n` +
            `  largest     ${top.map(([n, t]) => `${n} ${t.relativeShift.toExponential(2)}`).join(", ")}\n` +
            `  verify      ${check.ok ? "OK" : "FAILED"}: ${check.unitsChecked} units recomputed bit for bit\n`,
        );
      }
      if (!check.ok) throw new Error(`demo output failed verification: ${check.problems[0]}`);
    } finally {
      if (temporary && !argv.keep) await rm(dir, { recursive: true, force: true });
    }
  },
};
