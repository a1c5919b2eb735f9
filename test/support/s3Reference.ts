// The same example pair in a local folder and under an S3 prefix (make-example is deterministic for a seed), and
// the job over it run locally by one process: the reference an S3 job's output is checked against.
import assert from "node:assert/strict";
import { join } from "node:path";
import { jobArgs, runCli } from "./runCli.js";
import { tempDir } from "./tempDir.js";

/** Makes the pair at `s3Prefix` (sft/ and dpo/) and in a temp folder; returns the local run's output folder. */
export async function s3Reference(
  env: Record<string, string>,
  pair: { s3Prefix: string; size: string; seed: number; jobArgs: string[] },
): Promise<string> {
  const root = await tempDir();
  for (const target of [root, pair.s3Prefix]) {
    const r = await runCli(["make-example", target, "--size", pair.size, "--seed", String(pair.seed)], env);
    assert.equal(r.code, 0, r.stderr);
  }
  const out = join(root, "expo");
  const r = await runCli([...jobArgs("run", join(root, "sft"), join(root, "dpo"), out), ...pair.jobArgs]);
  assert.equal(r.code, 0, r.stderr);
  return out;
}
