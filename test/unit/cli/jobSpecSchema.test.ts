// The job spec's JSON Schema is defined once (cli/jobSpecSchema.ts); the Helm chart's values.schema.json
// (`job`) and docs/job-spec.schema.json carry it verbatim, and every key it allows is one `--spec` reads.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { resolveJobSpec } from "../../../cli/jobOptions.js";
import { JOB_SPEC_SCHEMA } from "../../../cli/jobSpecSchema.js";
import { tempDir } from "../../support/tempDir.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const json = (path: string) => JSON.parse(readFileSync(join(ROOT, path), "utf8"));
const plain = JSON.parse(JSON.stringify(JOB_SPEC_SCHEMA));

describe("job spec schema", () => {
  it("is the Helm chart's schema for `job`, verbatim", () => {
    assert.deepEqual(json("helm/llm-expo/values.schema.json").properties.job, plain);
  });

  it("is docs/job-spec.schema.json, verbatim", () => {
    const { $schema, title, ...schema } = json("docs/job-spec.schema.json");
    assert.equal($schema, "http://json-schema.org/draft-07/schema#");
    assert.ok(title);
    assert.deepEqual(schema, plain);
  });

  it("allows exactly the keys --spec reads: a spec using every key resolves", async () => {
    const dir = await tempDir();
    const file = join(dir, "job.json");
    const values: Record<string, unknown> = {
      base: "/m/sft",
      aligned: "/m/dpo",
      alpha: [0.5],
      out: ["/o/x"],
      outTemplate: "/o/{alpha}",
      unitSize: "1MiB",
      arith: "torch",
      include: ["model.*"],
      exclude: "lm_head.*",
      drop: ["v_head.*"],
      alphaRules: ["*.mlp.*=0.1"],
      onNonfinite: "warn",
      outDtype: "f16",
      overwrite: true,
    };
    const keys = Object.keys(JOB_SPEC_SCHEMA.properties);
    const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    for (const k of keys) assert.ok(camel(k) in values || camel(k) === "alphaRule", `${k} is a spec field`);
    await writeFile(file, JSON.stringify(values));
    const spec = await resolveJobSpec({ spec: file });
    assert.deepEqual(
      [spec.unitSize, spec.arith, spec.exclude, spec.drop, spec.onNonfinite, spec.outDtype, spec.overwrite],
      [1024 * 1024, "torch", ["lm_head.*"], ["v_head.*"], "warn", "F16", true],
    );
    assert.deepEqual(spec.alphaRules, [{ pattern: "*.mlp.*", alpha: 0.1 }]);
  });
});
