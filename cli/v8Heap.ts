// How the CLI's processes ask V8 to manage their heap. A coordinator keeps a large, slowly growing live heap (a
// 100k-unit plan and its reports) and makes garbage in bursts (planning, a journal replay); left to its defaults,
// most of its peak RSS was garbage (docs/benchmarks.md, "Jobs of 100k units").
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * V8 lets its heap grow to up to 4x what the last full collection kept before it collects again; 1.5x keeps the
 * peak near the live heap, for a few more collections that cost no measurable time. Set at start-up by every
 * command (a worker's heap is small beside its buffers either way).
 */
export function limitHeapGrowth(): void {
  setFlagsFromString("--heap-growing-percent=50");
}

/**
 * One full collection now. Called once, when a job is planned: the checkpoints' indexes and the planner's
 * intermediate objects are garbage from then on, and the journal replay and the job should start from the live
 * heap, not on top of them (V8 would collect them only once the heap had grown past its limit).
 */
export function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}
