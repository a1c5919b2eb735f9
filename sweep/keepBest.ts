// --keep best: once the report is written, every candidate but the chosen one is deleted, each commit point
// (the index, or the single file) first so that a half-deleted candidate never looks complete. Only
// candidates are touched: the baseline is the aligned input. Nothing is deleted when any evaluation failed
// (the caller's rule: a missing score could have been the best).
import { INDEX_FILE, SINGLE_FILE } from "../checkpoint/types.js";
import type { Storage } from "../storage/types.js";
import type { Candidate } from "./sweepCandidates.js";

/** Deletes every candidate except `bestAlpha`'s (all of them when the baseline is best); returns their locations. */
export async function keepBest(
  candidates: readonly Candidate[],
  bestAlpha: number,
  open: (location: string) => Storage,
): Promise<string[]> {
  const deleted: string[] = [];
  for (const c of candidates) {
    if (c.output === undefined || c.alpha === bestAlpha) continue;
    const storage = open(c.model);
    try {
      if (!(await storage.exists())) continue;
      for (const commitPoint of [INDEX_FILE, SINGLE_FILE]) await storage.delete(commitPoint);
      for (const name of await storage.list()) await storage.delete(name);
      await storage.removeIfEmpty();
      deleted.push(c.model);
    } finally {
      await storage.close();
    }
  }
  return deleted;
}
