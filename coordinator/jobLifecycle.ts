// The phases of one job's coordinator and what a signal does in each. Pure: serveJob performs the work of
// every phase and asks this table whether a transition or a signal is allowed, so a SIGTERM that lands while
// the uploads are opened, while the output is committed or while the coordinator lingers has one defined
// meaning instead of a closure flag's.
//
//   acquiring ──▶ opening ──▶ serving ──▶ finalizing ──▶ lingering ──▶ ended (exit 0, output lease released)
//      │             │           │            │
//      │             │           ├────────────┴──▶ aborting ──▶ ended (exit 1: uploads aborted, journal removed)
//      │             └───────────┴────────────┴──▶ suspending ──▶ ended (exit 1: journal and uploads kept for a restart)
//      │             └───────────┴────────────┴──▶ superseded ──▶ ended (exit 1: nothing touched, lease not ours)
//      └──▶ ended (exit 2 with --no-wait, or stopped by a signal while waiting: nothing written)
//   opening ──▶ ended: refused before writing (exit 2), or the job found complete already (exit 0)
//
// Acquiring: taking the output lease (coordinator/outputLease.ts), waiting while another coordinator holds it.
// Suspending: SIGTERM to a coordinator (opening, serving), or storage unreachable for longer than
// --storage-timeout (any of the three: nothing can be aborted or removed then, and a rerun resumes).
// Superseded: a fencing check found the lease taken over by another coordinator, which now owns the output,
// its uploads and its journal.

export type JobPhase =
  | "acquiring"
  | "opening"
  | "serving"
  | "finalizing"
  | "lingering"
  | "aborting"
  | "suspending"
  | "superseded"
  | "ended";

export type JobSignal = "SIGINT" | "SIGTERM";

/** SIGTERM: "abort" the job (local runs), or "suspend" it (pod eviction): stop serving, keep journal and uploads. */
export type SigtermPolicy = "abort" | "suspend";

/** What a signal asks for in a phase. */
export type SignalEffect = "abort" | "suspend" | "endLinger" | "ignore";

const TRANSITIONS: Readonly<Record<JobPhase, readonly JobPhase[]>> = {
  acquiring: ["opening", "ended"],
  // Ended from opening: refused (a committed output, another job's journal), or found complete; nothing written.
  opening: ["serving", "aborting", "suspending", "superseded", "ended"],
  serving: ["finalizing", "aborting", "suspending", "superseded"],
  // A failed commit aborts (a storage outage suspends); a signal does not interrupt it (half a commit is worse
  // than either outcome).
  finalizing: ["lingering", "aborting", "suspending", "superseded"],
  lingering: ["ended"],
  aborting: ["ended"],
  suspending: ["ended"],
  superseded: ["ended"],
  ended: [],
};

export function canTransition(from: JobPhase, to: JobPhase): boolean {
  return TRANSITIONS[from].includes(to);
}

export function signalEffect(phase: JobPhase, signal: JobSignal, sigterm: SigtermPolicy): SignalEffect {
  switch (phase) {
    // Nothing is written yet: either signal just ends the wait.
    case "acquiring":
      return "abort";
    case "opening":
    case "serving":
      return signal === "SIGTERM" ? sigterm : "abort";
    case "lingering":
      return "endLinger";
    default:
      return "ignore";
  }
}

/** The current phase, moved only along the table above. */
export class JobLifecycle {
  private current: JobPhase = "acquiring";

  constructor(private readonly onChange: (from: JobPhase, to: JobPhase) => void = () => {}) {}

  get phase(): JobPhase {
    return this.current;
  }

  to(next: JobPhase): void {
    if (!canTransition(this.current, next)) throw new Error(`job lifecycle: no transition ${this.current} → ${next}`);
    const from = this.current;
    this.current = next;
    this.onChange(from, next);
  }
}
