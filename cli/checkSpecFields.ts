// Checks a parsed --spec file against JOB_SPEC_SCHEMA: every key must be a property of the schema (else
// the nearest valid key is suggested) and every value must have the schema's type. The keywords the
// schema uses are interpreted here: type, enum, minLength, pattern, minimum, exclusiveMinimum, minItems,
// items, and for objects properties, required and additionalProperties: false.
import { UsageError } from "../core/errors.js";
import { JOB_SPEC_SCHEMA } from "./jobSpecSchema.js";

interface Schema {
  type?: string | readonly string[];
  enum?: readonly unknown[];
  minLength?: number;
  pattern?: string;
  minimum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  items?: Schema;
  properties?: Readonly<Record<string, Schema>>;
  required?: readonly string[];
  additionalProperties?: boolean;
}

export function checkSpecFields(fields: Record<string, unknown>, file: string): void {
  const properties = JOB_SPEC_SCHEMA.properties as Readonly<Record<string, Schema>>;
  for (const [key, value] of Object.entries(fields)) {
    const schema = properties[key];
    if (!schema) {
      const near = nearestKey(key, Object.keys(properties));
      throw new UsageError(`${file}: ${key}: unknown key${near ? `; did you mean ${near}?` : ""}`);
    }
    const problem = check(value, schema);
    if (problem) throw new UsageError(`${file}: ${key}: ${problem}`);
  }
}

/** What is wrong with value under schema, or undefined. */
function check(value: unknown, schema: Schema): string | undefined {
  if (schema.enum && !schema.enum.includes(value)) {
    return `expected one of ${schema.enum.join(", ")} (got ${JSON.stringify(value)})`;
  }
  if (schema.type) {
    const types = typeof schema.type === "string" ? [schema.type] : schema.type;
    const kind = typeOf(value);
    if (!types.some((t) => t === kind || (t === "number" && kind === "integer"))) {
      return `expected ${types.map((t) => (t === "array" ? "a list" : `a ${t === "integer" ? "whole number" : t}`)).join(" or ")} (got ${JSON.stringify(value)})`;
    }
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength) return "must not be empty";
    if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value))
      return `${JSON.stringify(value)} does not match ${schema.pattern}`;
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) return `${value} is below ${schema.minimum}`;
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum)
      return `${value} must be greater than ${schema.exclusiveMinimum}`;
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) return "must not be an empty list";
    for (const [i, item] of value.entries()) {
      const p = schema.items && check(item, schema.items);
      if (p) return `item ${i + 1}: ${p}`;
    }
  }
  if (typeOf(value) === "object" && schema.properties) {
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in obj)) return `missing ${key}`;
    for (const [key, v] of Object.entries(obj)) {
      const sub = schema.properties[key];
      if (!sub) {
        if (schema.additionalProperties === false) return `unknown key ${key}`;
        continue;
      }
      const p = check(v, sub);
      if (p) return `${key}: ${p}`;
    }
  }
  return undefined;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/** The valid key closest to `key` (case, '-' and '_' ignored), when it is close enough to be a typo. */
function nearestKey(key: string, keys: readonly string[]): string | undefined {
  const norm = (k: string) => k.toLowerCase().replace(/[-_]/g, "");
  const want = norm(key);
  let best: { key: string; d: number } | undefined;
  for (const k of keys) {
    if (k.includes("-")) continue; // suggest the camelCase spelling
    const d = distance(want, norm(k));
    if (!best || d < best.d) best = { key: k, d };
  }
  return best && best.d <= Math.max(2, Math.floor(want.length / 3)) ? best.key : undefined;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] as number;
}
