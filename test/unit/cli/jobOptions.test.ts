// Flags and --spec files into a JobSpec, lease settings and S3 settings: typed values out, one-line usage
// errors for anything wrong, flags over the file, the standard AWS variables under the flags.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { storageFlags, storageSettings } from "../../../cli/globalOptions.js";
import { DEFAULT_UNIT_SIZE, resolveJobSpec } from "../../../cli/jobOptions.js";
import { leaseSettings } from "../../../cli/leaseOptions.js";
import { UsageError } from "../../../core/errors.js";
import { silentLogger } from "../../../core/logger.js";
import { tempDir } from "../../support/tempDir.js";

const usage = (pattern: RegExp) => (e: unknown) => e instanceof UsageError && pattern.test(e.message);

describe("job options", () => {
  it("resolves flags into a spec with the documented defaults", async () => {
    const spec = await resolveJobSpec({
      base: "/m/sft",
      aligned: "/m/dpo",
      alpha: ["0.3", "0.5"],
      outTemplate: "/o/expo-{alpha}",
    });
    assert.deepEqual(spec, {
      base: "/m/sft",
      aligned: "/m/dpo",
      alphas: [0.3, 0.5],
      outs: ["/o/expo-0.3", "/o/expo-0.5"],
      arith: "fp32",
      unitSize: DEFAULT_UNIT_SIZE,
      include: [],
      exclude: [],
      alphaRules: [],
      onNonfinite: "error",
      overwrite: false,
    });
  });

  it("reads a spec file (YAML, kebab or snake case) and lets flags override it", async () => {
    const dir = await tempDir();
    const file = join(dir, "job.yaml");
    await writeFile(
      file,
      [
        "base: /m/sft",
        "aligned: /m/dpo",
        "alpha: [0.1]",
        "out: [/o/a]",
        "unit-size: 16MiB",
        "arith: torch",
        "alpha_rules:",
        "  - 'lm_head.*=0'",
        "exclude: ['*.bias']",
      ].join("\n"),
    );
    const spec = await resolveJobSpec({ spec: file, alpha: ["0.2"], out: ["/o/b"] });
    assert.equal(spec.arith, "torch");
    assert.equal(spec.unitSize, 16 * 1024 * 1024);
    assert.deepEqual(spec.alphas, [0.2], "the flag wins");
    assert.deepEqual(spec.outs, ["/o/b"]);
    assert.deepEqual(spec.alphaRules, [{ pattern: "lm_head.*", alpha: 0 }]);
    assert.deepEqual(spec.exclude, ["*.bias"]);
  });

  it("refuses what is wrong with one line naming the flag", async () => {
    const base = { base: "/m/sft", aligned: "/m/dpo" };
    await assert.rejects(resolveJobSpec({ aligned: "/m/dpo", alpha: ["1"], out: ["/o"] }), usage(/^missing --base$/));
    await assert.rejects(resolveJobSpec({ ...base, out: ["/o"] }), usage(/missing --alpha/));
    await assert.rejects(
      resolveJobSpec({ ...base, alpha: ["0"], out: ["/o"] }),
      usage(/--alpha 0: must be greater than 0/),
    );
    await assert.rejects(
      resolveJobSpec({ ...base, alpha: ["x"], out: ["/o"] }),
      usage(/--alpha x: not a finite number/),
    );
    await assert.rejects(
      resolveJobSpec({ ...base, alpha: ["1", "2"], out: ["/o"] }),
      usage(/2 --alpha value\(s\) but 1 --out/),
    );
    await assert.rejects(resolveJobSpec({ ...base, alpha: ["1"], outTemplate: "/o" }), usage(/needs \{alpha\}/));
    await assert.rejects(
      resolveJobSpec({ ...base, alpha: ["1"], out: ["/o"], unitSize: "12" }),
      usage(/--unit-size 12: must be at least 64 bytes/),
    );
    await assert.rejects(
      resolveJobSpec({ ...base, alpha: ["1"], out: ["/o"], unitSize: "lots" }),
      usage(/--unit-size: not a size/),
    );
    await assert.rejects(
      resolveJobSpec({ ...base, alpha: ["1"], out: ["/o"], alphaRule: ["x"] }),
      usage(/--alpha-rule x: expected 'glob=value'/),
    );
    await assert.rejects(
      resolveJobSpec({ ...base, alpha: ["1"], out: ["/o"], alphaRule: ["x=-1"] }),
      usage(/value must be a finite number >= 0/),
    );
    await assert.rejects(
      resolveJobSpec({ ...base, alpha: ["1"], out: ["/o"], spec: "/nonexistent/job.yaml" }),
      usage(/cannot read job spec \(ENOENT\)/),
    );
  });

  it("needs no outputs for commands that write nothing (stats)", async () => {
    const spec = await resolveJobSpec({ base: "/m/sft", aligned: "/m/dpo" }, false);
    assert.deepEqual([spec.alphas, spec.outs], [[], []]);
  });
});

describe("lease options", () => {
  it("turns seconds into milliseconds and refuses nonsense", () => {
    assert.deepEqual(leaseSettings({ maxAttempts: 3, leaseTtl: 1.5, journal: undefined }), {
      maxAttempts: 3,
      leaseTtlMs: 1500,
    });
    assert.deepEqual(leaseSettings({ maxAttempts: 1, leaseTtl: 60, journal: "s3://b/j" }), {
      maxAttempts: 1,
      leaseTtlMs: 60_000,
      journal: "s3://b/j",
    });
    assert.throws(() => leaseSettings({ maxAttempts: 0, leaseTtl: 60, journal: undefined }), usage(/--max-attempts 0/));
    assert.throws(() => leaseSettings({ maxAttempts: 2, leaseTtl: 0, journal: undefined }), usage(/--lease-ttl 0/));
  });
});

describe("storage options", () => {
  const none = { s3Endpoint: undefined, s3PathStyle: undefined, s3PartChecksums: undefined, storageTimeout: 300 };

  it("takes the endpoint from the flag, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL; path-style for IP hosts", () => {
    const env = { AWS_ENDPOINT_URL: "http://10.0.0.1:9000", AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9000" };
    assert.equal(storageSettings(none, silentLogger, env).s3.endpoint, "http://127.0.0.1:9000");
    assert.equal(
      storageSettings(none, silentLogger, { AWS_ENDPOINT_URL: "http://10.0.0.1:9000" }).s3.endpoint,
      "http://10.0.0.1:9000",
    );
    const flagged = storageSettings({ ...none, s3Endpoint: "https://s3.example.com" }, silentLogger, env);
    assert.equal(flagged.s3.endpoint, "https://s3.example.com");
    assert.equal(flagged.s3.forcePathStyle, false, "a named host gets virtual-host addressing");
    assert.equal(storageSettings(none, silentLogger, env).s3.forcePathStyle, true, "an IP host cannot");
    assert.equal(
      storageSettings({ ...none, s3PathStyle: false }, silentLogger, env).s3.forcePathStyle,
      false,
      "unless told",
    );
    assert.equal(storageSettings(none, silentLogger, {}).s3.endpoint, undefined);
    assert.equal(storageSettings(none, silentLogger, { AWS_REGION: "eu-west-1" }).s3.region, "eu-west-1");
    assert.equal(storageSettings(none, silentLogger, {}).s3.region, "us-east-1");
  });

  it("hands worker processes the same settings as flags", () => {
    const settings = storageSettings(
      { s3Endpoint: "http://localhost:9000", s3PathStyle: undefined, s3PartChecksums: false, storageTimeout: 42.5 },
      silentLogger,
      {},
    );
    const flags = storageFlags(settings);
    assert.deepEqual(flags, [
      "--s3-endpoint",
      "http://localhost:9000",
      "--s3-path-style",
      "--no-s3-part-checksums",
      "--storage-timeout",
      "42.5",
    ]);
    const parsed = {
      s3Endpoint: flags[1],
      s3PathStyle: flags.includes("--s3-path-style"),
      s3PartChecksums: !flags.includes("--no-s3-part-checksums"),
      storageTimeout: Number(flags[flags.indexOf("--storage-timeout") + 1]),
    };
    const again = storageSettings(parsed, silentLogger, {});
    assert.deepEqual(again.s3, settings.s3);
    assert.equal(again.retry.timeoutMs, settings.retry.timeoutMs);
  });

  it("refuses a storage timeout that is not a positive number of seconds", () => {
    for (const storageTimeout of [0, -1, Number.NaN])
      assert.throws(() => storageSettings({ ...none, storageTimeout }, silentLogger, {}), usage(/--storage-timeout/));
  });
});
