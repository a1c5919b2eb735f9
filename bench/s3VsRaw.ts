// An S3 run against the same-run raw transfer of the same bytes with the same SDK settings
// (bench/s3RawChild.ts), MinIO on loopback, each in a process of its own. Two figures: throughput
// (target: run >= 0.8 x raw) and CPU seconds per GiB moved, read + written (target: run <= 1.2 x raw).
// The run's CPU is everything its process spends after planning: coordinator, worker, kernel and hashing.
import type { CpuCost } from "../cli/cpuCost.js";
import { startMinio } from "../harness/s3Servers.js";
import { runMeasured } from "./runCommand.js";
import { runJsonChild } from "./runJsonChild.js";

/** What each side reports: its seconds and its CPU cost (cli/cpuCost.ts), `run --json` and the raw child alike. */
type Side = { seconds: number } & CpuCost;

export interface S3VsRaw {
  raw: Side[];
  run: Side[];
  /** Best raw seconds / best run seconds. */
  throughputRatio: number;
  /** Best run CPU s/GiB / best raw CPU s/GiB. */
  cpuRatio: number;
}

export async function benchS3VsRaw(rounds = 3, size = "1GiB"): Promise<S3VsRaw | undefined> {
  const server = await startMinio(["models", "outputs"]);
  if (!server) return undefined;
  const env = server.env;
  Object.assign(process.env, env);
  try {
    await runMeasured(["make-example", "s3://models/pair", "--size", size, "--seed", "2"]);
    const raw: Side[] = [];
    const run: Side[] = [];
    for (let i = 0; i < rounds; i++) {
      raw.push(
        await runJsonChild<Side>(
          "s3RawChild.js",
          [server.endpoint, "s3://models/pair/sft", "s3://models/pair/dpo", `s3://outputs/raw-${i}`],
          env,
        ),
      );
      const r = await runJsonChild<Side>(
        "../cli/main.js",
        [
          "run",
          "--base",
          "s3://models/pair/sft",
          "--aligned",
          "s3://models/pair/dpo",
          "--alpha",
          "0.3",
          "--out",
          `s3://outputs/run-${i}`,
          "--json",
        ],
        env,
      );
      run.push(r);
    }
    const least = (xs: number[]) => Math.min(...xs);
    return {
      raw,
      run,
      throughputRatio: least(raw.map((s) => s.seconds)) / least(run.map((s) => s.seconds)),
      cpuRatio: least(run.map((s) => s.cpuSecondsPerGiB)) / least(raw.map((s) => s.cpuSecondsPerGiB)),
    };
  } finally {
    await server.stop();
  }
}

export function formatS3VsRaw(r: S3VsRaw): string {
  const side = (s: Side) => `${s.seconds.toFixed(2)} s, ${s.cpuSecondsPerGiB.toFixed(3)} cpu s/GiB`;
  return [
    ...r.raw.map((s, i) => `raw #${i + 1}: ${side(s)}`),
    ...r.run.map((s, i) => `run #${i + 1}: ${side(s)}`),
    `run/raw throughput ${r.throughputRatio.toFixed(2)} (target >= 0.8); run/raw cpu per GiB ${r.cpuRatio.toFixed(2)} (target <= 1.2)`,
  ].join("\n");
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop() as string)) {
  const [rounds, size] = process.argv.slice(2);
  const r = await benchS3VsRaw(Number(rounds ?? 3), size ?? "1GiB");
  console.log(r ? formatS3VsRaw(r) : "skipped: MinIO not built (.ci/run builds it; or set MINIO_BIN)");
}
