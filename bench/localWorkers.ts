// `llm-expo run` with one local worker process against two (issue 4), same --concurrency, on a
// make-example pair of 512 MiB per model: alternating rounds, best of 3 each, both timed as
// processes (coordinator start-up and worker spawning included). The in-process I/O floor
// (bench/ioFloor.ts, as a process) runs in the same rounds for scale.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { runMeasured, runPair, runProgram } from "./runCommand.js";

export interface LocalWorkersResult {
  one: number[];
  two: number[];
  floor: number[];
  best: { one: number; two: number; floor: number };
  /** best(--workers 2) / best(--workers 1): below 1 means two workers are faster. */
  ratio: number;
}

export async function benchLocalWorkers(dir: string, concurrency = 2, rounds = 3): Promise<LocalWorkersResult> {
  const base = join(dir, "sft");
  const aligned = join(dir, "dpo");
  const out = join(dir, "expo");
  const run = async (workers: number) => {
    await rm(out, { recursive: true, force: true });
    const m = await runPair(dir, out, ["--workers", String(workers), "--concurrency", String(concurrency), "--json"]);
    await rm(out, { recursive: true, force: true });
    return m.seconds;
  };
  const one: number[] = [];
  const two: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < rounds; i++) {
    // Alternate which goes first, so neither always finds the other's page cache state.
    if (i % 2 === 0) {
      one.push(await run(1));
      two.push(await run(2));
    } else {
      two.push(await run(2));
      one.push(await run(1));
    }
    floor.push((await runProgram("ioFloor.js", [base, aligned, join(dir, "floor")])).seconds);
    await rm(join(dir, "floor"), { recursive: true, force: true });
  }
  const best = { one: Math.min(...one), two: Math.min(...two), floor: Math.min(...floor) };
  return { one, two, floor, best, ratio: best.two / best.one };
}

export function formatLocalWorkers(r: LocalWorkersResult): string {
  const f = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(", ");
  return `--workers 1: ${r.best.one.toFixed(2)} s  --workers 2: ${r.best.two.toFixed(2)} s  workers2/workers1 ${r.ratio.toFixed(2)}  I/O floor ${r.best.floor.toFixed(2)} s  [1: ${f(r.one)}; 2: ${f(r.two)}; floor: ${f(r.floor)}]`;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop() as string)) {
  const { mkdtemp } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), "llm-expo-workers-"));
  try {
    await runMeasured(["make-example", root, "--size", "512MiB", "--seed", "4"]);
    console.log(formatLocalWorkers(await benchLocalWorkers(root)));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
