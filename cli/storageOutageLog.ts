// What a process says about storage outages: one warning when one starts and one when it ends (however many
// operations wait it out), and each retry at debug level.
import type { Logger } from "../core/logger.js";
import type { StorageRetryObserver } from "../storage/storageRetry.js";

export function storageOutageLog(log: Logger): StorageRetryObserver {
  return {
    outageStarted: ({ operation, where, error, timeoutMs }) =>
      log.warn(`storage unreachable, retrying for up to ${Math.round(timeoutMs / 1000)} s: ${error.message}`, {
        operation,
        where,
      }),
    retrying: ({ operation, where, error, delayMs }) =>
      log.debug("storage retry", { operation, where, delayMs: Math.round(delayMs), error: error.message }),
    outageEnded: ({ seconds, retries, recovered }) =>
      log.warn(
        recovered
          ? `storage reachable again after ${seconds.toFixed(1)} s (${retries} retries)`
          : `storage outage: gave up after ${seconds.toFixed(1)} s (${retries} retries)`,
        { seconds, retries },
      ),
  };
}
