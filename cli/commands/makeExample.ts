import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { UsageError } from "../../checkpoint/errors.js";
import { makeExamplePair } from "../../example/makeExamplePair.js";
import { formatBytes, parseSize } from "../parseSize.js";

interface MakeExampleArgs {
  dir: string;
  size: string;
  seed: number;
  json?: boolean;
}

export const makeExampleCommand: CommandModule<object, MakeExampleArgs> = {
  command: "make-example <dir>",
  describe: "write a Llama-shaped SFT/DPO pair to DIR/sft and DIR/dpo",
  builder: (y) =>
    y
      .positional("dir", { type: "string", demandOption: true })
      .option("size", { type: "string", default: "256MiB", describe: "approximate weight bytes per model" })
      .option("seed", { type: "number", default: 1 }) as unknown as Argv<MakeExampleArgs>,
  handler: async (argv: ArgumentsCamelCase<MakeExampleArgs>) => {
    let size: number;
    try {
      size = parseSize(argv.size);
    } catch (e) {
      throw new UsageError(`--size: ${(e as Error).message}`);
    }
    if (!Number.isInteger(argv.seed)) throw new UsageError(`--seed ${argv.seed}: must be a whole number`);
    const pair = await makeExamplePair({ dir: argv.dir, size, seed: argv.seed });
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
