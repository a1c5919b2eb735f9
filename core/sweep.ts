// sweep.json, the α search's report: the aligned model's score (α = 0, the baseline), every candidate's, the
// best of them, and the evaluations that failed. Written by `llm-expo sweep` and `llm-expo sweep-report`.

export const SWEEP_REPORT_FILE = "sweep.json";
export const SWEEP_PLOT_FILE = "sweep.svg";

/** What an evaluator reports: `score` (higher is better) and any other numbers it measured. */
export interface Evaluation {
  score: number;
  metrics: Record<string, number>;
}

/** One scored model: a candidate, or the baseline (α = 0). */
export interface SweepResult extends Evaluation {
  alpha: number;
  model: string;
  /** Wall time of the evaluation that produced the score (null: not measured, e.g. on Kubernetes without `seconds`). */
  seconds: number | null;
}

export interface SweepFailure {
  alpha: number;
  model: string;
  error: string;
  /** The last lines the evaluator wrote to stderr (empty where nobody saw them, e.g. on Kubernetes). */
  stderr: string[];
}

export interface SweepReport {
  /** The aligned model itself; score null when its evaluation failed. */
  baseline: { alpha: 0; model: string; score: number | null };
  /** Candidates with a score, by α. */
  results: Array<{
    alpha: number;
    model: string;
    score: number;
    metrics: Record<string, number>;
    seconds: number | null;
  }>;
  /** The highest score (ties: the baseline, then the smallest |α|); null when nothing has a score. */
  best: { alpha: number; model: string; score: number } | null;
  failed: SweepFailure[];
  /** One sentence: what was chosen and by how much it beat the aligned model, or that extrapolation did not help. */
  conclusion: string;
}
