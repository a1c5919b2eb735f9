// Flags and --spec files into a JobSpec, lease settings and S3 settings: typed values out, one-line usage
// errors for anything wrong, flags over the file, the standard AWS variables under the flags.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { storageSettings } from "../../../cli/globalOptions.js";
import { resolveJobSpec } from "../../../cli/jobOptions.js";
import { leaseSettings } from "../../../cli/leaseOptions.js";
import { jobIdentity } from "../../../coordinator/jobIdentity.js";
import { UsageError } from "../../../core/errors.js";
import { DEFAULT_UNIT_SIZE, jobSpecWith } from "../../../core/jobSpec.js";
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
      drop: [],
      outDtype: null,
      alphaRules: [],
      onNonfinite: "error",
      overwrite: false,
    });
  });

  it("gives the same job identity as jobSpecWith for the same job (a journal written by one resumes in the other)", async () => {
    const fromFlags = await resolveJobSpec({ base: "/m/sft", aligned: "/m/dpo", alpha: ["0.3"], out: ["/o/a"] });
    const built = jobSpecWith({ base: "/m/sft", aligned: "/m/dpo", alphas: [0.3], outs: ["/o/a"] });
    const versions = { base: { "a.safetensors": "1" }, aligned: { "a.safetensors": "2" } };
    assert.deepEqual(jobIdentity(built, versions), jobIdentity(fromFlags, versions));
  });

  it("reads a spec file (YAML, camelCase or kebab-case keys) and lets flags override it", async () => {
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
        "alphaRules:",
        "  - 'lm_head.*=0'",
        "exclude: ['*.bias']",
        "drop: v_head.*",
        "out-dtype: bf16",
      ].join("\n"),
    );
    const spec = await resolveJobSpec({ spec: file, alpha: ["0.2"], out: ["/o/b"] });
    assert.equal(spec.arith, "torch");
    assert.equal(spec.unitSize, 16 * 1024 * 1024);
    assert.deepEqual(spec.alphas, [0.2], "the flag wins");
    assert.deepEqual(spec.outs, ["/o/b"]);
    assert.deepEqual(spec.alphaRules, [{ pattern: "lm_head.*", alpha: 0 }]);
    assert.deepEqual(spec.exclude, ["*.bias"]);
    assert.deepEqual(spec.drop, ["v_head.*"]);
    assert.equal(spec.outDtype, "BF16");
  });

  it("refuses unknown keys in a spec file, naming the nearest valid key, and values of the wrong type", async () => {
    const dir = await tempDir();
    const refused = async (line: string, pattern: RegExp) => {
      const file = join(dir, "job.yaml");
      await writeFile(file, ["base: /m/sft", "aligned: /m/dpo", "alpha: [0.1]", "out: [/o/a]", line].join("\n"));
      await assert.rejects(resolveJobSpec({ spec: file }), (e: unknown) => {
        assert.ok(e instanceof UsageError, String(e));
        assert.ok(e.message.startsWith(`${file}: `), e.message);
        assert.match(e.message, pattern);
        return true;
      });
    };
    await refused("unit_sise: 1GiB", /unit_sise: unknown key; did you mean unitSize\?$/);
    await refused("arithh: torch", /arithh: unknown key; did you mean arith\?$/);
    await refused("unit_size: 1GiB", /unit_size: unknown key; did you mean unitSize\?$/);
    await refused("on_nonfinite: warn", /did you mean onNonfinite\?$/);
    await refused("outdtype: bf16", /did you mean outDtype\?$/);
    await refused("completely-unrelated: 1", /completely-unrelated: unknown key$/);
    await refused("arith: fp16", /arith: expected one of fp32, torch \(got "fp16"\)/);
    await refused("unitSize: true", /unitSize: expected a string or a whole number \(got true\)/);
    await refused("overwrite: 'yes'", /overwrite: expected a boolean/);
    await refused("out-dtype: fp8", /out-dtype: expected one of bf16, f16, f32/);
    await refused("exclude: [1]", /exclude: item 1: expected a string/);
    await refused("alphaRules: [{pattern: 'x'}]", /alphaRules: item 1: missing alpha/);
    await refused("alphaRules: [{pattern: 'x', alpha: 0, why: 1}]", /alphaRules: item 1: unknown key why/);
    await refused("outTemplate: /o/x", /outTemplate: "\/o\/x" does not match/);
  });

  it("refuses what is wrong with one line naming the flag", async () => {
    const base = { base: "/m/sft", aligned: "/m/dpo" };
    await assert.rejects(resolveJobSpec({ aligned: "/m/dpo", alpha: ["1"], out: ["/o"] }), usage(/^missing --base$/));
    await assert.rejects(resolveJobSpec({ ...base, out: ["/o"] }), usage(/missing --alpha/));
    await assert.rejects(
      resolveJobSpec({ ...base, alpha: ["0"], out: ["/o"] }),
      usage(/--alpha 0: α = 0 is the aligned model θ1 itself/),
    );
    await assert.rejects(
      resolveJobSpec({ ...base, alpha: ["-1"], out: ["/o"] }),
      usage(/--alpha -1: α = −1 is the base model θ0 itself/),
    );
    await assert.rejects(
      resolveJobSpec({ ...base, alpha: ["-1.25"], out: ["/o"] }),
      usage(/--alpha -1.25: must be greater than −1/),
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
      usage(/value must be a finite number > −1/),
    );
    await assert.rejects(
      resolveJobSpec({ ...base, alpha: ["1"], out: ["/o"], spec: "/nonexistent/job.yaml" }),
      usage(/cannot read job spec \(ENOENT\)/),
    );
  });

  it("accepts −1 < α < 0 (interpolation, γ = 1 + α) for outputs and per-tensor rules", async () => {
    const spec = await resolveJobSpec({
      base: "/m/sft",
      aligned: "/m/dpo",
      alpha: ["-0.5", "-0.999", "0.25"],
      outTemplate: "/o/expo-{alpha}",
      alphaRule: ["*.mlp.*=-0.25", "lm_head.*=0"],
    });
    assert.deepEqual(spec.alphas, [-0.5, -0.999, 0.25]);
    assert.deepEqual(spec.outs, ["/o/expo--0.5", "/o/expo--0.999", "/o/expo-0.25"]);
    assert.deepEqual(spec.alphaRules, [
      { pattern: "*.mlp.*", alpha: -0.25 },
      { pattern: "lm_head.*", alpha: 0 },
    ]);
  });

  it("needs no outputs for commands that write nothing (stats)", async () => {
    const spec = await resolveJobSpec({ base: "/m/sft", aligned: "/m/dpo" }, false);
    assert.deepEqual([spec.alphas, spec.outs], [[], []]);
  });
});

describe("lease options", () => {
  const output = { outputLeaseTtl: 30, wait: true };
  it("turns seconds into milliseconds and refuses nonsense", () => {
    assert.deepEqual(leaseSettings({ maxAttempts: 3, leaseTtl: 1.5, journal: undefined, ...output }), {
      maxAttempts: 3,
      leaseTtlMs: 1500,
      outputLease: { ttlMs: 30_000, wait: true },
    });
    assert.deepEqual(
      leaseSettings({ maxAttempts: 1, leaseTtl: 60, journal: "s3://b/j", outputLeaseTtl: 2.5, wait: false }),
      {
        maxAttempts: 1,
        leaseTtlMs: 60_000,
        outputLease: { ttlMs: 2500, wait: false },
        journal: "s3://b/j",
      },
    );
    assert.throws(
      () => leaseSettings({ maxAttempts: 0, leaseTtl: 60, journal: undefined, ...output }),
      usage(/--max-attempts 0/),
    );
    assert.throws(
      () => leaseSettings({ maxAttempts: 2, leaseTtl: 0, journal: undefined, ...output }),
      usage(/--lease-ttl 0/),
    );
    assert.throws(
      () => leaseSettings({ maxAttempts: 2, leaseTtl: 60, journal: undefined, outputLeaseTtl: 0, wait: true }),
      usage(/--output-lease-ttl 0/),
    );
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

  it("refuses a storage timeout that is not a positive number of seconds", () => {
    for (const storageTimeout of [0, -1, Number.NaN])
      assert.throws(() => storageSettings({ ...none, storageTimeout }, silentLogger, {}), usage(/--storage-timeout/));
  });
});
