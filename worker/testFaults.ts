// Test-only fault switches, read from LLM_EXPO_TEST_FAULTS by `llm-expo worker` (never set in
// production): "delay-ms=N" holds every unit N ms between fetch and compute, so a test can kill or
// pause a worker while it holds a lease; "fail-unit=ID" makes unit ID fail on every attempt with a
// retryable error, so a test can watch --max-attempts end the job. Documented in docs/architecture.md.
import { setTimeout as sleep } from "node:timers/promises";
import { UsageError } from "../checkpoint/errors.js";
import type { WorkUnit } from "../coordinator/plan.js";

export interface TestFaults {
  beforeCompute(unit: WorkUnit): Promise<void>;
}

export function parseTestFaults(text: string | undefined): TestFaults | undefined {
  if (!text) return undefined;
  let delayMs = 0;
  let failUnit: number | undefined;
  for (const item of text.split(",")) {
    const [key, value] = item.split("=");
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`LLM_EXPO_TEST_FAULTS: ${item}: expected key=number`);
    if (key === "delay-ms") delayMs = n;
    else if (key === "fail-unit") failUnit = n;
    else throw new UsageError(`LLM_EXPO_TEST_FAULTS: unknown switch ${key}`);
  }
  return {
    async beforeCompute(unit) {
      if (delayMs > 0) await sleep(delayMs);
      if (unit.id === failUnit) throw new Error(`unit ${unit.id}: injected fault (LLM_EXPO_TEST_FAULTS fail-unit)`);
    },
  };
}
