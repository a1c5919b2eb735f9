// The job's phases and what each signal means in each: the table serveJob follows.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  canTransition,
  JobLifecycle,
  type JobPhase,
  type JobSignal,
  type SigtermPolicy,
  signalEffect,
} from "../../../coordinator/jobLifecycle.js";

const PHASES: JobPhase[] = [
  "acquiring",
  "opening",
  "serving",
  "finalizing",
  "lingering",
  "aborting",
  "suspending",
  "superseded",
  "ended",
];

describe("job lifecycle", () => {
  it("moves only forward: take the output lease, open, serve, commit, linger, end; or abort or suspend (a storage outage, even while committing) before the commit is done", () => {
    const allowed = PHASES.flatMap((from) =>
      PHASES.filter((to) => canTransition(from, to)).map((to) => `${from}→${to}`),
    );
    assert.deepEqual(allowed.sort(), [
      "aborting→ended",
      "acquiring→ended",
      "acquiring→opening",
      "finalizing→aborting",
      "finalizing→lingering",
      "finalizing→superseded",
      "finalizing→suspending",
      "lingering→ended",
      "opening→aborting",
      "opening→ended",
      "opening→serving",
      "opening→superseded",
      "opening→suspending",
      "serving→aborting",
      "serving→finalizing",
      "serving→superseded",
      "serving→suspending",
      "superseded→ended",
      "suspending→ended",
    ]);
  });

  it("says what SIGINT and SIGTERM do in every phase, for both SIGTERM policies", () => {
    const table: Record<string, string> = {};
    for (const policy of ["abort", "suspend"] as SigtermPolicy[])
      for (const signal of ["SIGINT", "SIGTERM"] as JobSignal[])
        for (const phase of PHASES) table[`${policy} ${signal} ${phase}`] = signalEffect(phase, signal, policy);
    for (const policy of ["abort", "suspend"]) {
      for (const signal of ["SIGINT", "SIGTERM"])
        assert.equal(table[`${policy} ${signal} acquiring`], "abort", "a wait for the output lease just ends");
      for (const phase of ["opening", "serving"]) {
        assert.equal(table[`${policy} SIGINT ${phase}`], "abort", "Ctrl-C aborts a running job");
        assert.equal(table[`${policy} SIGTERM ${phase}`], policy, "SIGTERM follows the policy");
      }
      for (const signal of ["SIGINT", "SIGTERM"]) {
        assert.equal(table[`${policy} ${signal} finalizing`], "ignore", "a commit is never cut in half");
        assert.equal(table[`${policy} ${signal} lingering`], "endLinger", "a committed job just stops lingering");
        for (const phase of ["aborting", "suspending", "superseded", "ended"])
          assert.equal(table[`${policy} ${signal} ${phase}`], "ignore");
      }
    }
  });

  it("refuses a transition the table does not have, and reports each one it makes", () => {
    const seen: string[] = [];
    const life = new JobLifecycle((from, to) => seen.push(`${from}→${to}`));
    life.to("opening");
    life.to("serving");
    assert.throws(() => life.to("lingering"), /no transition serving → lingering/);
    life.to("finalizing");
    life.to("lingering");
    life.to("ended");
    assert.equal(life.phase, "ended");
    assert.deepEqual(seen, [
      "acquiring→opening",
      "opening→serving",
      "serving→finalizing",
      "finalizing→lingering",
      "lingering→ended",
    ]);
  });
});
