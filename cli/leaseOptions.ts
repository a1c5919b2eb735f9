// Lease-protocol flags shared by `run` and `coordinator`.
import type { Argv } from "yargs";
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
    .option("journal", {
      type: "string",
      describe: "folder or s3:// prefix of the resume journal (default: <first --out>/.expo)",
    });
}

export type LeaseArgs = ArgsOf<typeof leaseOptions<object>>;

export interface LeaseSettings {
  maxAttempts: number;
  leaseTtlMs: number;
  journal?: string;
}

export function leaseSettings(args: Pick<LeaseArgs, "maxAttempts" | "leaseTtl" | "journal">): LeaseSettings {
  if (!Number.isInteger(args.maxAttempts) || args.maxAttempts < 1)
    throw new UsageError(`--max-attempts ${args.maxAttempts}: must be a whole number >= 1`);
  if (!(args.leaseTtl > 0)) throw new UsageError(`--lease-ttl ${args.leaseTtl}: must be a number of seconds > 0`);
  return {
    maxAttempts: args.maxAttempts,
    leaseTtlMs: Math.round(args.leaseTtl * 1000),
    ...(args.journal === undefined ? {} : { journal: args.journal }),
  };
}
