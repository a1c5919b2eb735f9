// `npm run bench`: every benchmark, each measured side by side with its baseline in one run.
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { formatBytes } from "../cli/parseSize.js";
import { benchBinVsSafetensors } from "./binVsSafetensors.js";
import { benchCoordinatorRestart } from "./coordinatorRestart.js";
import { benchKernel } from "./kernel.js";
import { benchLeaseThroughput } from "./leaseThroughput.js";
import { benchLocalRunSizes } from "./localRunSizes.js";
import { benchLocalWorkers, formatLocalWorkers } from "./localWorkers.js";
import { runMeasured } from "./runCommand.js";
import { benchS3VsRaw, formatS3VsRaw } from "./s3VsRaw.js";

const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), "llm-expo-bench-"));
try {
  console.log(
    `machine: ${cpus()[0]?.model} x${cpus().length}, ${formatBytes(totalmem())} RAM, node ${process.version}`,
  );
  console.log("\n== kernel vs memcpy (single thread) ==");
  await benchKernel();

  console.log("\n== run vs I/O floor and peak RSS with 1 and 4 workers, by size per model ==");
  await benchLocalRunSizes(root, 5, ["256MiB", "1.1GiB", "2GiB"]);

  const pair2 = join(root, "pair-2g");
  await runMeasured(["make-example", pair2, "--size", "1GiB", "--seed", "2"]);
  console.log("\n== run on pytorch_model-*.bin vs the same pair as safetensors, ~2 GiB pair ==");
  const b = await benchBinVsSafetensors(pair2);
  console.log(
    `safetensors ${b.safetensorsSeconds.toFixed(2)} s  .bin ${b.binSeconds.toFixed(2)} s  bin/safetensors ${b.ratio.toFixed(2)} (target <= 1.3)  [safetensors ${b.safetensors.map((x) => x.toFixed(2))}; bin ${b.bin.map((x) => x.toFixed(2))}]`,
  );
  await rm(pair2, { recursive: true, force: true });

  console.log("\n== distributed: planning a 70B-shaped job, lease round trips over gRPC ==");
  await benchLeaseThroughput();

  console.log("\n== 100k-unit jobs: a real coordinator restarted with 99 % of the units in its journal ==");
  await benchCoordinatorRestart();

  console.log("\n== distributed: run --workers 1 vs --workers 2, 512 MiB per model ==");
  const pairW = join(root, "pair-workers");
  await runMeasured(["make-example", pairW, "--size", "512MiB", "--seed", "4"]);
  console.log(formatLocalWorkers(await benchLocalWorkers(pairW)));
  await rm(pairW, { recursive: true, force: true });

  console.log("\n== S3 run vs raw transfer, MinIO on loopback, ~2 GiB pair ==");
  const s3 = await benchS3VsRaw();
  console.log(s3 ? formatS3VsRaw(s3) : "skipped: MinIO not built (.ci/run builds it; or set MINIO_BIN)");
} finally {
  await rm(root, { recursive: true, force: true });
}
