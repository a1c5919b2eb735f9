// Which storage failures an outage explains, so that waiting and trying again can help: the connection
// (refused, reset, cut mid-body, DNS, timeouts) and the server's own trouble (5xx, throttling). Everything
// else is an answer about the request or the data (403, 404, 412, a bad digest, a full disk) and is final.
import { ObjectChangedError, PermanentUnitError, UsageError } from "../core/errors.js";

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENETRESET",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/** Error names S3 and its SDK give throttling, timeouts and server trouble (whatever the HTTP status says). */
const TRANSIENT_NAMES = new Set([
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "BandwidthLimitExceeded",
  "ProvisionedThroughputExceededException",
  "InternalError",
  "ServiceUnavailable",
  "XMinioServerNotInitialized",
]);

interface ErrorShape {
  code?: unknown;
  name?: unknown;
  errorName?: unknown;
  status?: unknown;
  stream?: unknown;
  cause?: unknown;
  $metadata?: { httpStatusCode?: number };
}

export function isRetryable(e: unknown): boolean {
  if (e instanceof UsageError || e instanceof ObjectChangedError || e instanceof PermanentUnitError) return false;
  if (typeof e !== "object" || e === null) return false;
  const err = e as ErrorShape;
  // A body that broke after the response started (storage/s3Storage.ts marks short reads).
  if (err.stream === true) return true;
  if (typeof err.code === "string" && NETWORK_CODES.has(err.code)) return true;
  for (const name of [err.errorName, err.name]) if (typeof name === "string" && TRANSIENT_NAMES.has(name)) return true;
  const status = typeof err.status === "number" ? err.status : err.$metadata?.httpStatusCode;
  // 501 and 505 say the server will never do it.
  if (typeof status === "number")
    return (status >= 500 && status !== 501 && status !== 505) || status === 429 || status === 408;
  return err.cause !== undefined && err.cause !== e && isRetryable(err.cause);
}
