// The JSON Schema (draft-07) of a job spec file (`--spec job.yaml`), the one definition of its keys and
// types: `--spec` files are checked against it (unknown keys and wrong types exit 2), the Helm chart's
// values.schema.json carries it verbatim as `job`, and docs/job-spec.schema.json holds it for editors
// (test/unit/cli/jobSpecSchema.test.ts keeps the three identical). Required fields are not checked on
// spec files, since flags may supply them. Multi-word keys come camelCase or kebab-case (as the flags).

const text = (description: string) => ({ type: "string", minLength: 1, description });
const strings = (description: string) => ({
  type: ["string", "array"],
  items: { type: "string" },
  description,
});
const unitSize = { type: ["string", "integer"], description: "bytes, or a size such as 64MiB or 1GiB" };
const outTemplate = { type: "string", pattern: "\\{alpha\\}", description: "output location with {alpha}" };
const alphaRules = {
  type: ["string", "array"],
  items: {
    type: ["string", "object"],
    properties: { pattern: { type: "string" }, alpha: { type: "number", exclusiveMinimum: -1 } },
    required: ["pattern", "alpha"],
    additionalProperties: false,
  },
  description: "per-tensor alpha: 'glob=value' or {pattern, alpha}; first match wins, 0 copies",
};
const onNonfinite = { enum: ["error", "warn"] };
const outDtype = { enum: ["bf16", "f16", "f32"], description: "dtype of every float tensor of the output" };

export const JOB_SPEC_SCHEMA = {
  type: "object",
  description: "the job spec (llm-expo coordinator --spec): base, aligned, alpha and out or outTemplate",
  properties: {
    base: text("SFT checkpoint θ0: s3://bucket/prefix or a folder"),
    aligned: text("aligned checkpoint θ1: s3://bucket/prefix or a folder"),
    alpha: {
      type: ["number", "array"],
      exclusiveMinimum: -1,
      not: { const: 0 },
      minItems: 1,
      items: { type: "number", exclusiveMinimum: -1, not: { const: 0 } },
      description: "α > −1 and not 0, one output each (−1 < α < 0 interpolates); α = −1 and 0 would copy an input",
    },
    out: {
      type: ["string", "array"],
      minLength: 1,
      minItems: 1,
      items: { type: "string", minLength: 1 },
      description: "output locations, one per alpha",
    },
    outTemplate,
    "out-template": outTemplate,
    unitSize,
    "unit-size": unitSize,
    arith: { enum: ["fp32", "torch"] },
    include: strings("only extrapolate tensors matching these globs"),
    exclude: strings("copy tensors matching these globs from aligned"),
    drop: strings("leave tensors matching these globs out of the output"),
    alphaRules,
    "alpha-rules": alphaRules,
    alphaRule: alphaRules,
    "alpha-rule": alphaRules,
    onNonfinite,
    "on-nonfinite": onNonfinite,
    outDtype,
    "out-dtype": outDtype,
    overwrite: { type: "boolean" },
  },
  additionalProperties: false,
  required: ["base", "aligned", "alpha"],
  anyOf: [{ required: ["out"] }, { required: ["outTemplate"] }, { required: ["out-template"] }],
} as const;
