// Faults a test injects into a worker process (`llm-expo worker --inject-faults SPEC`, a hidden flag the worker
// announces loudly at start): "delay-ms=N" holds every unit N ms between fetch and compute, so a test can kill
// or pause a worker while it holds a lease; "fail-unit=ID" fails unit ID on every attempt with a retryable
// error, so a test can watch --max-attempts end the job. Never meant for production.
import { setTimeout as sleep } from "node:timers/promises";
import { UsageError } from "../core/errors.js";
import type { UnitHooks } from "../engine/executeUnit.js";

export interface FaultSpec {
  delayMs: number;
  failUnit?: number;
}

export function parseFaultSpec(text: string): FaultSpec {
  const spec: FaultSpec = { delayMs: 0 };
  for (const item of text.split(",")) {
    const [key, value] = item.split("=");
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--inject-faults ${item}: expected key=number`);
    if (key === "delay-ms") spec.delayMs = n;
    else if (key === "fail-unit") spec.failUnit = n;
    else throw new UsageError(`--inject-faults: unknown fault ${key} (delay-ms, fail-unit)`);
  }
  return spec;
}

export function faultHooks(spec: FaultSpec): UnitHooks {
  return {
    async beforeCompute(unit) {
      if (spec.delayMs > 0) await sleep(spec.delayMs);
      if (unit.id === spec.failUnit) throw new Error(`unit ${unit.id}: injected fault (--inject-faults fail-unit)`);
    },
  };
}
