// llm-expo against mergekit on the same pair, the same machine, the page cache warm for both: mergekit 0.1.5
// (`task_arithmetic`, base = SFT, the DPO model at weight 1 + α, `dtype: bfloat16`, `--lazy-unpickle`), which
// computes the same θ1 + α(θ1 − θ0), installed from PyPI into a venv of its own (a bench tool only, never a
// dependency of llm-expo). Alternated, best of N each, wall time and peak RSS of the process tree.
//
//   node dist/bench/vsMergekit.js [GiB per model, default 1.1] [rounds, default 3]
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { type Measured, measureCommand, runMeasured } from "./runCommand.js";

const MERGEKIT = "mergekit==0.1.5";
const ALPHA = 0.3;

/** The venv with mergekit (created and filled from PyPI on first use, then reused). */
export function mergekitVenv(): string {
  const venv = process.env.MERGEKIT_VENV ?? join(homedir(), ".cache", "llm-expo", "mergekit-venv");
  const marker = join(venv, "mergekit.version");
  if (existsSync(marker) && spawnSync("cat", [marker], { encoding: "utf8" }).stdout === MERGEKIT) return venv;
  const step = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { stdio: "inherit" });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status})`);
  };
  step("python3", ["-m", "venv", venv]);
  step(join(venv, "bin", "pip"), ["install", "--quiet", MERGEKIT]);
  step("sh", ["-c", `printf %s '${MERGEKIT}' > '${marker}'`]);
  return venv;
}

/**
 * Reads every file of a folder once, so both tools start from a warm page cache, and writes back what the
 * previous run left dirty (mergekit does not flush its output: otherwise the next run's own flushes would wait
 * behind the other tool's writeback). Neither is timed.
 */
async function warm(dir: string): Promise<void> {
  for (const f of await readdir(dir)) await readFile(join(dir, f));
  spawnSync("sync");
}

export async function benchVsMergekit(gib = 1.1, rounds = 3) {
  const venv = mergekitVenv();
  const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), "llm-expo-mergekit-"));
  try {
    await runMeasured(["make-example", dir, "--size", `${gib}GiB`, "--seed", "5"]);
    const sft = join(dir, "sft");
    const dpo = join(dir, "dpo");
    const config = join(dir, "task-arithmetic.yaml");
    await writeFile(
      config,
      [
        "merge_method: task_arithmetic",
        `base_model: ${sft}`,
        "models:",
        `  - model: ${dpo}`,
        "    parameters:",
        `      weight: ${1 + ALPHA}`,
        "dtype: bfloat16",
        "",
      ].join("\n"),
    );
    const runs: { expo: Measured[]; mergekit: Measured[] } = { expo: [], mergekit: [] };
    const expo = async () => {
      const out = join(dir, "expo");
      await warm(sft);
      await warm(dpo);
      runs.expo.push(
        await runMeasured(["run", "--base", sft, "--aligned", dpo, "--alpha", String(ALPHA), "--out", out, "--json"]),
      );
      await rm(out, { recursive: true, force: true });
    };
    const mergekit = async () => {
      const out = join(dir, "mergekit");
      await warm(sft);
      await warm(dpo);
      runs.mergekit.push(
        await measureCommand(join(venv, "bin", "mergekit-yaml"), [config, out, "--lazy-unpickle"], {
          HF_HUB_OFFLINE: "1",
        }),
      );
      await rm(out, { recursive: true, force: true });
    };
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        await expo();
        await mergekit();
      } else {
        await mergekit();
        await expo();
      }
    }
    const best = (xs: Measured[]) => Math.min(...xs.map((m) => m.seconds));
    const peak = (xs: Measured[]) => Math.max(...xs.map((m) => m.peakRss)) / 2 ** 20;
    return {
      gib,
      expo: { seconds: best(runs.expo), peakRssMiB: peak(runs.expo) },
      mergekit: { seconds: best(runs.mergekit), peakRssMiB: peak(runs.mergekit) },
      speedup: best(runs.mergekit) / best(runs.expo),
      raw: { expo: runs.expo.map((m) => m.seconds), mergekit: runs.mergekit.map((m) => m.seconds) },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatVsMergekit(r: Awaited<ReturnType<typeof benchVsMergekit>>): string {
  const f = (x: number) => x.toFixed(2);
  return (
    `${r.gib} GiB per model: llm-expo ${f(r.expo.seconds)} s, peak ${r.expo.peakRssMiB.toFixed(0)} MiB; ` +
    `mergekit ${f(r.mergekit.seconds)} s, peak ${r.mergekit.peakRssMiB.toFixed(0)} MiB; ` +
    `llm-expo ${f(r.speedup)}x faster (target >= 5)  [llm-expo ${r.raw.expo.map(f)}; mergekit ${r.raw.mergekit.map(f)}]`
  );
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop() as string)) {
  const [gib, rounds] = process.argv.slice(2);
  console.log(formatVsMergekit(await benchVsMergekit(Number(gib ?? 1.1), Number(rounds ?? 3))));
}
