// Whether a candidate's location already holds the checkpoint this sweep would write: committed (its commit
// point, the index or the single file, is there) and made by the same job from the same inputs, as its
// expo-report.json records. Such a candidate is not written again; anything else committed there is foreign.
import { INDEX_FILE, SINGLE_FILE } from "../checkpoint/types.js";
import type { JobSpec } from "../core/jobSpec.js";
import type { JobPlan } from "../core/plan.js";
import { type ExpoReport, REPORT_FILE } from "../core/report.js";
import type { Storage } from "../storage/types.js";

export type CandidateState = { kind: "absent" } | { kind: "ours" } | { kind: "foreign"; why: string };

export interface CandidateExpectation {
  alpha: number;
  spec: Pick<JobSpec, "arith" | "include" | "exclude" | "alphaRules" | "onNonfinite">;
  /** Canonical input locations and the versions recorded at planning. */
  base: string;
  aligned: string;
  inputVersions: JobPlan["inputVersions"];
  /** Whether the aligned checkpoint (so every output) has an index: that is the commit point. */
  indexed: boolean;
}

export async function candidateState(out: Storage, expect: CandidateExpectation): Promise<CandidateState> {
  if (!(await out.exists())) return { kind: "absent" };
  if (!(await out.stat(expect.indexed ? INDEX_FILE : SINGLE_FILE))) return { kind: "absent" };
  if (!(await out.stat(REPORT_FILE))) return { kind: "foreign", why: `a checkpoint without ${REPORT_FILE}` };
  let report: ExpoReport;
  try {
    report = JSON.parse((await out.readSmall(REPORT_FILE)).toString("utf8")) as ExpoReport;
  } catch {
    return { kind: "foreign", why: `${REPORT_FILE} is not JSON` };
  }
  const p = report.parameters ?? {};
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const checks: Array<[string, boolean]> = [
    [`α ${p.alpha}`, p.alpha === expect.alpha],
    [`arith ${p.arith}`, p.arith === expect.spec.arith],
    [
      "other --include/--exclude/--alpha-rule",
      same([p.include, p.exclude, p.alphaRules], [expect.spec.include, expect.spec.exclude, expect.spec.alphaRules]),
    ],
    [`--on-nonfinite ${p.onNonfinite}`, p.onNonfinite === expect.spec.onNonfinite],
    [`base ${report.inputs?.base?.location}`, report.inputs?.base?.location === expect.base],
    [`aligned ${report.inputs?.aligned?.location}`, report.inputs?.aligned?.location === expect.aligned],
    ["other input versions (the inputs changed since)", sameVersions(report, expect.inputVersions)],
  ];
  const wrong = checks.find(([, ok]) => !ok);
  return wrong ? { kind: "foreign", why: `a checkpoint made with ${wrong[0]}` } : { kind: "ours" };
}

function sameVersions(report: ExpoReport, versions: JobPlan["inputVersions"]): boolean {
  const of = (files: ExpoReport["inputs"]["base"]["files"] | undefined) =>
    Object.fromEntries(
      (files ?? []).map((f) => [f.name, f.etag]).sort(([a], [b]) => String(a).localeCompare(String(b))),
    );
  const sorted = (r: Record<string, string>) =>
    Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
  return (
    JSON.stringify(of(report.inputs?.base?.files)) === JSON.stringify(sorted(versions.base)) &&
    JSON.stringify(of(report.inputs?.aligned?.files)) === JSON.stringify(sorted(versions.aligned))
  );
}
