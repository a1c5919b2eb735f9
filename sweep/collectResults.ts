// The evaluators' answers on Kubernetes: each evaluation pod writes its JSON to $EXPO_RESULT, that is
// <report>/results/alpha-<α>.json. Reads what is there; a missing answer is not (yet) an outcome.
import type { SweepFailure, SweepResult } from "../core/sweep.js";
import type { Storage } from "../storage/types.js";
import { parseEvaluatorResult } from "./parseEvaluatorResult.js";
import type { Candidate } from "./sweepCandidates.js";

/** The outcome of every candidate whose answer exists: a result, or a failure when it does not parse. */
export async function collectResults(
  results: Storage,
  candidates: readonly Candidate[],
): Promise<Map<number, SweepResult | SweepFailure>> {
  const found = new Map<number, SweepResult | SweepFailure>();
  for (const c of candidates) {
    if (!(await results.stat(c.resultName))) continue;
    const where = `${results.location}/${c.resultName}`;
    const parsed = parseEvaluatorResult((await results.readSmall(c.resultName)).toString("utf8").trim(), where);
    if (!parsed.ok) {
      found.set(c.alpha, { alpha: c.alpha, model: c.model, error: parsed.error, stderr: [] });
      continue;
    }
    const { seconds, ...metrics } = parsed.evaluation.metrics;
    found.set(c.alpha, {
      alpha: c.alpha,
      model: c.model,
      score: parsed.evaluation.score,
      // Nobody timed the pod: the evaluator's own `seconds`, if it reports one.
      metrics,
      seconds: seconds ?? null,
    });
  }
  return found;
}
