// The flags every job command shares, and their resolution (with an optional --spec file, whose
// fields the flags override) into a validated JobSpec.
import { readFileSync } from "node:fs";
import type { Argv } from "yargs";
import { UsageError } from "../core/errors.js";
import { type AlphaRule, DEFAULT_UNIT_SIZE, type JobSpec } from "../core/jobSpec.js";
import type { ArgsOf } from "./argsOf.js";
import { checkSpecFields } from "./checkSpecFields.js";
import { parseSize } from "./parseSize.js";

export function jobOptions<T>(y: Argv<T>) {
  return y
    .option("base", { type: "string", describe: "SFT checkpoint θ0 (folder)" })
    .option("aligned", { type: "string", describe: "aligned (DPO/RLHF) checkpoint θ1 (folder)" })
    .option("alpha", {
      type: "string",
      array: true,
      describe: "extrapolation strength α (repeatable: one output each); −1 < α < 0 interpolates",
    })
    .option("out", { type: "string", array: true, describe: "output location, one per --alpha" })
    .option("out-template", { type: "string", describe: "output location with {alpha}, e.g. ./expo-{alpha}" })
    .option("spec", { type: "string", describe: "job spec file (YAML or JSON) with the same fields" })
    .option("unit-size", { type: "string", describe: "work unit size (bytes or 16MiB, 1GiB)" })
    .option("arith", {
      choices: ["fp32", "torch"] as const,
      describe: "fp32: one rounding (default); torch: the paper script's bits",
    })
    .option("include", { type: "string", array: true, describe: "only extrapolate tensors matching these globs" })
    .option("exclude", {
      type: "string",
      array: true,
      describe: "copy tensors matching these globs from aligned (also ones base does not have)",
    })
    .option("drop", { type: "string", array: true, describe: "leave tensors matching these globs out of the output" })
    .option("out-dtype", {
      choices: ["bf16", "f16", "f32"] as const,
      describe: "dtype of every float tensor of the output (default: each tensor's aligned dtype)",
    })
    .option("alpha-rule", {
      type: "string",
      array: true,
      describe: "per-tensor α: 'glob=value' (first match wins; 0 copies)",
    })
    .option("on-nonfinite", {
      choices: ["error", "warn"] as const,
      describe: "non-finite inputs or outputs: fail (default) or write them",
    })
    .option("overwrite", { type: "boolean", describe: "replace an existing checkpoint at --out" });
}

export type JobArgs = ArgsOf<typeof jobOptions<object>>;

type Fields = Record<string, unknown>;

/** The job the flags and the --spec file describe (flags win), validated: UsageError for anything wrong. */
export async function resolveJobSpec(args: Partial<JobArgs>, needOutputs = true): Promise<JobSpec> {
  const file = args.spec ? await readSpecFile(args.spec) : {};
  const pick = (key: keyof JobArgs & string): unknown => (args[key] !== undefined ? args[key] : file[key]);
  const base = requireString(pick("base"), "--base");
  const aligned = requireString(pick("aligned"), "--aligned");
  const alphas = list(pick("alpha")).map((a) => parseAlpha(a, "--alpha"));
  if (needOutputs && alphas.length === 0) throw new UsageError("missing --alpha (for example --alpha 0.3)");
  let outs = list(pick("out")).map(String);
  const template = pick("outTemplate");
  if (outs.length === 0 && typeof template === "string") {
    if (!template.includes("{alpha}")) throw new UsageError(`--out-template ${template}: needs {alpha}`);
    outs = alphas.map((a) => template.replaceAll("{alpha}", String(a)));
  }
  if (needOutputs && outs.length === 0) throw new UsageError("missing --out (or --out-template)");
  if (needOutputs && outs.length !== alphas.length) {
    throw new UsageError(
      `${alphas.length} --alpha value(s) but ${outs.length} --out location(s): give one --out per --alpha`,
    );
  }
  const unitSizeText = pick("unitSize");
  let unitSize = DEFAULT_UNIT_SIZE;
  if (unitSizeText !== undefined) {
    try {
      unitSize = typeof unitSizeText === "number" ? unitSizeText : parseSize(String(unitSizeText));
    } catch (e) {
      throw new UsageError(`--unit-size: ${(e as Error).message}`);
    }
  }
  if (!Number.isSafeInteger(unitSize) || unitSize < 64)
    throw new UsageError(`--unit-size ${unitSize}: must be at least 64 bytes`);
  const arith = pick("arith") ?? "fp32";
  if (arith !== "fp32" && arith !== "torch") throw new UsageError(`--arith ${String(arith)}: expected fp32 or torch`);
  const outDtype = pick("outDtype");
  if (outDtype !== undefined && outDtype !== "bf16" && outDtype !== "f16" && outDtype !== "f32")
    throw new UsageError(`--out-dtype ${String(outDtype)}: expected bf16, f16 or f32`);
  const onNonfinite = pick("onNonfinite") ?? "error";
  if (onNonfinite !== "error" && onNonfinite !== "warn")
    throw new UsageError(`--on-nonfinite ${String(onNonfinite)}: expected error or warn`);
  return {
    base,
    aligned,
    alphas,
    outs,
    arith,
    unitSize,
    include: list(pick("include")).map(String),
    exclude: list(pick("exclude")).map(String),
    drop: list(pick("drop")).map(String),
    outDtype: outDtype === undefined ? null : (outDtype.toUpperCase() as JobSpec["outDtype"]),
    alphaRules: list(pick("alphaRule")).map(parseRule),
    onNonfinite,
    overwrite: Boolean(pick("overwrite")),
  };
}

/**
 * An output's α: any finite number above −1 but 0. Negative values interpolate (γ = 1 + α in (0, 1): the
 * first-order check of the paper); −1 would write θ0 and 0 would write θ1, copies of the inputs.
 */
export function parseAlpha(value: unknown, flag: string): number {
  const n = finiteNumber(value);
  if (n === undefined) throw new UsageError(`${flag} ${String(value)}: not a finite number`);
  if (n === 0)
    throw new UsageError(`${flag} ${String(value)}: α = 0 is the aligned model θ1 itself, not an output to write`);
  if (n === -1)
    throw new UsageError(`${flag} ${String(value)}: α = −1 is the base model θ0 itself, not an output to write`);
  if (n < -1)
    throw new UsageError(
      `${flag} ${String(value)}: must be greater than −1 (−1 < α < 0 interpolates between θ0 and θ1)`,
    );
  return n;
}

function finiteNumber(value: unknown): number | undefined {
  const n =
    typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}

function parseRule(rule: unknown): AlphaRule {
  if (typeof rule === "object" && rule !== null && "pattern" in rule && "alpha" in rule) {
    const r = rule as { pattern: unknown; alpha: unknown };
    return { pattern: String(r.pattern), alpha: ruleAlpha(r.alpha, String(r.pattern)) };
  }
  const text = String(rule);
  const eq = text.lastIndexOf("=");
  if (eq <= 0) throw new UsageError(`--alpha-rule ${text}: expected 'glob=value'`);
  return { pattern: text.slice(0, eq), alpha: ruleAlpha(text.slice(eq + 1), text) };
}

/** A rule's α: as an output's (above −1), and 0 copies the tensor. */
function ruleAlpha(value: unknown, where: string): number {
  const n = finiteNumber(value);
  if (n === undefined || n <= -1) {
    throw new UsageError(`--alpha-rule ${where}: value must be a finite number > −1 (0 copies the tensor)`);
  }
  return n;
}

async function readSpecFile(path: string): Promise<Fields> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(
      `${path}: cannot read job spec (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  // Loaded only for --spec: it is a noticeable share of start-up time.
  const { parse: parseYaml } = await import("yaml");
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (e) {
    throw new UsageError(`${path}: not valid YAML/JSON (${(e as Error).message.split("\n")[0]})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new UsageError(`${path}: job spec must be a mapping`);
  checkSpecFields(parsed as Fields, path);
  const fields: Fields = {};
  for (const [k, v] of Object.entries(parsed)) fields[k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  if (fields.alphaRules !== undefined && fields.alphaRule === undefined) fields.alphaRule = fields.alphaRules;
  return fields;
}

function requireString(value: unknown, flag: string): string {
  if (typeof value !== "string" || value === "") throw new UsageError(`missing ${flag}`);
  return value;
}

function list(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}
