// The evaluator's answer: one JSON object with a finite numeric `score` (higher is better) and optionally
// other numbers, which are kept as metrics (anything else in it is ignored). Shared by local sweeps (the
// file $EXPO_RESULT, else the last line of stdout) and Kubernetes (the object at $EXPO_RESULT in S3).
import type { Evaluation } from "../core/sweep.js";

export type ParsedResult = { ok: true; evaluation: Evaluation } | { ok: false; error: string };

export function parseEvaluatorResult(text: string, where: string): ParsedResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Python's json.dumps writes NaN and Infinity, which JSON has no words for.
    const why = /\b(NaN|Infinity)\b/.test(text) ? "a non-finite number (NaN/Infinity) is not JSON" : "not JSON";
    return { ok: false, error: `${where}: ${why} (${JSON.stringify(text.slice(0, 80))})` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return { ok: false, error: `${where}: not a JSON object` };
  const fields = value as Record<string, unknown>;
  if (typeof fields.score !== "number" || !Number.isFinite(fields.score)) {
    return {
      ok: false,
      error: `${where}: "score" is ${JSON.stringify(fields.score) ?? "missing"}, not a finite number`,
    };
  }
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(fields))
    if (k !== "score" && typeof v === "number" && Number.isFinite(v)) metrics[k] = v;
  return { ok: true, evaluation: { score: fields.score, metrics } };
}
