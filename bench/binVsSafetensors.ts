// `run` on a pair stored as pytorch_model-*.bin (torch.save zips, read through the restricted unpickler and
// ranged reads) against the same pair as safetensors, alternated in the same rounds, medians. The output is
// safetensors either way. Target: .bin within 1.3x of safetensors.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { convertToTorch } from "../harness/convertToTorch.js";
import type { StorageSettings } from "../storage/s3Settings.js";
import { StorageRetry } from "../storage/storageRetry.js";
import { runMeasured } from "./runCommand.js";

const LOCAL: StorageSettings = {
  s3: { forcePathStyle: false, region: "us-east-1", maxSockets: 64, partChecksums: true },
  retry: new StorageRetry({ timeoutMs: 30_000 }),
};

export async function benchBinVsSafetensors(dir: string, rounds = 5) {
  const st = { base: join(dir, "sft"), aligned: join(dir, "dpo") };
  const bin = { base: join(dir, "sft-bin"), aligned: join(dir, "dpo-bin") };
  await convertToTorch(st.base, bin.base, LOCAL);
  await convertToTorch(st.aligned, bin.aligned, LOCAL);
  const times = { safetensors: [] as number[], bin: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    for (const [kind, pair] of [
      ["safetensors", st],
      ["bin", bin],
    ] as const) {
      const out = join(dir, `expo-${kind}`);
      await rm(out, { recursive: true, force: true });
      const args = ["run", "--base", pair.base, "--aligned", pair.aligned, "--alpha", "0.3", "--out", out, "--json"];
      times[kind].push((await runMeasured(args)).seconds);
      await rm(out, { recursive: true, force: true });
    }
  }
  await Promise.all([bin.base, bin.aligned].map((d) => rm(d, { recursive: true, force: true })));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  return {
    safetensorsSeconds: median(times.safetensors),
    binSeconds: median(times.bin),
    ratio: median(times.bin) / median(times.safetensors),
    ...times,
  };
}
