// Lease flags shared by `run`, `coordinator` and `sweep`: the units' leases to workers, and the output's lease
// that keeps a second coordinator of a job off the output.
import type { Argv } from "yargs";
import { DEFAULT_OUTPUT_LEASE_TTL_MS } from "../coordinator/outputLease.js";
import { UsageError } from "../core/errors.js";
import type { ArgsOf } from "./argsOf.js";

export function leaseOptions<T>(y: Argv<T>) {
  return y
    .option("max-attempts", {
      type: "number",
      default: 3,
      describe: "attempts per unit before the job fails with that unit's error",
    })
    .option("lease-ttl", {
      type: "number",
      default: 60,
      describe: "seconds a lease lasts without a heartbeat before the unit is leased again",
    })
    .option("output-lease-ttl", {
      type: "number",
      default: DEFAULT_OUTPUT_LEASE_TTL_MS / 1000,
      describe:
        "seconds the output's lease outlives its coordinator: a coordinator killed with -9 is replaced after this",
    })
    .option("wait", {
      type: "boolean",
      default: true,
      describe: "wait while another coordinator holds the output's lease (--no-wait: exit 2 at once, naming it)",
    })
    .option("journal", {
      type: "string",
      describe: "folder or s3:// prefix of the resume journal (default: <first --out>/.expo)",
    });
}

export type LeaseArgs = ArgsOf<typeof leaseOptions<object>>;

export interface LeaseSettings {
  maxAttempts: number;
  leaseTtlMs: number;
  /** The output lease: its TTL, and whether to wait for another coordinator's (coordinator/outputLease.ts). */
  outputLease: { ttlMs: number; wait: boolean };
  journal?: string;
}

export function leaseSettings(
  args: Pick<LeaseArgs, "maxAttempts" | "leaseTtl" | "outputLeaseTtl" | "wait" | "journal">,
): LeaseSettings {
  if (!Number.isInteger(args.maxAttempts) || args.maxAttempts < 1)
    throw new UsageError(`--max-attempts ${args.maxAttempts}: must be a whole number >= 1`);
  if (!(args.leaseTtl > 0)) throw new UsageError(`--lease-ttl ${args.leaseTtl}: must be a number of seconds > 0`);
  if (!(args.outputLeaseTtl > 0))
    throw new UsageError(`--output-lease-ttl ${args.outputLeaseTtl}: must be a number of seconds > 0`);
  return {
    maxAttempts: args.maxAttempts,
    leaseTtlMs: Math.round(args.leaseTtl * 1000),
    outputLease: { ttlMs: Math.round(args.outputLeaseTtl * 1000), wait: args.wait },
    ...(args.journal === undefined ? {} : { journal: args.journal }),
  };
}
