// `run` end to end on a ~2 GiB pair (1 GiB per model) against the same-run I/O floor, alternated
// so both see the same page cache and disk state, both timed as processes, medians of 5.
// Target: run <= 1.3x the floor.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { runPair, runProgram } from "./runCommand.js";

export async function benchRunVsFloor(dir: string, rounds = 5) {
  const base = join(dir, "sft");
  const aligned = join(dir, "dpo");
  const floor: number[] = [];
  const run: number[] = [];
  for (let i = 0; i < rounds; i++) {
    floor.push((await runProgram("ioFloor.js", [base, aligned, join(dir, "floor")])).seconds);
    await rm(join(dir, "floor"), { recursive: true, force: true });
    const out = join(dir, "expo");
    await rm(out, { recursive: true, force: true });
    run.push((await runPair(dir, out, ["--json"])).seconds);
    await rm(out, { recursive: true, force: true });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  return { floorSeconds: median(floor), runSeconds: median(run), ratio: median(run) / median(floor), floor, run };
}
