import type { Argv, CommandModule } from "yargs";
import { UsageError } from "../../core/errors.js";
import { makeExamplePair } from "../../example/makeExamplePair.js";
import type { OptionsOf } from "../argsOf.js";
import { type GlobalOptions, loggerFor, storageSettings } from "../globalOptions.js";
import { formatBytes, parseSize } from "../parseSize.js";

const builder = (y: Argv<GlobalOptions>) =>
  y
    .positional("dir", { type: "string", demandOption: true })
    .option("size", { type: "string", default: "256MiB", describe: "approximate weight bytes per model" })
    .option("seed", { type: "number", default: 1 });

export const makeExampleCommand: CommandModule<GlobalOptions, OptionsOf<typeof builder>> = {
  command: "make-example <dir>",
  describe: "write a Llama-shaped SFT/DPO pair to DIR/sft and DIR/dpo",
  builder,
  handler: async (argv) => {
    let size: number;
    try {
      size = parseSize(argv.size);
    } catch (e) {
      throw new UsageError(`--size: ${(e as Error).message}`);
    }
    if (!Number.isInteger(argv.seed)) throw new UsageError(`--seed ${argv.seed}: must be a whole number`);
    const pair = await makeExamplePair({
      dir: argv.dir,
      size,
      seed: argv.seed,
      storage: storageSettings(argv, loggerFor(argv)),
    });
    if (argv.json) {
      process.stdout.write(`${JSON.stringify(pair)}\n`);
    } else {
      process.stdout.write(
        `wrote ${pair.sft} and ${pair.dpo}: ${pair.tensors} tensors, ${formatBytes(pair.bytesPerModel)} each ` +
          `(hidden ${pair.shape.hidden}, ${pair.shape.layers} layers, vocab ${pair.shape.vocab})\n`,
      );
    }
  },
};
