// Asks `check` every pollMs until it answers something other than undefined, or the time is up (undefined
// then). For the Kubernetes side of a sweep, whose Jobs learn from the storage what the others have done.
import { setTimeout as sleep } from "node:timers/promises";

export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  options: { timeoutMs: number; pollMs: number; signal?: AbortSignal },
): Promise<T | undefined> {
  const end = Date.now() + options.timeoutMs;
  for (;;) {
    const answer = await check();
    if (answer !== undefined) return answer;
    if (Date.now() >= end || options.signal?.aborted) return undefined;
    await sleep(Math.min(options.pollMs, Math.max(0, end - Date.now())), undefined, {
      ...(options.signal ? { signal: options.signal } : {}),
    }).catch(() => undefined);
  }
}
