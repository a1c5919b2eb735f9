// `llm-expo run` against the same-run I/O floor at several pair sizes (issue 14: <= 1.3x from 256 MiB per
// model up), each size's pair made once, run and floor alternated (bench/runVsFloor.ts), medians; then peak
// RSS of the process tree with 1 and with 4 workers (target <= 600 MiB whatever the number of workers).
// `node dist/bench/localRunSizes.js DIR ROUNDS SIZE...` (sizes per model, e.g. 256MiB 1.1GiB 4GiB).
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { formatBytes } from "../cli/parseSize.js";
import { runMeasured, runPair } from "./runCommand.js";
import { benchRunVsFloor } from "./runVsFloor.js";

export async function benchLocalRunSizes(root: string, rounds: number, sizes: string[]): Promise<string[]> {
  const lines: string[] = [];
  for (const size of sizes) {
    const dir = join(root, `pair-${size}`);
    await runMeasured(["make-example", dir, "--size", size, "--seed", "5"]);
    const r = await benchRunVsFloor(dir, rounds);
    const rss: string[] = [];
    for (const workers of [1, 4]) {
      const out = join(dir, "expo-rss");
      await rm(out, { recursive: true, force: true });
      const m = await runPair(dir, out, ["--workers", String(workers)]);
      rss.push(`--workers ${workers}: peak RSS ${formatBytes(m.peakRss)}, ${m.seconds.toFixed(2)} s`);
      await rm(out, { recursive: true, force: true });
    }
    const f = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(", ");
    lines.push(
      `${size} per model: floor ${r.floorSeconds.toFixed(2)} s, run ${r.runSeconds.toFixed(2)} s, run/floor ${r.ratio.toFixed(2)} (target <= 1.3) [floor ${f(r.floor)}; run ${f(r.run)}]; ${rss.join("; ")} (target <= 600 MiB)`,
    );
    console.log(lines.at(-1));
    await rm(dir, { recursive: true, force: true });
  }
  return lines;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop() as string)) {
  const [dir, rounds, ...sizes] = process.argv.slice(2);
  await benchLocalRunSizes(dir ?? ".", Number(rounds ?? 5), sizes.length ? sizes : ["256MiB", "1.1GiB", "4GiB"]);
}
