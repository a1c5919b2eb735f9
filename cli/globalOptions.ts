// The flags every command takes: output format, log level and how S3 is reached. Parsed into typed values
// here, at the edge; nothing below the CLI reads flags or environment variables for them.
import type { Argv } from "yargs";
import { UsageError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import { defaultPathStyle, type StorageSettings } from "../storage/s3Settings.js";
import { StorageRetry } from "../storage/storageRetry.js";
import type { ArgsOf, OptionsOf } from "./argsOf.js";
import { createLogger } from "./logger.js";
import { storageOutageLog } from "./storageOutageLog.js";

/** --storage-timeout's default: how long storage may stay unreachable before the process gives up. */
export const DEFAULT_STORAGE_TIMEOUT_S = 300;

export function globalOptions<T>(y: Argv<T>) {
  return y
    .option("json", { type: "boolean", global: true, describe: "JSON output and JSON-line logs" })
    .option("log-level", {
      choices: ["debug", "info", "warn", "error"] as const,
      global: true,
      default: "info" as const,
    })
    .option("s3-endpoint", {
      type: "string",
      global: true,
      describe: "S3-compatible endpoint URL (default: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL)",
    })
    .option("s3-path-style", { type: "boolean", global: true, describe: "path-style S3 addressing" })
    .option("s3-part-checksums", {
      type: "boolean",
      global: true,
      describe: "send SHA-256 part checksums (default on; --no-s3-part-checksums for stores that reject them)",
    })
    .option("storage-timeout", {
      type: "number",
      global: true,
      default: DEFAULT_STORAGE_TIMEOUT_S,
      describe:
        "seconds a storage operation keeps retrying an outage (connection errors, timeouts, 5xx, throttling) before the process gives up",
    });
}

/** The options every command's builder starts from. */
export type GlobalOptions = OptionsOf<typeof globalOptions<object>>;
export type GlobalArgs = ArgsOf<typeof globalOptions<object>>;

export function loggerFor(args: Pick<GlobalArgs, "json" | "logLevel">): Logger {
  return createLogger({ json: args.json, level: args.logLevel });
}

/**
 * Storage settings from the flags and the standard AWS variables; `maxSockets` sized to the units in flight.
 * Call once per process: its retry policy tracks the process's storage outages and logs them to `log`.
 */
export function storageSettings(
  args: Pick<GlobalArgs, "s3Endpoint" | "s3PathStyle" | "s3PartChecksums" | "storageTimeout">,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
  maxSockets = 64,
): StorageSettings {
  const endpoint = args.s3Endpoint || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  if (!(args.storageTimeout > 0))
    throw new UsageError(`--storage-timeout ${args.storageTimeout}: must be a number of seconds > 0`);
  return {
    retry: new StorageRetry({ timeoutMs: Math.round(args.storageTimeout * 1000), observer: storageOutageLog(log) }),
    s3: {
      ...(endpoint === undefined ? {} : { endpoint }),
      forcePathStyle: args.s3PathStyle ?? defaultPathStyle(endpoint),
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1",
      maxSockets: Math.max(8, maxSockets),
      partChecksums: args.s3PartChecksums !== false,
    },
  };
}
