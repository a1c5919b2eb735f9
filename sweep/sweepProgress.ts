// Where each evaluation of a sweep stands, and what it scored: what the sweep's metrics show at every scrape.
import type { SweepFailure, SweepResult } from "../core/sweep.js";
import type { Candidate } from "./sweepCandidates.js";

export type EvaluationState = "pending" | "running" | "done" | "failed";

export class SweepProgress {
  private readonly states = new Map<number, EvaluationState>();
  private readonly results = new Map<number, SweepResult>();
  /** The chosen α, once the report is written. */
  best?: number;

  constructor(candidates: readonly Candidate[]) {
    for (const c of candidates) this.states.set(c.alpha, "pending");
  }

  running(alpha: number): void {
    this.states.set(alpha, "running");
  }

  done(result: SweepResult): void {
    this.states.set(result.alpha, "done");
    this.results.set(result.alpha, result);
  }

  failed(failure: SweepFailure): void {
    this.states.set(failure.alpha, "failed");
  }

  counts(): Record<EvaluationState, number> {
    const counts = { pending: 0, running: 0, done: 0, failed: 0 };
    for (const s of this.states.values()) counts[s]++;
    return counts;
  }

  scored(): SweepResult[] {
    return [...this.results.values()].sort((a, b) => a.alpha - b.alpha);
  }
}
