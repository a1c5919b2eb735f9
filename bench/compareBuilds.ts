// `run` of two builds of llm-expo on the same pair, alternated with the I/O floor so all three see the same
// page cache and disk state: what a change did to end-to-end time and peak memory, measured side by side.
//
//   node dist/bench/compareBuilds.js OLD/dist/cli/main.js NEW/dist/cli/main.js [GiB per model, default 1] [rounds, 5]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBuild, runMeasured, runProgram } from "./runCommand.js";

export async function compareBuilds(oldCli: string, newCli: string, gib = 1, rounds = 5) {
  const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), "llm-expo-compare-"));
  try {
    await runMeasured(["make-example", dir, "--size", `${gib}GiB`, "--seed", "4"]);
    const base = join(dir, "sft");
    const aligned = join(dir, "dpo");
    const job = (out: string) => [
      "run",
      "--base",
      base,
      "--aligned",
      aligned,
      "--alpha",
      "0.3",
      "--out",
      out,
      "--json",
    ];
    const floor: number[] = [];
    const runs: Record<"old" | "new", { seconds: number[]; peakRss: number[] }> = {
      old: { seconds: [], peakRss: [] },
      new: { seconds: [], peakRss: [] },
    };
    for (let i = 0; i < rounds; i++) {
      floor.push((await runProgram("ioFloor.js", [base, aligned, join(dir, "floor")])).seconds);
      await rm(join(dir, "floor"), { recursive: true, force: true });
      for (const [which, cli] of (i % 2 === 0
        ? [
            ["old", oldCli],
            ["new", newCli],
          ]
        : [
            ["new", newCli],
            ["old", oldCli],
          ]) as Array<["old" | "new", string]>) {
        const out = join(dir, which);
        const m = await runBuild(cli, job(out));
        runs[which].seconds.push(m.seconds);
        runs[which].peakRss.push(m.peakRss);
        await rm(out, { recursive: true, force: true });
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const summary = (r: { seconds: number[]; peakRss: number[] }) => ({
      seconds: median(r.seconds),
      vsFloor: median(r.seconds) / median(floor),
      peakRssMiB: Math.max(...r.peakRss) / 2 ** 20,
    });
    return {
      gib,
      rounds,
      floorSeconds: median(floor),
      old: summary(runs.old),
      new: summary(runs.new),
      raw: { floor, runs },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop() as string)) {
  const [oldCli, newCli, gib, rounds] = process.argv.slice(2);
  if (!oldCli || !newCli) {
    console.error("usage: node dist/bench/compareBuilds.js OLD/dist/cli/main.js NEW/dist/cli/main.js [GiB] [rounds]");
    process.exit(2);
  }
  const r = await compareBuilds(oldCli, newCli, Number(gib ?? 1), Number(rounds ?? 5));
  const f = (x: number) => x.toFixed(2);
  console.log(
    `${r.gib} GiB per model, medians of ${r.rounds}: floor ${f(r.floorSeconds)} s; ` +
      `old ${f(r.old.seconds)} s (${f(r.old.vsFloor)}x floor, peak ${r.old.peakRssMiB.toFixed(0)} MiB); ` +
      `new ${f(r.new.seconds)} s (${f(r.new.vsFloor)}x floor, peak ${r.new.peakRssMiB.toFixed(0)} MiB); new/old ${f(r.new.seconds / r.old.seconds)}`,
  );
  console.log(JSON.stringify(r.raw));
}
